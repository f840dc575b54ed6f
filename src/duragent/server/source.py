"""Everything the server reads or changes, in one place, through the client's backend.

Pages, the JSON API, live updates, metrics and alerts all go through :class:`RunSource`,
which asks only the client's :class:`~duragent._backend.ClientBackend` (and the client's
handles for actions). So the same server runs on the embedded store and on Temporal
(``duragent --address temporal://HOST:PORT/NS server``). Every backend call is a coroutine
that never blocks the event loop: on the embedded store, long reads run on the backend's
read thread over a second connection, and SQLite's WAL lets it read while workers in other
processes write.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .._backend import ChangeWatch, ClientBackend, RunRecord, RunStatus
from .._backend import RunFilter as BackendFilter
from .._engine import events as ev
from .._engine.failure import Failure
from ..client import Client, WorkflowExecution, WorkflowHandle
from ..errors import ConfigurationError
from ..history import WorkflowHistory
from ..views.agent_rows import MODEL_ACTIVITY
from ..views.conversation import Conversation, ConversationMemo, build_conversation
from ..views.diff import RunDiff
from ..views.summary import PendingApproval, RunSummary, SummaryFold
from ..views.timeline import Step, build_timeline

if TYPE_CHECKING:
    from ..openai_agents import UsageReport
    from ..openai_agents.usage import CallFacts

STATUSES: Final = tuple(s.value for s in RunStatus)
_SUMMARY_CACHE: Final = 20_000
_HISTORY_CACHE: Final = 8
"""Runs whose events are kept between page loads (a page's payloads stay loaded with
them: a few MB for a long agent run paged through)."""
_MEMO_CACHE: Final = 64
"""Runs whose payloads' facts are remembered between page loads (a few small tuples per
model or tool call, and the text each shows)."""


_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(cache: OrderedDict[_K, _V], key: _K, value: _V, limit: int) -> None:
    """Keep ``value`` as the newest entry of the LRU ``cache`` of at most ``limit`` entries."""
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > limit:
        cache.popitem(last=False)


@dataclass
class _RunMemo:
    """What one run's payloads said, by the id of the event they came with."""

    conversation: ConversationMemo = field(default_factory=ConversationMemo)
    """Model calls' requests and results, tool calls' (``build_conversation(memo=)``)."""
    details: dict[int, str] = field(default_factory=lambda: {})
    """Timeline steps' details (``build_timeline(details_memo=)``)."""
    usage: dict[int, CallFacts] = field(default_factory=lambda: {})
    """Model calls' model, tokens and latency (``usage_report(facts_of=)``)."""


_SCAN_LIMIT: Final = 100_000
"""Most runs one list request looks at when a filter is applied after reading."""
_PARALLEL_READS: Final = 8
"""Histories read at once for the summaries of one list page (Temporal: one RPC each)."""


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
    search_attributes: tuple[tuple[str, Any], ...] = ()
    """Only runs whose search attributes have these ``(name, value)`` pairs (checked)."""
    search_attribute_text: tuple[str, ...] = ()
    """The same filters as the request wrote them (``NAME=VALUE``), for links."""
    list_filter: str | None = None
    """A Temporal list filter (``WorkflowType = 'Order' AND ...``)."""

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise BadRequest(f"unknown status {self.status!r}; use one of {', '.join(STATUSES)}")

    @property
    def needs_summary(self) -> bool:
        """Whether rows are chosen by their summary (after the backend's filter)."""
        return bool(self.agent) or self.waiting

    def backend(self) -> BackendFilter:
        """What the backend itself filters on."""
        return BackendFilter(
            status=self.status,
            workflow_type=self.workflow_type,
            workflow_id_prefix=self.prefix,
            task_failing=self.failing,
            waiting_for_approval=self.waiting,
            search_attributes=self.search_attributes,
            query=self.list_filter,
        )

    def query(self) -> list[tuple[str, str]]:
        """The filter as URL query parameters (for links and the next page)."""
        q: list[tuple[str, str]] = []
        for key in ("status", "workflow_type", "agent", "prefix"):
            value = getattr(self, key)
            if value:
                q.append(("type" if key == "workflow_type" else key, value))
        if self.waiting:
            q.append(("waiting", "1"))
        if self.failing:
            q.append(("failing", "1"))
        q.extend(("search_attribute", text) for text in self.search_attribute_text)
        if self.list_filter:
            q.append(("query", self.list_filter))
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
    window: tuple[int, int] | None = None
    """The model calls whose conversation items were built (None: all)."""
    page_events: tuple[int, int] | None = None
    """The event ids of :attr:`window`'s items and timeline steps, whose steps alone carry
    the detail of their result (None: every step's is there)."""

    @property
    def items(self) -> list[Any]:
        """The conversation items to show (those of :attr:`window`)."""
        if self.window is None:
            return self.conversation.items
        return self.conversation.items_for(*self.window)


