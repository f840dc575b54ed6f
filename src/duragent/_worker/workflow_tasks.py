"""Processing workflow tasks: bring the run up to date (from the cache or by replaying its
history), validate waiting updates, run a live activation, record the commands.

Processing is synchronous and CPU-bound: workflow code never waits on I/O, and the store
calls are short transactions. A worker therefore processes its workflow tasks one at a time
and scales out with more processes.

Workflow code never runs inside a write transaction (another process would wait for it).
Each task goes through three steps: :meth:`~WorkflowTaskProcessor.prepare` runs the code
(and encodes large payloads), :meth:`~WorkflowTaskProcessor.record` writes the outcome (in
a transaction of its own, or together with other tasks' in one batch), and
:meth:`~WorkflowTaskProcessor.finish` updates the cache once the write is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .._backend.worker_store import WorkerStore
from .._clock import Clock
from .._definitions import WorkflowDefinition
from .._engine.completion import TaskCompletion, UpdateRequest
from .._engine.events import ActivityTaskCompleted, Event, WorkflowTaskCompleted
from .._engine.failure import Failure, FailureKind, failure_from_exception
from .._engine.instance import WorkflowInstance
from .._engine.replay import ActivationFailedError, StaleRunError, WorkflowRun
from ..errors import NondeterminismError, QueryError, StoreError, UpdateRejectedError
from ..interceptor import Interceptor
from ..serde import DataConverter, Payload
from ..store._stream_rows import StreamRow
from ..store._tx import EncodedPayload
from ..store.base import (
    ActivityTask,
    CompletionOutcome,
    QueryTask,
    WorkflowTask,
)
from .attempt_log import error_extra
from .cache import RunCache
from .eager import EagerHandoff
from .faults import armed, crash_point
from .local_activities import HeldTask, LocalActivities

log = logging.getLogger("duragent.worker")


@dataclass(slots=True)
class PreparedTask:
    """A workflow task whose code has run, and what is to be recorded for it."""

    task: WorkflowTask
    run: WorkflowRun | None = None
    completion: TaskCompletion | None = None
    """The commands to record (None: the task failed or is handed back)."""
    ahead: dict[int, EncodedPayload] | None = None
    failure: BaseException | None = None
    """Record a task failure (nondeterminism, a bug in workflow code)."""
    release: bool = False
    """Hand the task back (the store could not be read)."""
    outcome: CompletionOutcome | None = None
    recorded: bool = False
    """Whether the write succeeded (the task is still ours to retry when not)."""
    held: bool = False
    """Handed to its local activities: recorded when they are done (nothing to write)."""
    to_hold: tuple[TaskCompletion, list[tuple[str, Failure]]] | None = None
    """A speculative task's activation asked for local activities: hold the task with
    this activation (and these rejected updates) once it is claimed as predicted."""


class WorkflowTaskProcessor:
    """Turns claimed workflow tasks into recorded commands."""

    def __init__(
        self,
        *,
        store: WorkerStore,
        converter: DataConverter,
        clock: Clock,
        worker_id: str,
        definitions: dict[str, WorkflowDefinition],
        cache: RunCache,
        handoff: EagerHandoff,
        continue_as_new_threshold: int,
        run_state_defaults: Mapping[str, Any] | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.store = store
        self.converter = converter
        self.clock = clock
        self.worker_id = worker_id
        self.definitions = definitions
        self.cache = cache
        self.handoff = handoff
        """Claims the activities a completion schedules, and starts them (see eager.py)."""
        self.continue_as_new_threshold = continue_as_new_threshold
        self.run_state_defaults = run_state_defaults or {}
        self.interceptors = tuple(interceptors)
        """Wrap every run's entry points and calls (duragent.interceptor)."""
        self.replays = 0
        self.tasks_processed = 0
        self.local: LocalActivities | None = None
        """Runs local activities while their workflow task is held (set by the worker)."""

    def process(self, task: WorkflowTask | None) -> None:
        """Process ``task`` and any follow-up task the store hands straight back, each
        recorded in a transaction of its own."""
        while task is not None:
            prepared = self.prepare(task)
            self.record(prepared)
            task = self.finish(prepared)

    def answer_query(self, query: QueryTask) -> None:
        """Answer a query from current state: the cached run, brought up to date with
        history (replaying recorded tasks only; pending input is not processed)."""
        result: Payload | None = None
        error: str | None = None
        run: WorkflowRun | None = None
        try:
            run = self._catch_up(query)
            result = run.instance.query(query.name, query.input, query_id=str(query.query_id))
            if run.closed or run.instance.closed:
                self._discard(query.run_id, run)
            else:
                self.cache.put(query.run_id, run)
        except QueryError as err:
            # The handler may have changed state: rebuild from history next time.
            self._discard(query.run_id, run)
            error = str(err)
        except (NondeterminismError, ActivationFailedError, StaleRunError) as err:
            self._discard(query.run_id, run)
            error = f"the workflow cannot be replayed to answer the query: {err}"
        except Exception as err:
            self._discard(query.run_id, run)
            error = f"{type(err).__name__}: {err}"
        try:
            self.store.answer_query(query.query_id, result, error, self.clock.now_ms())
        except StoreError:
            log.exception("could not record the answer to query %s", query.query_id)

    def _new_run(self, task: WorkflowTask | QueryTask) -> WorkflowRun:
        definition = self.definitions[task.workflow_type]
        instance = WorkflowInstance(
            definition,
            run_id=task.run_id,
            converter=self.converter,
            continue_as_new_threshold=self.continue_as_new_threshold,
            run_state=self.run_state_defaults,
            interceptors=self.interceptors,
        )
        return WorkflowRun(instance)

    def _catch_up(self, task: WorkflowTask | QueryTask) -> WorkflowRun:
        run = self.cache.get(task.run_id)
        if run is not None:
            try:
                new = task.new_events if isinstance(task, WorkflowTask) else ()
                if new and new[0].event_id == run.last_event_id + 1:
                    run.feed(new)  # just appended by the claim: no need to read it back
                else:
                    run.feed(self.store.read_history(task.run_id, after=run.last_event_id))
                return run
            except StaleRunError:
                self.cache.evict(task.run_id)
        run = self._new_run(task)
        try:
            events = self.store.read_history(task.run_id)
            self.replays += 1
            cut = _mid_replay_cut(events) if armed("mid_replay") else None
            if cut is not None:
                run.feed(events[:cut])
                crash_point("mid_replay")
                run.feed(events[cut:])
            else:
                run.feed(events)
        except BaseException:
            # Never cached: tear it down now, or the garbage collector would close its
            # coroutines (running workflow code) at an arbitrary later point.
            run.instance.dispose()
            raise
        return run

    def prepare(self, task: WorkflowTask, *, speculative: bool = False) -> PreparedTask:
        """Run the workflow code of ``task`` (no transaction is open): what to record.
        ``speculative``: the task is predicted, not claimed (its local activities, if it
        asks for some, cannot be held for it)."""
        self.tasks_processed += 1
        prepared = PreparedTask(task)
        run: WorkflowRun | None = None
        try:
            run = self._catch_up(task)
            accepted: list[UpdateRequest] = []
            rejected: list[tuple[str, Failure]] = []
            if task.updates:
                run.construct_pending()
            for update in task.updates:
                try:
                    run.instance.validate_update(
                        update.name, update.input, update_id=update.update_id
                    )
                    accepted.append(update)
                except UpdateRejectedError as err:
                    rejected.append((update.update_id, failure_from_exception(err, self.converter)))
            live = run.activate(self.clock.now_ms(), accepted)
        except (NondeterminismError, ActivationFailedError, StaleRunError) as err:
            self._discard(task.run_id, run)
            prepared.failure = err.cause if isinstance(err, ActivationFailedError) else err
            return prepared
        except StoreError:
            self._discard(task.run_id, run)
            log.exception("store error while processing workflow task of run %s", task.run_id)
            prepared.release = True
            return prepared
        except Exception as err:  # decoding errors and other bugs: retried like a task failure
            self._discard(task.run_id, run)
            prepared.failure = err
            return prepared
        if live is not None and live.failure is not None:
            self._discard(task.run_id, run)
            prepared.failure = live.failure
            return prepared
        if (
            live is not None
            and live.local_activities
            and not run.instance.closed
            and self.local is not None
        ):
            if speculative:
                # Not our task yet (see record_activity_result): it is held once claimed.
                prepared.run = run
                prepared.to_hold = (live, rejected)
                return prepared
            # Recorded once they are done: the task stays ours meanwhile.
            self.cache.take(task.run_id)
            self.local.hold(task, run, live, rejected)
            prepared.held = True
            prepared.recorded = True  # nothing to write now
            return prepared
        return self._completed(prepared, run, live, rejected)

    def finish_local(self, held: HeldTask, live: TaskCompletion) -> None:
        """A held task's local activities are done: record it (and go on with the task
        the store hands back, if input arrived meanwhile)."""
        prepared = self._completed(PreparedTask(held.task), held.run, live, held.rejected)
        self.record(prepared)
        if not prepared.recorded:
            self.abandon(prepared)  # retried from history once its lease expires
            return
        self.process(self.finish(prepared))

    def fail_local(self, held: HeldTask, err: BaseException) -> None:
        """The code failed while taking local activity outcomes: a task failure."""
        self._discard(held.task.run_id, held.run)
        self._fail(held.task, err.cause if isinstance(err, ActivationFailedError) else err)

    def _completed(
        self,
        prepared: PreparedTask,
        run: WorkflowRun,
        live: TaskCompletion | None,
        rejected: list[tuple[str, Failure]],
    ) -> PreparedTask:
        """The commands to record for a task whose code has run (their large payloads
        encoded now, before any transaction)."""
        if live is None:  # only updates, all rejected
            completion = TaskCompletion(
                processed_through=0,
                time=self.clock.now_ms(),
                commands=(),
                rejected_updates=rejected,
            )
        elif rejected:
            completion = replace(live, rejected_updates=rejected)
        else:
            completion = live
        prepared.run = run
        prepared.completion = completion
        prepared.ahead = self.store.encode_ahead(completion.commands)
        crash_point("workflow_task_complete")
        return prepared

    def record(self, prepared: PreparedTask) -> None:
        """Write ``prepared``'s outcome (joining the open batch, if any); sets
        ``prepared.recorded`` when it was written."""
        task = prepared.task
        if prepared.held:
            return
        if prepared.failure is not None:
            prepared.recorded = self._fail(task, prepared.failure)
            return
        if prepared.release:
            prepared.recorded = self._release(task)
            return
        completion = prepared.completion
        if completion is None:
            return
        handoff = self.handoff
        try:
            outcome = self.store.complete_workflow_task(
                task,
                completion,
                self.clock.now_ms(),
                worker_id=self.worker_id,
                keep=True,
                eager_activity_types=handoff.activity_types,
                eager_queue=handoff.queue,
                eager_slots=handoff.slots(),
                ahead=prepared.ahead,
            )
        except StoreError as err:
            log.warning("could not record the workflow task of run %s: %s", task.run_id, err)
            return
        handoff.reserve(outcome.eager_activities)
        prepared.outcome = outcome
        prepared.recorded = True

    def finish(self, prepared: PreparedTask) -> WorkflowTask | None:
        """After the commit: confirm the run in the cache, start the activities claimed
        with it; returns the follow-up task the store handed back, if any."""
        task, run, outcome = prepared.task, prepared.run, prepared.outcome
        if run is None:
            return None
        if outcome is None or outcome.lost:
            self._discard(task.run_id, run)
            return None
        if run.closed or run.instance.closed:
            self._discard(task.run_id, run)
        else:
            recorded = outcome.recorded
            if recorded and recorded[0].event_id == run.last_event_id + 1:
                # Nothing else arrived in between: confirm from memory, not a read back.
                try:
                    run.feed(recorded)
                except StaleRunError:
                    self._discard(task.run_id, run)
                    run = None
            if run is not None:
                self.cache.put(task.run_id, run)
        self.handoff.start(outcome.eager_activities)
        return outcome.continue_task

    def abandon(self, prepared: PreparedTask) -> None:
        """The transaction holding ``prepared``'s write was not committed: forget what
        the run computed (it is rebuilt from history when the task is retried)."""
        if prepared.held:
            return  # its local activities hold it; it wrote nothing in that transaction
        prepared.recorded = False
        if prepared.outcome is not None:
            self.handoff.unreserve(prepared.outcome.eager_activities)
            prepared.outcome = None
        self._discard(prepared.task.run_id, prepared.run)
        prepared.run = None

    def record_activity_result(
        self,
        task: ActivityTask,
        result: Payload,
        now: int,
        claim_for: tuple[str, str, Sequence[str]] | None,
        stream_tail: Sequence[StreamRow] | None = None,
    ) -> None:
        """Record an activity's result (and the tail of its stream, if it streamed) and
        the workflow task it triggers.

        When the run is cached here, both commit in one transaction, yet the workflow code
        runs before it: the result's event is predicted (the next event id of the cached
        run), the run is activated on it, and the transaction checks the prediction. When
        it does not hold (something else reached the run meanwhile), the result is
        committed alone and the workflow task processed after, from history.
        """
        store = self.store
        ahead = store.encode_ahead((result,))
        prepared: PreparedTask | None = None
        to_hold: PreparedTask | None = None
        cached = self.cache.get(task.run_id) if claim_for is not None else None
        if cached is not None and claim_for is not None and not cached.has_pending_input:
            predicted = ActivityTaskCompleted(
                event_id=cached.last_event_id + 1,
                time=now,
                seq=task.seq,
                result=result,
                attempt=task.attempt,
                started_time=task.started_time,
                worker=self.worker_id,
            )
            speculative = WorkflowTask(
                task_id=-1,
                lease=-1,
                run_id=task.run_id,
                workflow_id=task.workflow_id,
                workflow_type=task.workflow_type,
                task_queue=claim_for[1],
                attempt=0,
                new_events=(predicted,),
            )
            prepared = self.prepare(speculative, speculative=True)
            if prepared.to_hold is not None:
                to_hold, prepared = prepared, None
            elif prepared.completion is None:
                prepared = None  # the code failed: record the result alone, then retry
        claimed: WorkflowTask | None = None
        try:
            with store.batch(now):
                claimed = store.complete_activity_task(
                    task,
                    result,
                    now,
                    worker=self.worker_id,
                    claim_for=claim_for,
                    stream_tail=stream_tail,
                    ahead=ahead,
                    # Recorded right below, the task's row would be inserted and deleted.
                    defer_claim=prepared is not None,
                )
                if prepared is not None and _as_predicted(claimed, prepared.task):
                    assert claimed is not None
                    prepared.task = claimed
                    self.record(prepared)
                if claimed is not None:
                    # Not recorded (or its write failed): the claimed task gets its row.
                    claimed = store.settle_claim(claimed, now)
        except BaseException:
            if prepared is not None:
                self.abandon(prepared)
            if to_hold is not None:
                self._discard(task.run_id, to_hold.run)
            raise
        if prepared is not None and prepared.task is claimed and prepared.recorded:
            self.process(self.finish(prepared))
            return
        if to_hold is not None:
            if self._hold_as_predicted(to_hold, claimed):
                return
            self._discard(task.run_id, to_hold.run)
        if prepared is not None:
            self.abandon(prepared)  # the run saw a result history does not hold (yet)
        self.process(claimed)

    def _hold_as_predicted(self, prepared: PreparedTask, claimed: WorkflowTask | None) -> bool:
        """Hand the task claimed with an activity's result to its local activities, with
        the activation the cached run already made for it (instead of replaying the run
        from history): only when it is exactly the predicted task."""
        assert prepared.to_hold is not None
        assert prepared.run is not None
        if self.local is None or not _as_predicted(claimed, prepared.task):
            return False
        assert claimed is not None
        live, rejected = prepared.to_hold
        self.cache.take(claimed.run_id)
        self.local.hold(claimed, prepared.run, live, rejected)
        return True

    def _discard(self, run_id: str, run: WorkflowRun | None) -> None:
        """Forget ``run``: out of the cache, and torn down even if it never was cached."""
        self.cache.evict(run_id)
        if run is not None:
            run.instance.dispose()

    def _fail(self, task: WorkflowTask, err: BaseException) -> bool:
        """The task failed (nondeterminism, a bug in workflow code): keep the run open and
        retry the task later, recording why for ``describe`` and ``duragent show``."""
        failure = failure_from_exception(err, self.converter)
        if isinstance(err, NondeterminismError):
            failure = Failure(
                message=str(err),
                kind=FailureKind.APPLICATION,
                type="NondeterminismError",
                stack_trace=failure.stack_trace,
            )
        log.warning(
            "Failed workflow task of %s %s (run %s), attempt %d; the run stays open and the "
            "task is retried: %s",
            task.workflow_type,
            task.workflow_id,
            task.run_id,
            task.attempt + 1,
            failure.describe(),
            exc_info=err if err.__traceback__ is not None else None,
            extra=error_extra("WorkflowTaskFailure"),
        )
        try:
            self.store.fail_workflow_task(task, failure, self.clock.now_ms())
        except StoreError as store_err:
            log.warning(
                "could not record the workflow task failure of run %s: %s", task.run_id, store_err
            )
            return False
        return True

    def _release(self, task: WorkflowTask) -> bool:
        try:
            self.store.release_workflow_task(task, self.clock.now_ms())
        except StoreError:
            return False
        return True


def _as_predicted(claimed: WorkflowTask | None, speculative: WorkflowTask) -> bool:
    """Whether the task claimed with an activity's result is exactly the one the cached
    run was activated for: created for that result alone (its event has the predicted id),
    with no update waiting and no earlier failed attempt."""
    if claimed is None or claimed.updates or claimed.attempt:
        return False
    got, expected = claimed.new_events, speculative.new_events
    return len(got) == 1 and got[0].event_id == expected[0].event_id


def _mid_replay_cut(events: Sequence[Event]) -> int | None:
    """Where the ``mid_replay`` crash point splits a replay: just before the middle-most
    ``WorkflowTaskCompleted``, so the first part is a history the run could really have had
    (a completed task is always followed by its commands in the same commit)."""
    marks = [i for i, e in enumerate(events) if isinstance(e, WorkflowTaskCompleted) and i > 0]
    if not marks:
        return None
    middle = len(events) // 2
    return min(marks, key=lambda i: abs(i - middle))
