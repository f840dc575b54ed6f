"""Local activities: run by the worker that runs the workflow, while it holds the
workflow task.

When an activation asks for local activities, the worker does not record the task yet: it
keeps the run aside, runs the activities on its event loop (sync ones on its executor),
retries failed attempts itself, and hands each outcome back to the run
(``WorkflowRun.resolve_local``) as soon as it is ready. The code continues, perhaps asking
for more; once none is running, the task is recorded in one commit: each outcome as a
``LocalActivityRecorded`` event among the task's commands. A retry whose backoff exceeds
the activity's ``local_retry_threshold`` is recorded instead, and the workflow waits for
it on a durable timer.

The task's lease is renewed while it is held. If the worker dies, nothing was recorded:
the task goes to another worker, which replays and runs the local activities again (so a
local activity is at-least-once, like an activity attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from .._clock import Clock
from .._definitions import ActivityDefinition
from .._engine import commands as cmd
from .._engine import events as ev
from .._engine.completion import TaskCompletion
from .._engine.failure import Failure, FailureKind
from .._engine.replay import WorkflowRun
from ..activity import ActivityContext, Info
from ..errors import StoreError, TimeoutType
from ..retry import RetryPolicy, decide_retry
from ..store.base import WorkflowTask
from ..store.sqlite import SqliteStore
from .attempt_log import log_failed_attempt
from .invoke import FunctionRunner, Outcome

log = logging.getLogger("duragent.worker")

_LEASE_RENEWAL_S: Final = 20.0
_DEFAULT_POLICY: Final = RetryPolicy()


@dataclass(eq=False)
class HeldTask:
    """A workflow task held while its local activities run."""

    task: WorkflowTask
    run: WorkflowRun
    live: TaskCompletion
    """The task's activation so far (its commands grow with each resolution)."""
    first: TaskCompletion
    """The first activation: its accepted updates are recorded with the task."""
    rejected: list[tuple[str, Failure]]
    running: dict[int, asyncio.Task[ev.LocalActivityRecorded]] = field(default_factory=dict)
    ready: list[ev.LocalActivityRecorded] = field(default_factory=list)
    renewal: asyncio.TimerHandle | None = None
    resume_scheduled: bool = False


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _noop_heartbeat(details: tuple[Any, ...]) -> None:
    """Local activities do not heartbeat (nothing outside the worker watches them)."""


