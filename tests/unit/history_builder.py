"""A tiny in-memory stand-in for the store, for engine unit tests: it records commands as
command events exactly like the real store does, and lets tests append input events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from duragent._definitions import workflow_definition_of
from duragent._engine import commands as cmd
from duragent._engine import events as ev
from duragent._engine.instance import WorkflowInstance
from duragent._engine.replay import WorkflowRun
from duragent.serde import DataConverter, Payload

CONVERTER = DataConverter()
T0 = 1_700_000_000_000


def payload(value: Any) -> Payload:
    return CONVERTER.encode(value)


class HistoryBuilder:
    """Builds a run's history by driving a live :class:`WorkflowRun`."""

    def __init__(self, workflow: Any, *args: Any, run_id: str = "run-1") -> None:
        self.definition = workflow_definition_of(workflow)
        self.run_id = run_id
        self.events: list[ev.Event] = []
        self.time = T0
        self.run = self.new_run()
        self.add(
            ev.WorkflowExecutionStarted,
            workflow_type=self.definition.name,
            workflow_id="wf-1",
            task_queue="q",
            input=tuple(payload(a) for a in args),
        )

    def new_run(self) -> WorkflowRun:
        return WorkflowRun(
            WorkflowInstance(self.definition, run_id=self.run_id, converter=CONVERTER)
        )

    def add(self, event_type: type[ev.Event], **attrs: Any) -> ev.Event:
        event = event_type(event_id=len(self.events) + 1, time=self.time, **attrs)
        self.events.append(event)
        return event

    def step(self, advance_ms: int = 0) -> list[cmd.Command]:
        """Run one workflow task: feed new events, activate, record the commands."""
        self.time += advance_ms
        fed = self.run.last_event_id
        self.run.feed(self.events[fed:])
        live = self.run.activate(self.time)
        if live is None:
            return []
        if live.failure is not None:
            raise live.failure
        self.add(ev.WorkflowTaskCompleted, processed_through=live.processed_through)
        new_run_id = "run-2"
        for c in live.commands:
            self.events.append(
                cmd.to_event(
                    c, event_id=len(self.events) + 1, time=live.time, new_run_id=new_run_id
                )
            )
        self.run.feed(self.events[self.run.last_event_id :])
        return list(live.commands)

    def complete_activity(self, seq: int, result: Any, attempt: int = 1) -> None:
        self.add(
            ev.ActivityTaskCompleted,
            seq=seq,
            result=payload(result),
            attempt=attempt,
            started_time=self.time,
        )

    def replay(self, workflow: Any = None) -> WorkflowRun:
        """Replay the whole history on a fresh instance (optionally of other code)."""
        definition = workflow_definition_of(workflow) if workflow else self.definition
        run = WorkflowRun(WorkflowInstance(definition, run_id=self.run_id, converter=CONVERTER))
        run.feed(self.events)
        return run


def kinds(commands: Sequence[cmd.Command]) -> list[str]:
    return [c.describe() for c in commands]
