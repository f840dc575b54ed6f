"""Processing one workflow task: bring the run up to date (from the cache or by replaying
its history), validate waiting updates, run a live activation, record the commands.

Processing is synchronous and CPU-bound: workflow code never waits on I/O, and the store
calls are short transactions. A worker therefore processes its workflow tasks one at a time
and scales out with more processes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._backend.worker_store import WorkerStore
from .._clock import Clock
from .._definitions import WorkflowDefinition
from .._engine.events import Event, WorkflowTaskCompleted
from .._engine.failure import Failure, FailureKind, failure_from_exception
from .._engine.instance import WorkflowInstance
from .._engine.replay import (
    ActivationFailedError,
    LiveActivation,
    StaleRunError,
    UpdateRequest,
    WorkflowRun,
)
from ..errors import NondeterminismError, QueryError, StoreError, UpdateRejectedError
from ..serde import DataConverter, Payload
from ..store.base import ActivityTask, QueryTask, TaskCompletion, WorkflowTask
from .attempt_log import error_extra
from .cache import RunCache
from .faults import armed, crash_point
from .local_activities import HeldTask, LocalActivities

log = logging.getLogger("duragent.worker")


@dataclass
class EagerSlots:
    """How many activity tasks the worker can take on right now, and which."""

    queue: str
    types: Sequence[str] | None
    free: Callable[[], int]


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
        eager: EagerSlots | None,
        start_activities: Callable[[Sequence[ActivityTask]], None],
        continue_as_new_threshold: int,
        run_state_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.converter = converter
        self.clock = clock
        self.worker_id = worker_id
        self.definitions = definitions
        self.cache = cache
        self.eager = eager
        self.start_activities = start_activities
        self.continue_as_new_threshold = continue_as_new_threshold
        self.run_state_defaults = run_state_defaults or {}
        self.replays = 0
        self.tasks_processed = 0
        self.local: LocalActivities | None = None
        """Runs local activities while their workflow task is held (set by the worker)."""

    def process(self, task: WorkflowTask | None) -> None:
        """Process ``task`` and any follow-up task the store hands straight back."""
        while task is not None:
            task = self._process_one(task)

    def answer_query(self, query: QueryTask) -> None:
        """Answer a query from current state: the cached run, brought up to date with
        history (replaying recorded tasks only; pending input is not processed)."""
        result: Payload | None = None
        error: str | None = None
        run: WorkflowRun | None = None
        try:
            run = self._catch_up(query)
            result = run.instance.query(query.name, query.input)
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

    def _process_one(self, task: WorkflowTask) -> WorkflowTask | None:
        self.tasks_processed += 1
        run: WorkflowRun | None = None
        try:
            run = self._catch_up(task)
            accepted: list[UpdateRequest] = []
            rejected: list[tuple[str, Failure]] = []
            if task.updates:
                run.construct_pending()
            for update in task.updates:
                try:
                    run.instance.validate_update(update.name, update.input)
                    accepted.append(update)
                except UpdateRejectedError as err:
                    rejected.append((update.update_id, failure_from_exception(err, self.converter)))
            live = run.activate(self.clock.now_ms(), accepted)
        except (NondeterminismError, ActivationFailedError, StaleRunError) as err:
            cause = err.cause if isinstance(err, ActivationFailedError) else err
            self._discard(task.run_id, run)
            self._fail(task, cause)
            return None
        except StoreError:
            self._discard(task.run_id, run)
            log.exception("store error while processing workflow task of run %s", task.run_id)
            self._release(task)
            return None
        except Exception as err:  # decoding errors and other bugs: retried like a task failure
            self._discard(task.run_id, run)
            self._fail(task, err)
            return None
        if live is not None and live.failure is not None:
            self._discard(task.run_id, run)
            self._fail(task, live.failure)
            return None
        if (
            live is not None
            and live.local_activities
            and not run.instance.closed
            and self.local is not None
        ):
            # Recorded once they are done: the task stays ours meanwhile.
            self.cache.take(task.run_id)
            self.local.hold(task, run, live, rejected)
            return None
        return self._commit(task, run, live, rejected)

    def finish_local(self, held: HeldTask, live: LiveActivation) -> None:
        """A held task's local activities are done: record it (and go on with the task
        the store hands back, if input arrived meanwhile)."""
        self.process(self._commit(held.task, held.run, live, held.rejected))

    def fail_local(self, held: HeldTask, err: BaseException) -> None:
        """The code failed while taking local activity outcomes: a task failure."""
        self._discard(held.task.run_id, held.run)
        self._fail(held.task, err.cause if isinstance(err, ActivationFailedError) else err)

    def _commit(
        self,
        task: WorkflowTask,
        run: WorkflowRun,
        live: LiveActivation | None,
        rejected: list[tuple[str, Failure]],
    ) -> WorkflowTask | None:
        """Record the task's commands and carry out their effects."""
        if live is None:
            completion = TaskCompletion(
                processed_through=0,
                time=self.clock.now_ms(),
                commands=(),
                rejected_updates=rejected,
            )
        else:
            completion = TaskCompletion(
                processed_through=live.processed_through,
                time=live.time,
                commands=live.commands,
                updates=live.updates,
                rejected_updates=rejected,
            )
        crash_point("workflow_task_complete")
        eager = self.eager
        try:
            outcome = self.store.complete_workflow_task(
                task,
                completion,
                self.clock.now_ms(),
                worker_id=self.worker_id,
                keep=True,
                eager_activity_types=eager.types if eager else None,
                eager_queue=eager.queue if eager else "",
                eager_slots=eager.free() if eager else 0,
            )
        except StoreError:
            self._discard(task.run_id, run)
            log.exception("could not record workflow task of run %s", task.run_id)
            return None
        if outcome.lost:
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
                    return outcome.continue_task
            self.cache.put(task.run_id, run)
        if outcome.eager_activities:
            self.start_activities(outcome.eager_activities)
        return outcome.continue_task

    def _discard(self, run_id: str, run: WorkflowRun | None) -> None:
        """Forget ``run``: out of the cache, and torn down even if it never was cached."""
        self.cache.evict(run_id)
        if run is not None:
            run.instance.dispose()

    def _fail(self, task: WorkflowTask, err: BaseException) -> None:
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
        except StoreError:
            log.exception("could not record the workflow task failure of run %s", task.run_id)

    def _release(self, task: WorkflowTask) -> None:
        with contextlib.suppress(StoreError):
            self.store.release_workflow_task(task, self.clock.now_ms())


def _mid_replay_cut(events: Sequence[Event]) -> int | None:
    """Where the ``mid_replay`` crash point splits a replay: just before the middle-most
    ``WorkflowTaskCompleted``, so the first part is a history the run could really have had
    (a completed task is always followed by its commands in the same commit)."""
    marks = [i for i, e in enumerate(events) if isinstance(e, WorkflowTaskCompleted) and i > 0]
    if not marks:
        return None
    middle = len(events) // 2
    return min(marks, key=lambda i: abs(i - middle))
