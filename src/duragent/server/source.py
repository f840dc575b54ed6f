"""Everything the server reads or changes, in one place, through the client interface.

Pages, the JSON API, live updates, metrics and alerts all go through :class:`RunSource`, so
the server never touches storage directly: the same server runs on any backend the client
connects to. Store calls run in a worker thread (``asyncio.to_thread``), so a slow read
never stalls the server's event loop; the store opens its own connection, and SQLite's WAL
lets it read while workers in other processes write.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .._backend.records import ActivityAttempt, PendingActivity
from .._engine import events as ev
from .._engine.failure import Failure
from ..client import Client, WorkflowExecution, WorkflowHandle
from ..errors import ConfigurationError
from ..history import WorkflowHistory
from ..store.base import RunRecord, RunStatus
from ..store.notify import Listener
from ..views.conversation import Conversation, build_conversation
from ..views.diff import RunDiff
from ..views.summary import PendingApproval, RunSummary, summarize
from ..views.timeline import Step, build_timeline

if TYPE_CHECKING:
    from ..openai_agents import UsageReport

T = TypeVar("T")

STATUSES: Final = (
    RunStatus.RUNNING,
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.CANCELED,
    RunStatus.TERMINATED,
    RunStatus.CONTINUED_AS_NEW,
)
_SUMMARY_CACHE: Final = 20_000
_SCAN_LIMIT: Final = 100_000
"""Most runs one list request looks at when a filter is applied after reading."""


class BadRequest(ValueError):
    """A request the server refuses with a 4xx and a message (nothing was changed)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RunFilter:
    """Which runs a list shows."""

    status: str | None = None
    workflow_type: str | None = None
    agent: str | None = None
    prefix: str | None = None
    waiting: bool = False
    """Only runs with a tool call waiting for approval."""
    failing: bool = False
    """Only runs whose workflow task keeps failing (a bug, or a non-deterministic change)."""

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise BadRequest(f"unknown status {self.status!r}; use one of {', '.join(STATUSES)}")

    @property
    def needs_summary(self) -> bool:
        return bool(self.agent) or self.waiting

    def query(self) -> dict[str, str]:
        """The filter as URL query parameters (for links and the next page)."""
        q: dict[str, str] = {}
        for key in ("status", "workflow_type", "agent", "prefix"):
            value = getattr(self, key)
            if value:
                q["type" if key == "workflow_type" else key] = value
        if self.waiting:
            q["waiting"] = "1"
        if self.failing:
            q["failing"] = "1"
        return q


@dataclass
class RunRow:
    """One row of the runs list."""

    execution: WorkflowExecution
    summary: RunSummary


@dataclass
class RunPage:
    rows: list[RunRow]
    next_cursor: str | None


@dataclass
class RunDetail:
    """Everything the run page shows."""

    execution: WorkflowExecution
    events: list[ev.Event]
    conversation: Conversation
    steps: list[Step]
    summary: RunSummary
    task_failure: Failure | None
    failure_event: ev.Event | None
    """The event history recorded where the failing task stopped (the next one the code
    disagreed with), when known."""
    runs: list[str] = field(default_factory=lambda: [])