class LocalActivities:
    """Runs the local activities of the workflow tasks this worker holds."""

    def __init__(
        self,
        *,
        store: SqliteStore,
        clock: Clock,
        worker_id: str,
        functions: FunctionRunner,
        activities: dict[str, ActivityDefinition],
        dynamic: ActivityDefinition | None,
        finish: Callable[[HeldTask, TaskCompletion], None],
        fail: Callable[[HeldTask, BaseException], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.worker_id = worker_id
        self.functions = functions
        self.activities = activities
        self.dynamic = dynamic
        self._finish = finish
        self._fail = fail
        self.held: dict[str, HeldTask] = {}

    # -- holding a task ----------------------------------------------------------------------

    def hold(
        self,
        task: WorkflowTask,
        run: WorkflowRun,
        live: TaskCompletion,
        rejected: list[tuple[str, Failure]],
    ) -> None:
        """Keep ``task`` open and run the local activities ``live`` asks for."""
        held = HeldTask(task, run, live, live, rejected)
        self.held[task.run_id] = held
        loop = asyncio.get_running_loop()
        held.renewal = loop.call_later(_LEASE_RENEWAL_S, self._renew, held)
        for request in live.local_activities:
            self._start(held, request)

    def _start(self, held: HeldTask, request: cmd.ScheduleLocalActivity) -> None:
        runner = asyncio.get_running_loop().create_task(
            self._run(held, request), name=f"local-activity-{request.activity_type}"
        )
        held.running[request.seq] = runner
        runner.add_done_callback(lambda t, seq=request.seq: self._done(held, seq, t))

    def _done(
        self, held: HeldTask, seq: int, runner: asyncio.Task[ev.LocalActivityRecorded]
    ) -> None:
        if held.running.get(seq) is not runner or runner.cancelled():
            return  # cancelled by the code (or the task was given up): nothing to record
        del held.running[seq]
        exc = runner.exception()
        if exc is not None:  # a bug here, not in the activity: give the task up
            log.error(
                "running local activity %d of run %s failed", seq, held.task.run_id, exc_info=exc
            )
            self._give_up(held, exc)
            return
        held.ready.append(runner.result())
        if not held.resume_scheduled:
            held.resume_scheduled = True
            asyncio.get_running_loop().call_soon(self._resume, held)

    def _resume(self, held: HeldTask) -> None:
        """Hand the outcomes that are ready to the code, one per activation (as replay
        will), in the order they finished."""
        held.resume_scheduled = False
        while held.ready and self.held.get(held.task.run_id) is held:
            outcome = held.ready.pop(0)
            try:
                live = held.run.resolve_local(outcome)
            except Exception as err:
                self._give_up(held, err)
                return
            if live.failure is not None:
                self._give_up(held, live.failure)
                return
            held.live = live
            for seq in live.cancelled_local:
                runner = held.running.pop(seq, None)
                if runner is not None:
                    runner.cancel()
                held.ready = [o for o in held.ready if o.seq != seq]
            for request in live.local_activities:
                self._start(held, request)
            if held.run.instance.closed:
                self._stop_all(held)  # the run is over: what still runs is abandoned
                held.ready.clear()
        if held.running or held.ready or self.held.get(held.task.run_id) is not held:
            return
        self._release_hold(held)
        try:
            self._finish(held, replace(held.live, updates=held.first.updates))
        except Exception:
            log.exception("recording workflow task of run %s failed", held.task.run_id)

    def _give_up(self, held: HeldTask, err: BaseException) -> None:
        self._stop_all(held)
        self._release_hold(held)
        self._fail(held, err)

    def _stop_all(self, held: HeldTask) -> None:
        running, held.running = held.running, {}
        for runner in running.values():
            runner.cancel()

    def _release_hold(self, held: HeldTask) -> None:
        if held.renewal is not None:
            held.renewal.cancel()
            held.renewal = None
        if self.held.get(held.task.run_id) is held:
            del self.held[held.task.run_id]

    def _renew(self, held: HeldTask) -> None:
        if self.held.get(held.task.run_id) is not held:
            return
        try:
            mine = self.store.extend_workflow_task(held.task, self.clock.now_ms())
        except StoreError:
            log.exception("renewing the lease of workflow task of run %s failed", held.task.run_id)
            mine = True  # try again; the lease is a minute long
        if not mine:
            log.warning(
                "workflow task of run %s was taken over while its local activities ran; "
                "their outcomes are dropped (the new owner runs them again)",
                held.task.run_id,
            )
            self._stop_all(held)
            self._release_hold(held)
            held.run.instance.dispose()
            return
        held.renewal = asyncio.get_running_loop().call_later(_LEASE_RENEWAL_S, self._renew, held)

    async def shutdown(self) -> None:
        """Stop every local activity and hand the held tasks back (retried at once,
        elsewhere or after a restart)."""
        for held in list(self.held.values()):
            runners = list(held.running.values())
            self._stop_all(held)
            self._release_hold(held)
            for runner in runners:
                with contextlib.suppress(BaseException):
                    await runner
            with contextlib.suppress(StoreError):
                self.store.release_workflow_task(held.task, self.clock.now_ms())
            held.run.instance.dispose()

    # -- running one local activity ----------------------------------------------------------

    def _info(
        self,
        held: HeldTask,
        request: cmd.ScheduleLocalActivity,
        attempt: int,
        scheduled: int,
        started: int,
    ) -> Info:
        task = held.task
        return Info(
            activity_id=str(request.seq),
            activity_type=request.activity_type,
            attempt=attempt,
            workflow_id=task.workflow_id,
            workflow_run_id=task.run_id,
            workflow_type=task.workflow_type,
            task_queue=task.task_queue,
            idempotency_key=f"{task.run_id}:{request.seq}",
            scheduled_time=_dt(scheduled),
            started_time=_dt(started),
            is_local=True,
        )

    async def _run(
        self, held: HeldTask, request: cmd.ScheduleLocalActivity
    ) -> ev.LocalActivityRecorded:
        """Attempts until one succeeds, the policy stops, or a long backoff is due."""
        scheduled = request.scheduled_time or self.clock.now_ms()
        record = ev.LocalActivityRecorded(
            event_id=0,
            time=0,
            seq=request.seq,
            activity_type=request.activity_type,
            attempt=request.attempt,
            scheduled_time=scheduled,
            worker=self.worker_id,
            summary=request.summary,
        )
        defn = self.activities.get(request.activity_type) or self.dynamic
        if defn is None:
            return replace(
                record,
                failure=Failure(
                    message=(
                        f"local activity {request.activity_type!r} is not registered on the "
                        "worker that runs the workflow: a local activity runs there, so pass "
                        "it in that Worker(activities=[...])"
                    ),
                    type="NotFoundError",
                    non_retryable=True,
                ),
                retry_state="NON_RETRYABLE_FAILURE",
            )
        deadline = (
            scheduled + request.schedule_to_close_timeout_ms
            if request.schedule_to_close_timeout_ms is not None
            else None
        )
        policy = request.retry_policy or _DEFAULT_POLICY
        attempt = request.attempt
        while True:
            started = self.clock.now_ms()
            info = self._info(held, request, attempt, scheduled, started)
            outcome = await self._attempt(defn, request, info, started, deadline)
            record = replace(record, attempt=attempt, started_time=started)
            failure = outcome.failure
            if outcome.kind == "ok" or failure is None:
                return replace(record, result=outcome.payload)
            now = self.clock.now_ms()
            decision = decide_retry(
                policy,
                attempt,
                error_type=failure.type,
                non_retryable=failure.non_retryable,
                retry_after_ms=failure.retry_after_ms,
                next_retry_delay_ms=failure.next_retry_delay_ms,
                schedule_to_close_expired=failure.type == TimeoutType.SCHEDULE_TO_CLOSE,
                now=now,
                deadline=deadline,
            )
            log_failed_attempt(info, failure, outcome.error, decision, now)
            if decision.next_attempt_at is None:
                return replace(record, failure=failure, retry_state=decision.retry_state)
            delay = decision.next_attempt_at - now
            if delay > request.local_retry_threshold_ms:
                return replace(record, failure=failure, backoff_ms=delay)
            await asyncio.sleep(delay / 1000)
            attempt += 1

    async def _attempt(
        self,
        defn: ActivityDefinition,
        request: cmd.ScheduleLocalActivity,
        info: Info,
        started: int,
        deadline: int | None,
    ) -> Outcome:
        """One attempt, bounded by its start-to-close and schedule-to-close timeouts."""
        limits = [
            (started + request.start_to_close_timeout_ms, TimeoutType.START_TO_CLOSE)
            if request.start_to_close_timeout_ms is not None
            else None,
            (deadline, TimeoutType.SCHEDULE_TO_CLOSE) if deadline is not None else None,
        ]
        limit = min((x for x in limits if x is not None), default=None)
        context = ActivityContext(
            info, _noop_heartbeat, usage_sink=self.store.record_usage, worker_id=self.worker_id
        )
        try:
            async with asyncio.timeout(
                None if limit is None else max(0.0, (limit[0] - self.clock.now_ms()) / 1000)
            ):
                outcome = await self.functions.run(defn, request.input, context)
        except TimeoutError:
            assert limit is not None
            return Outcome(
                "failed",
                failure=Failure(
                    message=(
                        f"local activity attempt {info.attempt} exceeded its {limit[1]} timeout"
                    ),
                    kind=FailureKind.TIMEOUT,
                    type=limit[1],
                ),
            )
        return outcome