@dataclass(frozen=True)
class _Cursor:
    """Where the next page of a list starts: the backend's page (its token and size) and
    how many of that page's runs the previous pages showed or skipped."""

    token: str | None
    skip: int
    size: int

    def encode(self) -> str:
        raw = json.dumps({"t": self.token, "s": self.skip, "n": self.size})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> _Cursor:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            raw = json.loads(base64.urlsafe_b64decode(padded.encode()))
            token, skip, size = raw["t"], int(raw["s"]), int(raw["n"])
            if (token is not None and not isinstance(token, str)) or skip < 0 or size < 1:
                raise ValueError(raw)
            return cls(token, skip, size)
        except (ValueError, TypeError, KeyError) as err:
            raise BadRequest(
                f"bad cursor {cursor!r}: use the next_cursor of a previous page"
            ) from err


def execution_of(record: RunRecord) -> WorkflowExecution:
    return WorkflowExecution._from_record(record)  # pyright: ignore[reportPrivateUsage]


class RunSource:
    """The server's view of the runs behind one client.

    Args:
        client: A connected client (any backend).
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.backend: ClientBackend = client.backend
        self._summaries: OrderedDict[str, tuple[int, SummaryFold]] = OrderedDict()
        """run id -> (history length it was read at, the summary folded so far)."""
        self._histories: OrderedDict[str, list[ev.Event]] = OrderedDict()
        """run id -> its events, for the runs whose pages were read last."""
        self._memos: OrderedDict[str, _RunMemo] = OrderedDict()
        """run id -> what its model calls' results said, for the runs whose pages were read
        last (events never change: a long run's results are decoded once, not per load)."""
        self._reads = asyncio.Semaphore(_PARALLEL_READS)

    async def _history(self, workflow_id: str, run_id: str) -> list[ev.Event]:
        """The run's history: for a run whose page was read lately, the events read then
        and only those added since (a history only grows; reading and decoding a long run's
        events was most of what its page still cost)."""
        cached = self._histories.get(run_id)
        if cached is None:
            events = await self.backend.read_history(workflow_id, run_id)
        else:
            after = cached[-1].event_id if cached else 0
            events = cached + await self.backend.read_history(
                workflow_id, run_id, after_event_id=after
            )
        _remember(self._histories, run_id, events, _HISTORY_CACHE)
        return list(events)

    def _memo_of(self, run_id: str) -> _RunMemo:
        memo = self._memos.get(run_id) or _RunMemo()
        _remember(self._memos, run_id, memo, _MEMO_CACHE)
        return memo

    # -- summaries ------------------------------------------------------------------------

    def _summary_of_history(self, run_id: str, events: Sequence[ev.Event]) -> RunSummary:
        """The summary of a run whose history was just read whole: the cached fold takes
        only the events it has not seen (folding a long agent run decodes every model
        response for its tokens, most of the cost of its page)."""
        length = events[-1].event_id if events else 0
        cached = self._summaries.get(run_id)
        if cached is not None and cached[1].last_event_id > length:
            fold = SummaryFold()  # a newer read is cached: this page shows what it read
            fold.add(events)
            return fold.summary()
        fold = cached[1] if cached is not None else SummaryFold()
        fold.add(events)
        _remember(self._summaries, run_id, (length, fold), _SUMMARY_CACHE)
        return fold.summary()

    async def summary_of(self, record: RunRecord) -> RunSummary:
        """The run's summary; re-read only the events added since it was last read."""
        cached = self._summaries.get(record.run_id)
        if cached is not None and cached[0] == record.history_length:
            self._summaries.move_to_end(record.run_id)
            return cached[1].summary()
        fold = cached[1] if cached is not None else SummaryFold()
        async with self._reads:
            events = await self.backend.read_history(
                record.workflow_id, record.run_id, after_event_id=fold.last_event_id
            )
        fold.add(events)
        _remember(self._summaries, record.run_id, (record.history_length, fold), _SUMMARY_CACHE)
        return fold.summary()

    # -- lists ----------------------------------------------------------------------------

    async def _records(
        self, f: RunFilter, limit: int, cursor: str | None
    ) -> tuple[list[tuple[RunRecord, RunSummary | None]], str | None]:
        """The page's records (with their summaries when ``f`` chose by them) and the next
        cursor."""
        at = _Cursor.decode(cursor) if cursor else None
        # A page of the backend holds the page shown; filtered by summary, more are read.
        size = max(limit * 2, 100) if f.needs_summary else limit
        token, skip, size = (at.token, at.skip, at.size) if at else (None, 0, size)
        backend_filter = f.backend()
        rows: list[tuple[RunRecord, RunSummary | None]] = []
        scanned = 0
        while True:
            try:
                page = await self.backend.list_runs(
                    backend_filter, page_size=size, page_token=token
                )
            except ConfigurationError as err:
                if not backend_filter.waiting_for_approval:
                    raise BadRequest(str(err)) from err
                # No way to ask the backend (Temporal without Duragent's search
                # attribute): look at the running runs' summaries instead.
                backend_filter = RunFilter(
                    status=RunStatus.RUNNING,
                    workflow_type=f.workflow_type,
                    prefix=f.prefix,
                    failing=f.failing,
                    list_filter=f.list_filter,
                ).backend()
                continue
            candidates = page.runs[skip:]
            summaries: list[RunSummary | None] = [None] * len(candidates)
            if f.needs_summary:
                summaries = list(await asyncio.gather(*(self.summary_of(r) for r in candidates)))
            for i, (record, summary) in enumerate(zip(candidates, summaries, strict=True)):
                if f.waiting and not (summary and summary.pending_approvals):
                    continue
                if f.agent and not (summary and summary.agent == f.agent):
                    continue
                if len(rows) == limit:
                    return rows, _Cursor(token, skip + i, size).encode()
                rows.append((record, summary))
            scanned += len(page.runs)
            if page.next_page_token is None:
                return rows, None
            token, skip = page.next_page_token, 0
            if scanned >= _SCAN_LIMIT or (len(rows) == limit and not f.needs_summary):
                # Without a filter of its own a full page is known to be followed by more.
                return rows, _Cursor(token, 0, size).encode()

    async def list_runs(
        self, f: RunFilter, *, limit: int = 50, cursor: str | None = None
    ) -> RunPage:
        """A page of runs, newest first, with their summaries."""
        found, next_cursor = await self._records(f, limit, cursor)
        summaries = await asyncio.gather(
            *(self.summary_of(r) if s is None else _ready(s) for r, s in found)
        )
        rows = [RunRow(execution_of(r), s) for (r, _), s in zip(found, summaries, strict=True)]
        return RunPage(rows, next_cursor)

    async def counts(self) -> dict[str, int]:
        """How many runs have each status."""
        found = await asyncio.gather(
            *(self.backend.count_runs(BackendFilter(status=s)) for s in STATUSES)
        )
        return dict(zip(STATUSES, found, strict=True))

    async def count_failing(self) -> int:
        """How many running runs have a workflow task that keeps failing."""
        return await self.backend.count_runs(BackendFilter(task_failing=True))

    async def pending_approvals(
        self, limit: int = 1000
    ) -> list[tuple[WorkflowExecution, PendingApproval]]:
        """Tool calls waiting for a decision, across the running runs (oldest request first)."""
        page = await self.list_runs(RunFilter(waiting=True), limit=limit)
        found = [(row.execution, p) for row in page.rows for p in row.summary.pending_approvals]
        found.sort(key=lambda pair: pair[1].requested_at)
        return found

    # -- one run --------------------------------------------------------------------------

    async def summary(
        self, workflow_id: str, run_id: str | None = None
    ) -> tuple[WorkflowExecution, RunSummary]:
        """A run's facts and summary (cached while its history does not grow)."""
        record = await self.backend.describe(workflow_id, run_id)
        return execution_of(record), await self.summary_of(record)

    async def facts(
        self, workflow_id: str, run_id: str | None = None
    ) -> tuple[WorkflowExecution, RunSummary, Failure | None, list[str]]:
        """A run's facts, summary, task failure and the ids of its workflow's runs (what
        ``GET /api/v1/runs/{id}`` answers: no conversation or timeline is built)."""
        record = await self.backend.describe(workflow_id, run_id)
        summary, runs = await asyncio.gather(
            self.summary_of(record), self.backend.runs_of_workflow(workflow_id)
        )
        return execution_of(record), summary, record.task_failure, [r.run_id for r in runs]

    async def describe(self, workflow_id: str, run_id: str | None = None) -> WorkflowExecution:
        return execution_of(await self.backend.describe(workflow_id, run_id))

    async def _read(
        self, workflow_id: str, run_id: str | None, *, runs: bool = False
    ) -> tuple[RunRecord, list[ev.Event], list[Any], list[Any], list[str]]:
        """A run's record, events, failed attempts, pending activities (and with ``runs``
        the ids of the workflow's runs)."""
        backend = self.backend
        record = await backend.describe(workflow_id, run_id)
        run = record.run_id
        events, attempts, pending, found = await asyncio.gather(
            self._history(workflow_id, run),
            backend.activity_attempts(workflow_id, run),
            backend.pending_activities(workflow_id, run),
            backend.runs_of_workflow(workflow_id) if runs else _ready([]),
        )
        return record, events, list(attempts), list(pending), [r.run_id for r in found]

    def _conversation(
        self,
        record: RunRecord,
        events: list[ev.Event],
        attempts: Sequence[Any],
        pending: Sequence[Any],
        *,
        page: tuple[int, int | None] | None,
        whole_timeline: bool,
    ) -> tuple[list[Step], Conversation, tuple[int, int] | None, tuple[int, int] | None]:
        """The run's timeline and conversation, of the model calls of ``page`` (size, first
        call; see :meth:`detail`) or all, with what this server remembers of its payloads;
        the window of model calls and the event ids whose steps have details."""
        now = int(time.time() * 1000)
        memo = self._memo_of(record.run_id)
        window = detailed = None
        if page is not None:
            calls = _model_calls(events)
            window = _window(calls, record.status, *page)
            if not whole_timeline:
                last_event_id = events[-1].event_id if events else 0
                detailed = _page_events(calls, last_event_id, window)
        steps = build_timeline(
            events, attempts, pending, now_ms=now, detailed=detailed, details_memo=memo.details
        )
        conversation = build_conversation(
            events,
            attempts,
            pending,
            now_ms=now,
            steps=steps,
            window=window,
            memo=memo.conversation,
        )
        return steps, conversation, window, detailed

    async def detail(
        self,
        workflow_id: str,
        run_id: str | None = None,
        *,
        page_calls: int | None = None,
        first_call: int | None = None,
        whole_timeline: bool = True,
    ) -> RunDetail:
        """The run page's data (raises ``WorkflowNotFoundError``).

        Args:
            page_calls: Build the conversation of this many model calls only (a page),
                starting at model call ``first_call`` (default: the first page of a closed
                run, the last of a running one, where live changes show). None: all.
            whole_timeline: False when the timeline is shown by page too (or not at all):
                the steps outside the page then carry no detail (decoding every activity's
                result is most of the cost of a long run's first page).
        """
        record, events, attempts, pending, runs = await self._read(workflow_id, run_id, runs=True)
        page = None if page_calls is None else (page_calls, first_call)
        steps, conversation, window, detailed = self._conversation(
            record, events, attempts, pending, page=page, whole_timeline=whole_timeline
        )
        summary = self._summary_of_history(record.run_id, events)
        failure_event = None
        if record.task_failure is not None and record.status == RunStatus.RUNNING:
            # The event after the last one the failing code processed is where it disagreed.
            processed = _last_processed(events)
            failure_event = next((e for e in events if e.event_id > processed), None)
        return RunDetail(
            execution=execution_of(record),
            events=events,
            conversation=conversation,
            steps=steps,
            summary=summary,
            task_failure=record.task_failure,
            failure_event=failure_event,
            runs=runs,
            window=window,
            page_events=detailed,
        )

    async def conversation(
        self, workflow_id: str, run_id: str | None = None, *, page: tuple[int, int] | None = None
    ) -> tuple[WorkflowExecution, Conversation, tuple[int, int] | None]:
        """A run's conversation (the API's): of ``page`` = (size, first model call) only, or
        whole; and the window of model calls built (None: all)."""
        record, events, attempts, pending, _ = await self._read(workflow_id, run_id)
        _, conversation, window, _ = self._conversation(
            record, events, attempts, pending, page=page, whole_timeline=False
        )
        return execution_of(record), conversation, window

    async def timeline(
        self, workflow_id: str, run_id: str | None = None, *, after: int = 0
    ) -> tuple[WorkflowExecution, list[Step]]:
        """A run's timeline steps, without building its conversation (the steps that began
        at event ``after`` or before carry no detail of a result)."""
        record, events, attempts, pending, _ = await self._read(workflow_id, run_id)
        now = int(time.time() * 1000)
        memo = self._memo_of(record.run_id)
        detailed = (after + 1, 1 << 62) if after else None
        steps = build_timeline(
            events, attempts, pending, now_ms=now, detailed=detailed, details_memo=memo.details
        )
        return execution_of(record), steps

    async def history(
        self, workflow_id: str, run_id: str | None = None, after: int = 0
    ) -> tuple[WorkflowExecution, list[ev.Event]]:
        """A run's events after event ``after``."""
        record = await self.backend.describe(workflow_id, run_id)
        events = await self.backend.read_history(workflow_id, record.run_id, after_event_id=after)
        return execution_of(record), events

    async def export(self, workflow_id: str, run_id: str | None = None) -> str:
        """The history as ``duragent export`` writes it (same bytes)."""
        execution, events = await self.history(workflow_id, run_id)
        return WorkflowHistory(workflow_id, execution.run_id, events).to_json() + "\n"

    async def usage(
        self, workflow_id: str, histories: Mapping[str, Sequence[ev.Event]] | None = None
    ) -> UsageReport | None:
        """The usage ledger of the workflow (its runs and children), if it made model calls
        (``histories``: runs' events already read, by run id)."""
        from ..openai_agents.usage import usage_report

        report = await usage_report(
            self.client,
            workflow_id,
            histories=histories,
            facts_of=lambda run_id: self._memo_of(run_id).usage,
        )
        return report if report.calls or report.provider_calls else None

    # -- change notification --------------------------------------------------------------

    def watch_run(self, workflow_id: str, run_id: str) -> ChangeWatch:
        """Wake-ups when the run changes (create before reading, so none is missed)."""
        return self.backend.watch_run(workflow_id, run_id)

    def watch_runs(self) -> ChangeWatch:
        """Wake-ups when any run starts, closes or moves."""
        return self.backend.watch_runs()

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


_T = TypeVar("_T")


async def _ready(value: _T) -> _T:
    return value


def _model_calls(events: Sequence[ev.Event]) -> list[int]:
    """The event ids where the run's model calls were scheduled, in order (call ``n`` at
    index ``n - 1``)."""
    return [
        e.event_id
        for e in events
        if isinstance(e, ev.ActivityTaskScheduled) and e.activity_type == MODEL_ACTIVITY
    ]


def _window(calls: Sequence[int], status: str, size: int, first: int | None) -> tuple[int, int]:
    """The model calls ``(first, last)`` of a page of ``size`` of the run's ``calls``."""
    total = len(calls)
    if first is None:
        first = max(1, total - size + 1) if status == RunStatus.RUNNING else 1
    first = max(1, min(first, total))
    return first, first + size - 1


def _page_events(
    calls: Sequence[int], last_event_id: int, window: tuple[int, int]
) -> tuple[int, int]:
    """The event ids ``(first, last)`` whose items the conversation page of model calls
    ``window`` shows: from the first call's scheduling (or the start, on the first page) to
    just before the call after the page is scheduled."""
    first, last = window
    low = calls[first - 1] if 1 < first <= len(calls) else 0
    high = calls[last] - 1 if last < len(calls) else last_event_id
    return low, high


def _last_processed(events: Sequence[ev.Event]) -> int:
    for e in reversed(events):
        if isinstance(e, ev.WorkflowTaskCompleted):
            return e.processed_through
    return 0