def encode_cursor(record: WorkflowExecution) -> str:
    raw = json.dumps([int(record.start_time.timestamp() * 1000), record.run_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        start, run_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return int(start), str(run_id)
    except (ValueError, TypeError) as err:
        raise BadRequest(f"bad cursor {cursor!r}: use the next_cursor of a previous page") from err


class RunSource:
    """The server's view of the runs behind one client.

    Args:
        client: A connected client (any backend).
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._summaries: OrderedDict[str, tuple[int, RunSummary]] = OrderedDict()

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    # -- lists ----------------------------------------------------------------------------

    def _summary_now(self, record: RunRecord) -> RunSummary:
        cached = self._summaries.get(record.run_id)
        if cached is not None and cached[0] == record.history_length:
            self._summaries.move_to_end(record.run_id)
            return cached[1]
        summary = summarize(self.client.store.read_history(record.run_id))
        self._summaries[record.run_id] = (record.history_length, summary)
        if len(self._summaries) > _SUMMARY_CACHE:
            self._summaries.popitem(last=False)
        return summary

    def _list_now(self, f: RunFilter, limit: int, cursor: str | None) -> RunPage:
        after = decode_cursor(cursor) if cursor else None
        rows: list[RunRow] = []
        want = limit + 1
        fetch = max(want * 2, 100)
        while True:
            records = self.client.store.list_runs(
                status=f.status,
                workflow_type=f.workflow_type,
                workflow_id_prefix=f.prefix,
                limit=fetch,
            )
            rows = []
            # Newest first: skip what the previous pages showed, up to the cursor's run (or,
            # if it is not there, every run that started later).
            passed = after is None or all(r.run_id != after[1] for r in records)
            for r in records:
                if not passed:
                    passed = r.run_id == after[1]  # pyright: ignore[reportOptionalSubscript]
                    continue
                if after is not None and r.start_time > after[0]:
                    continue
                if f.failing and r.task_failure is None:
                    continue
                if f.waiting and r.status != RunStatus.RUNNING:
                    continue
                summary = self._summary_now(r) if f.needs_summary else None
                if f.waiting and not (summary and summary.pending_approvals):
                    continue
                if f.agent and not (summary and summary.agent == f.agent):
                    continue
                rows.append(RunRow(WorkflowExecution._from_record(r), summary or RunSummary()))  # pyright: ignore[reportPrivateUsage]
                if len(rows) == want:
                    break
            if len(rows) == want or len(records) < fetch or fetch >= _SCAN_LIMIT:
                break
            fetch *= 4
        more = len(rows) == want
        rows = rows[:limit]
        for row in rows:
            if not f.needs_summary:
                row.summary = self._summary_now(_record_of(row.execution))
        next_cursor = encode_cursor(rows[-1].execution) if more and rows else None
        return RunPage(rows, next_cursor)

    async def list_runs(
        self, f: RunFilter, *, limit: int = 50, cursor: str | None = None
    ) -> RunPage:
        """A page of runs, newest first, with their summaries."""
        return await self._io(self._list_now, f, limit, cursor)

    async def counts(self) -> dict[str, int]:
        """How many runs have each status."""

        def count() -> dict[str, int]:
            store = self.client.store
            return {s: store.count_runs(s) for s in STATUSES}

        return await self._io(count)

    async def pending_approvals(
        self, limit: int = 1000
    ) -> list[tuple[WorkflowExecution, PendingApproval]]:
        """Tool calls waiting for a decision, across the running runs (oldest request first)."""

        def scan() -> list[tuple[WorkflowExecution, PendingApproval]]:
            found: list[tuple[WorkflowExecution, PendingApproval]] = []
            for r in self.client.store.list_runs(status=RunStatus.RUNNING, limit=limit):
                summary = self._summary_now(r)
                execution = WorkflowExecution._from_record(r)  # pyright: ignore[reportPrivateUsage]
                found += [(execution, p) for p in summary.pending_approvals]
            found.sort(key=lambda pair: pair[1].requested_at)
            return found

        return await self._io(scan)

    # -- one run --------------------------------------------------------------------------

    async def summary(
        self, workflow_id: str, run_id: str | None = None
    ) -> tuple[WorkflowExecution, RunSummary]:
        """A run's facts and summary (cached while its history does not grow)."""

        def read() -> tuple[WorkflowExecution, RunSummary]:
            record = self.client.store.describe(workflow_id, run_id)
            execution = WorkflowExecution._from_record(record)  # pyright: ignore[reportPrivateUsage]
            return execution, self._summary_now(record)

        return await self._io(read)

    async def describe(self, workflow_id: str, run_id: str | None = None) -> WorkflowExecution:
        record = await self._io(self.client.store.describe, workflow_id, run_id)
        return WorkflowExecution._from_record(record)  # pyright: ignore[reportPrivateUsage]

    def _detail_now(self, workflow_id: str, run_id: str | None) -> RunDetail:
        store = self.client.store
        record = store.describe(workflow_id, run_id)
        events = store.read_history(record.run_id)
        attempts = [ActivityAttempt(**a) for a in store.attempts(record.run_id)]
        pending = [PendingActivity(**p) for p in store.pending_activities(record.run_id)]
        now = int(time.time() * 1000)
        conversation = build_conversation(events, attempts, pending, now_ms=now)
        steps = build_timeline(events, attempts, pending, now_ms=now)
        failure_event = None
        if record.task_failure is not None and record.status == RunStatus.RUNNING:
            # The event after the last one the failing code processed is where it disagreed.
            processed = _last_processed(events)
            failure_event = next((e for e in events if e.event_id > processed), None)
        return RunDetail(
            execution=WorkflowExecution._from_record(record),  # pyright: ignore[reportPrivateUsage]
            events=events,
            conversation=conversation,
            steps=steps,
            summary=summarize(events),
            task_failure=record.task_failure,
            failure_event=failure_event,
            runs=store.runs_of_workflow(workflow_id),
        )

    async def detail(self, workflow_id: str, run_id: str | None = None) -> RunDetail:
        """The run page's data (raises ``WorkflowNotFoundError``)."""
        return await self._io(self._detail_now, workflow_id, run_id)

    async def history(
        self, workflow_id: str, run_id: str | None = None, after: int = 0
    ) -> tuple[WorkflowExecution, list[ev.Event]]:
        """A run's events after event ``after``."""

        def read() -> tuple[WorkflowExecution, list[ev.Event]]:
            record = self.client.store.describe(workflow_id, run_id)
            events = self.client.store.read_history(record.run_id, after)
            return WorkflowExecution._from_record(record), events  # pyright: ignore[reportPrivateUsage]

        return await self._io(read)

    async def export(self, workflow_id: str, run_id: str | None = None) -> str:
        """The history as ``duragent export`` writes it (same bytes)."""

        def text() -> str:
            record = self.client.store.describe(workflow_id, run_id)
            events = self.client.store.read_history(record.run_id)
            return WorkflowHistory(workflow_id, record.run_id, events).to_json() + "\n"

        return await self._io(text)

    async def usage(self, workflow_id: str) -> UsageReport | None:
        """The usage ledger of the workflow (its runs and children), if it made model calls."""
        from ..openai_agents.usage import usage_report

        report = await usage_report(self.client, workflow_id)
        return report if report.calls or report.provider_calls else None

    async def run_status(self, run_id: str) -> tuple[str, int]:
        return await self._io(self.client.store.run_status, run_id)

    # -- change notification --------------------------------------------------------------

    def listen(self, topics: Sequence[str]) -> Listener:
        """Start listening for wake-ups on ``topics`` (before reading, so none is missed);
        ``await listener.wait(timeout)`` once. Topics: ``run:<run id>`` (closed, update
        decided), ``wf:<queue>`` (a workflow task, i.e. new history), ``act:<queue>``."""
        return self.client.store.notifier.listen(topics)

    async def queues(self) -> set[str]:
        """Task queues of the running runs (their wake-ups say a run moved)."""

        def read() -> set[str]:
            runs = self.client.store.list_runs(status=RunStatus.RUNNING, limit=_SCAN_LIMIT)
            return {r.task_queue for r in runs}

        return await self._io(read)

    # -- actions --------------------------------------------------------------------------

    def handle(self, workflow_id: str, run_id: str | None = None) -> WorkflowHandle[Any]:
        return self.client.get_workflow_handle(workflow_id, run_id=run_id)

    async def start_agent(
        self, agent: str, input: Any, *, workflow_id: str, task_queue: str, max_turns: int
    ) -> WorkflowHandle[Any]:
        try:
            from ..openai_agents import start_agent
        except ImportError as err:  # pragma: no cover - the server extra brings the SDK
            raise ConfigurationError("starting agents needs duragent[agents]") from err
        return await start_agent(
            self.client, agent, input, id=workflow_id, task_queue=task_queue, max_turns=max_turns
        )

    async def fork(self, source: str, at_model_call: int, **options: Any) -> WorkflowHandle[Any]:
        """Fork an agent run (see :meth:`Client.fork`)."""
        return await self.client.fork(source, at_model_call, **options)

    async def diff(
        self, a: str, b: str, run_a: str | None = None, run_b: str | None = None
    ) -> RunDiff:
        """Compare two agent runs (see :meth:`Client.diff`)."""
        return await self.client.diff(a, b, run_a=run_a, run_b=run_b)


def _record_of(e: WorkflowExecution) -> RunRecord:
    return RunRecord(
        run_id=e.run_id,
        workflow_id=e.id,
        workflow_type=e.workflow_type,
        task_queue=e.task_queue,
        status=e.status,
        start_time=int(e.start_time.timestamp() * 1000),
        close_time=None,
        history_length=e.history_length,
        history_bytes=e.history_size_bytes,
        first_run_id=e.first_run_id,
    )


def _last_processed(events: Sequence[ev.Event]) -> int:
    for e in reversed(events):
        if isinstance(e, ev.WorkflowTaskCompleted):
            return e.processed_through
    return 0
