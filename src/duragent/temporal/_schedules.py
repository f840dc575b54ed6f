"""Schedules on Temporal: the seam's schedule calls (:mod:`duragent._backend.schedules`)
through temporalio's schedule API. The cluster's scheduler takes the actions.

Arguments cross as the same JSON bytes Duragent encodes (raw Temporal payloads, as starts
do). Temporal turns cron strings into calendar specs when it stores a schedule, so
describe shows each calendar as the five-field cron expression it stands for (e.g.
``0 2 * * 1-5`` for ``0 2 * * mon-fri``); a calendar that needs seconds or years is not
shown. Temporal does not report buffered actions, so ``buffered`` is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import temporalio.client as tc
from temporalio.service import RPCError, RPCStatusCode

from .._engine.schedules import (
    DEFAULT_CATCHUP_WINDOW,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    to_ms,
)
from ..errors import ConfigurationError, ScheduleAlreadyRunningError, ScheduleNotFoundError
from ..store.base import (
    ScheduleActionRecord,
    ScheduleDefinition,
    ScheduleRecord,
    ScheduleWorkflowAction,
)
from ._payloads import PayloadBridge

__all__ = ["ScheduleCalls"]

# A cron field: (calendar attribute, lowest, highest).
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day_of_month", 1, 31),
    ("month", 1, 12),
    ("day_of_week", 0, 6),
)


class ScheduleCalls:
    """:class:`~duragent._backend.schedules.ScheduleBackend` on a temporalio client."""

    client: tc.Client

    def _schedule(self, definition: ScheduleDefinition) -> tc.Schedule:
        action, spec, policy, state = (
            definition.action,
            definition.spec,
            definition.policy,
            definition.state,
        )
        if isinstance(spec.cron_expressions, str):
            raise ConfigurationError("cron_expressions is a list of expressions: pass [expression]")
        return tc.Schedule(
            action=tc.ScheduleActionStartWorkflow(
                action.workflow_type,
                args=[PayloadBridge.to_temporal(p) for p in action.input],
                id=action.workflow_id,
                task_queue=action.task_queue,
                memo=dict(action.memo) or None,
            ),
            spec=tc.ScheduleSpec(
                cron_expressions=list(spec.cron_expressions),
                intervals=[
                    tc.ScheduleIntervalSpec(every=i.every, offset=i.offset) for i in spec.intervals
                ],
                start_at=spec.start_at,
                end_at=spec.end_at,
                jitter=spec.jitter,
                time_zone_name=spec.time_zone_name,
            ),
            policy=tc.SchedulePolicy(
                overlap=tc.ScheduleOverlapPolicy(int(policy.overlap)),
                catchup_window=policy.catchup_window,
                pause_on_failure=policy.pause_on_failure,
            ),
            state=tc.ScheduleState(
                note=state.note,
                paused=state.paused,
                limited_actions=state.limited_actions,
                remaining_actions=state.remaining_actions,
            ),
        )

    async def _schedule_call(self, schedule_id: str, call: Any) -> Any:
        try:
            return await call
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ScheduleNotFoundError(f"schedule {schedule_id!r} not found") from None
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise ConfigurationError(
                    f"Temporal refused schedule {schedule_id!r}: {err.message}"
                ) from None
            raise

    async def create_schedule(
        self, schedule_id: str, definition: ScheduleDefinition, *, trigger_immediately: bool
    ) -> None:
        try:
            await self._schedule_call(
                schedule_id,
                self.client.create_schedule(
                    schedule_id,
                    self._schedule(definition),
                    trigger_immediately=trigger_immediately,
                ),
            )
        except tc.ScheduleAlreadyRunningError:
            raise ScheduleAlreadyRunningError(f"schedule {schedule_id!r} already exists") from None

    async def describe_schedule(self, schedule_id: str) -> ScheduleRecord:
        handle = self.client.get_schedule_handle(schedule_id)
        described: tc.ScheduleDescription = await self._schedule_call(
            schedule_id, handle.describe()
        )
        return self._record(described)

    def _record(self, d: tc.ScheduleDescription) -> ScheduleRecord:
        schedule, info = d.schedule, d.info
        action = schedule.action
        if not isinstance(action, tc.ScheduleActionStartWorkflow):
            raise ConfigurationError(f"schedule {d.id!r} does not start a workflow")
        converter = self.client.data_converter.payload_converter
        memo = {k: converter.from_payloads([v])[0] for k, v in (action.memo or {}).items()}
        definition = ScheduleDefinition(
            action=ScheduleWorkflowAction(
                workflow_type=action.workflow,
                workflow_id=action.id,
                task_queue=action.task_queue,
                input=tuple(PayloadBridge.to_duragent(p) for p in action.args),
                memo=memo,
            ),
            spec=ScheduleSpec(
                cron_expressions=tuple(
                    text for c in schedule.spec.calendars if (text := _cron_of(c)) is not None
                ),
                intervals=tuple(
                    ScheduleIntervalSpec(every=i.every, offset=i.offset or None)
                    for i in schedule.spec.intervals
                ),
                start_at=schedule.spec.start_at,
                end_at=schedule.spec.end_at,
                jitter=schedule.spec.jitter,
                time_zone_name=schedule.spec.time_zone_name,
            ),
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy(int(schedule.policy.overlap)),
                catchup_window=schedule.policy.catchup_window or DEFAULT_CATCHUP_WINDOW,
                pause_on_failure=schedule.policy.pause_on_failure,
            ),
            state=ScheduleState(
                note=schedule.state.note or None,
                paused=schedule.state.paused,
                limited_actions=schedule.state.limited_actions,
                remaining_actions=schedule.state.remaining_actions,
            ),
        )
        return ScheduleRecord(
            schedule_id=d.id,
            definition=definition,
            num_actions=info.num_actions,
            num_actions_missed_catchup_window=info.num_actions_missed_catchup_window,
            num_actions_skipped_overlap=info.num_actions_skipped_overlap,
            running=[
                ScheduleActionRecord(0, 0, a.workflow_id, a.first_execution_run_id)
                for a in info.running_actions
                if isinstance(a, tc.ScheduleActionExecutionStartWorkflow)
            ],
            recent=[
                ScheduleActionRecord(
                    _ms(r.scheduled_at),
                    _ms(r.started_at),
                    r.action.workflow_id,
                    r.action.first_execution_run_id,
                )
                for r in info.recent_actions
                if isinstance(r.action, tc.ScheduleActionExecutionStartWorkflow)
            ],
            next_action_times=[_ms(t) for t in info.next_action_times],
            buffered=0,
            created_at=_ms(info.created_at),
            updated_at=_ms(info.last_updated_at or info.created_at),
        )

    async def list_schedules(self) -> list[ScheduleRecord]:
        records: list[ScheduleRecord] = []
        listed: list[str] = [s.id async for s in await self.client.list_schedules()]
        for schedule_id in sorted(listed):
            try:
                records.append(await self.describe_schedule(schedule_id))
            except ScheduleNotFoundError:
                continue  # deleted since the (eventually consistent) listing
        return records

    async def pause_schedule(self, schedule_id: str, *, paused: bool, note: str | None) -> None:
        handle = self.client.get_schedule_handle(schedule_id)
        if paused:
            await self._schedule_call(schedule_id, handle.pause(note=note))
        else:
            await self._schedule_call(schedule_id, handle.unpause(note=note))

    async def trigger_schedule(
        self, schedule_id: str, *, overlap: ScheduleOverlapPolicy | None
    ) -> None:
        handle = self.client.get_schedule_handle(schedule_id)
        await self._schedule_call(
            schedule_id,
            handle.trigger(
                overlap=tc.ScheduleOverlapPolicy(int(overlap)) if overlap is not None else None
            ),
        )

    async def update_schedule(self, schedule_id: str, definition: ScheduleDefinition) -> None:
        handle = self.client.get_schedule_handle(schedule_id)
        new = self._schedule(definition)
        await self._schedule_call(
            schedule_id, handle.update(lambda _: tc.ScheduleUpdate(schedule=new))
        )

    async def delete_schedule(self, schedule_id: str) -> None:
        handle = self.client.get_schedule_handle(schedule_id)
        await self._schedule_call(schedule_id, handle.delete())


def _ms(moment: datetime) -> int:
    return to_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _cron_of(calendar: tc.ScheduleCalendarSpec) -> str | None:
    """The five-field cron expression of a calendar, or None when it needs seconds or
    years (or fields a cron expression cannot hold)."""
    if list(calendar.second) != [tc.ScheduleRange(0)] or calendar.year:
        return None
    fields: list[str] = []
    for name, low, high in _FIELDS:
        ranges: Sequence[tc.ScheduleRange] = getattr(calendar, name)
        if not ranges:
            return None
        fields.append(_field(ranges, low, high))
    return " ".join(fields)


def _field(ranges: Sequence[tc.ScheduleRange], low: int, high: int) -> str:
    if len(ranges) == 1 and ranges[0].start == low and ranges[0].end >= high:
        step = ranges[0].step
        return "*" if step <= 1 else f"*/{step}"
    parts: list[str] = []
    for r in ranges:
        if r.end <= r.start:
            parts.append(str(r.start))
        elif r.step <= 1:
            parts.append(f"{r.start}-{r.end}")
        else:
            parts.append(f"{r.start}-{r.end}/{r.step}")
    return ",".join(parts)
