"""An agent run as the user reads it: messages, model turns, tool cards, approvals, outcome.

:func:`build_conversation` folds a run's history (plus the backend's failed attempts and
pending activities, through the timeline) into :class:`Item` rows in the order they
happened. Model calls of the OpenAI Agents plugin become :class:`ModelTurn` rows (agent,
model, tokens, latency, what the model said, the tools it called); each tool call the model
asked for becomes one :class:`ToolCard`, joined with the activity that ran it, every attempt,
its approval and the output the model saw next. Everything else a workflow did (plain
activities, timers, signals, updates, children) stays a timeline :class:`Step`, so a plain
workflow reads as its timeline. Pure data, no I/O, no Agents SDK import.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .._backend.records import ActivityAttempt, PendingActivity
from .._engine import events as ev
from .._fork.spec import SERVED_MARKER
from ..serde import NULL_PAYLOAD, Payload
from .agent_rows import (
    MCP_CALL,
    MCP_SESSION_CALL,
    MODEL_ACTIVITY,
    TOOL_ACTIVITY,
    is_mcp_result,
    mcp_result_text,
    mcp_tool_of,
)
from .fork_rows import ForkFacts, fork_facts, served_step
from .format import content_text, json_value, payload_text, payloads_text, to_json
from .payload_memo import ConversationMemo, ModelInput, ToolRequest, model_result
from .timeline import State, Step, build_timeline, describe_failure

APPROVAL_MARKER: Final = "duragent.approval_requested"
DECIDE_UPDATE: Final = "duragent_decide_approval"
INTERRUPTED_TYPE: Final = "ActivityAttemptInterrupted"
GUARDRAIL_TYPES: Final = ("InputGuardrailTripwireTriggered", "OutputGuardrailTripwireTriggered")


@dataclass
class Approval:
    """A human decision a tool call waits for (or got)."""

    call_id: str
    state: str = "pending"
    """``pending``, ``approved`` or ``rejected``."""
    message: str = ""
    decided_by: str = ""
    requested_at: int = 0


@dataclass
class ToolCard:
    """One tool call the model asked for, and what became of it."""

    call_id: str
    name: str
    agent: str
    arguments: str
    time: int
    event_id: int
    seq: int | None = None
    """The activity that ran it (None: not run, e.g. rejected or handled in the workflow)."""
    scheduled_event_id: int | None = None
    state: str = State.WAITING
    result: str | None = None
    output: str | None = None
    """What the model was shown as the tool's output (from the next model call's input)."""
    error: str = ""
    attempts: int = 0
    notes: list[Any] = field(default_factory=lambda: [])
    duration_ms: int | None = None
    interrupted: bool = False
    """An at-most-once attempt was interrupted by a crash and not run again."""
    served_from_history: bool = False
    reused: str = ""
    """In a fork: how the call was taken from the source instead of run (``reused``:
    copied with the history before the fork point; ``served``: served from the recording;
    ``not run``: a fork that refused to run it)."""
    approval: Approval | None = None
    kind: str = "tool"


@dataclass
class ModelTurn:
    """One model call: who asked, what it cost, what the model answered."""

    seq: int
    agent: str
    model: str
    time: int
    event_id: int
    number: int = 0
    """1 for the run's first model call, 2 for the next..."""
    state: str = State.WAITING
    text: str = ""
    reasoning: str = ""
    tool_calls: list[str] = field(default_factory=lambda: [])
    handoff_to: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: int = 0
    attempt: int = 0
    worker: str = ""
    error: str = ""
    notes: list[Any] = field(default_factory=lambda: [])
    duration_ms: int | None = None
    served_from_history: bool = False
    reused: str = ""
    """In a fork: ``reused`` (copied from the source) or ``served`` (from its recording)."""
    kind: str = "model"


@dataclass
class Message:
    """A message into the conversation (the user's, or a system/developer note)."""

    role: str
    text: str
    time: int
    event_id: int
    kind: str = "message"


@dataclass
class Outcome:
    """How the run ended: the final answer, or the failure (guardrail verdicts included)."""

    state: str
    text: str
    time: int
    event_id: int
    guardrail: bool = False
    kind: str = "outcome"


@dataclass
class StepItem:
    """A timeline step that is not a model or tool call (plain activity, timer, signal...)."""

    step: Step
    kind: str = "step"


Item = ToolCard | ModelTurn | Message | Outcome | StepItem


@dataclass
class Conversation:
    """The run as items, plus what the page header needs."""

    items: list[Item]
    is_agent: bool
    pending_approvals: list[ToolCard]
    model_calls: int
    tool_calls: int
    item_calls: list[int] = field(default_factory=lambda: [])
    """For each item, the model call it belongs to (:attr:`ModelTurn.number`; the messages
    a call's input adds belong to that call; 0 before the first call)."""

    def items_for(self, first: int, last: int) -> list[Item]:
        """The items of model calls ``first`` to ``last`` (numbers, inclusive); the first
        page also gets what came before the first call."""
        low = 0 if first <= 1 else first
        return [i for i, n in zip(self.items, self.item_calls, strict=True) if low <= n <= last]


def _value(payload: Payload | Sequence[Payload] | None) -> Any:
    if isinstance(payload, Sequence) and not isinstance(payload, Payload):
        payload = payload[0] if payload else None
    return json_value(payload)


_text_of = content_text


def _output_text(output: Any) -> str:
    """A function_call_output's ``output`` (a string, or a list of content parts)."""
    return output if isinstance(output, str) else _text_of(output)


def _result_text(value: Any, fallback: Payload | None) -> str:
    if isinstance(value, str):
        return value
    if value is None and fallback is not None:
        return payload_text(fallback)
    return to_json(value)


class _Builder:
    def __init__(
        self,
        steps: list[Step],
        window: tuple[int, int] | None,
        memo: ConversationMemo | None = None,
    ) -> None:
        self.steps = {s.event_id: s for s in steps}
        self.window = window
        self.memo = memo
        self.in_order = True
        self.read_all = memo is not None and memo.builds > 0
        """Whether requests off the page are read too (only to be remembered)."""
        """Whether every model call's request so far was read (what a request adds depends
        on the ones before it: only then is it taken from or kept in the memo)."""
        self.items: list[Item] = []
        self.item_calls: list[int] = []
        self.turns: dict[int, ModelTurn] = {}
        self.cards: dict[str, ToolCard] = {}
        self.card_by_seq: dict[int, ToolCard] = {}
        self.handoffs: dict[int, dict[str, str]] = {}
        """Per model call: handoff tool name -> the agent it hands off to."""
        self.seen_inputs: Counter[str] = Counter()
        self.worker_of: dict[int, str] = {}
        """Which worker completed each model/tool activity (by seq)."""
        self.last_worker: str | None = None
        self.model_calls = 0
        self.prefix = 0
        """In a fork: the events copied from its source (their calls were reused)."""
        self._unrun: dict[str, deque[ToolCard]] = {}
        """Cards by the tool's name, in call order, while no activity ran them (the first
        ones may have run since: skipped when met)."""

    def append(self, item: Item, call: int | None = None) -> None:
        self.items.append(item)
        self.item_calls.append(self.model_calls if call is None else call)

    def add_card(self, card: ToolCard, call: int | None = None) -> None:
        """A new tool call's card, listed (in model call ``call``) and waiting to be run."""
        self.cards[card.call_id] = card
        self._unrun.setdefault(card.name, deque()).append(card)
        self.append(card, call)

    def shows(self, number: int) -> bool:
        """Whether the items of model call ``number`` are on the page (0: before the first
        call, shown with the first page)."""
        if self.window is None:
            return True
        first, last = self.window
        return first <= number <= last or (number == 0 and first <= 1)

    def reads_input(self, number: int) -> int:
        """Whether model call ``number``'s input is decoded: 2 to show it, 1 only to know
        what the calls before the window showed (the call just before it) or to give the
        window's last tool cards the output the model was shown (the call just after it),
        0 not at all (outside the window)."""
        if self.window is None:
            return 2
        first, last = self.window
        if first <= number <= last:
            return 2
        return 1 if number in (first - 1, last + 1) else 0

    # -- model calls --------------------------------------------------------------------------

    def model_scheduled(self, e: ev.ActivityTaskScheduled) -> None:
        number = self.model_calls + 1
        reads = self.reads_input(number)
        # What a request adds depends on those before it: the memo has only requests read
        # in call order. A run built before (requested again) has the requests off the
        # page read too, once: then each page and each request on a grown run reads only
        # the requests it has not seen. The first build reads only what its page needs.
        memo = self.memo.inputs if self.memo is not None and self.in_order else None
        read = memo.get(e.event_id) if memo is not None else None
        if read is None and (reads or (memo is not None and self.read_all)):
            read = self._read_input(e, _value(e.input))
            if memo is not None:
                memo[e.event_id] = read
        elif read is None:
            # Outside the window the request (the whole conversation so far) is not
            # decoded: the agent is the activity's summary, the model comes with the result.
            read = ModelInput(str(e.summary or "agent"), "", (), (), ())
            self.in_order = False
        self.handoffs[e.seq] = dict(read.handoffs)
        self._apply_input(read, e, number, show=reads == 2)
        turn = ModelTurn(
            seq=e.seq,
            agent=read.agent,
            model=read.model,
            time=e.time,
            event_id=e.event_id,
            number=number,
            reused="reused" if e.event_id <= self.prefix else "",
        )
        self.turns[e.seq] = turn
        self.append(turn, number)
        self.model_calls = number

    def _read_input(self, e: ev.Event, request: Any, agent: str | None = None) -> ModelInput:
        """What a model call's decoded ``request`` adds to what the calls before it showed:
        its messages new to the conversation, and the outputs of tool calls the model is
        shown for the first time (read against the cards so far)."""
        config: dict[str, Any] = {}
        items: Any = None
        if isinstance(request, dict):
            config = request.get("config") or {}  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            items = request.get("input")  # pyright: ignore[reportUnknownMemberType]
        handoffs: Any = config.get("handoffs") or []
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        if not isinstance(items, list):
            items = []
        counts: Counter[str] = Counter()
        messages: list[tuple[str, str, str]] = []
        outputs: list[tuple[str, str]] = []
        shown: set[str] = set()
        for item in items:  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(item, dict):
                continue
            kind = item.get("type")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if kind == "function_call_output":
                call_id = str(item.get("call_id"))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                card = self.cards.get(call_id)
                if card is not None and card.output is None and call_id not in shown:
                    shown.add(call_id)
                    outputs.append((call_id, _output_text(item.get("output"))))  # pyright: ignore[reportUnknownMemberType]
                continue
            role = item.get("role")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if role not in ("user", "system", "developer") or kind not in (None, "message"):
                continue
            key = to_json(item)
            counts[key] += 1
            if counts[key] > self.seen_inputs[key]:
                text = _text_of(item.get("content"))  # pyright: ignore[reportUnknownMemberType]
                messages.append((key, str(role), text))  # pyright: ignore[reportUnknownArgumentType]
        return ModelInput(
            agent=agent or str(config.get("agent") or getattr(e, "summary", "") or "agent"),
            model=str(config.get("model") or ""),
            handoffs=tuple(
                (str(h.get("tool_name")), str(h.get("agent_name") or h.get("tool_name")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                for h in handoffs  # pyright: ignore[reportUnknownVariableType]
                if isinstance(h, dict)
            ),
            messages=tuple(messages),
            outputs=tuple(outputs),
        )

    def _apply_input(self, read: ModelInput, e: ev.Event, number: int, *, show: bool) -> None:
        """Give tool cards the output the model was shown and note the call's new messages
        (``show``: also list them, in model call ``number``)."""
        for call_id, output in read.outputs:
            card = self.cards.get(call_id)
            if card is not None and card.output is None:
                card.output = output
        for key, role, text in read.messages:
            self.seen_inputs[key] += 1
            if show:
                self.append(Message(role, text, e.time, e.event_id), number)

    def model_completed(self, e: ev.ActivityTaskCompleted, turn: ModelTurn) -> None:
        # A fork's served call (negative seq) has no completion event of its own to key.
        memo = self.memo.results if self.memo is not None and e.seq > 0 else None
        result = memo.get(e.event_id) if memo is not None else None
        if result is None:
            result = model_result(_value(e.result))
            if memo is not None:
                memo[e.event_id] = result
        handoffs = self.handoffs.get(turn.seq, {})
        for call_id, name, arguments in result.calls:
            target = handoffs.get(name)
            if target is not None:
                turn.handoff_to = target
                continue
            turn.tool_calls.append(name)
            self.add_card(
                ToolCard(call_id, name, turn.agent, arguments, e.time, e.event_id), turn.number
            )
        turn.input_tokens = result.input_tokens
        turn.output_tokens = result.output_tokens
        turn.cached_tokens = result.cached_tokens
        turn.latency_ms = result.latency_ms
        turn.model = result.model or turn.model
        turn.attempt = e.attempt
        turn.worker = e.worker
        turn.text = result.text
        turn.reasoning = result.reasoning

    # -- tool calls ---------------------------------------------------------------------------

    def tool_scheduled(self, e: ev.ActivityTaskScheduled) -> bool:
        """Join a tool activity to the card of the call it runs; False if it is none."""
        card: ToolCard | None = None
        if e.activity_type == TOOL_ACTIVITY and not self.shows(self.model_calls):
            # Off the page: joined to its card by the tool's name (the activity's summary)
            # in call order, without decoding its request, and its result is not decoded
            # either (nothing of it is shown). A call with no card is read as below.
            card = self._unrun_card(e.summary) if e.summary else None
            if card is not None:
                card.seq = e.seq
                card.scheduled_event_id = e.event_id
                return True
        if e.activity_type == TOOL_ACTIVITY:
            request = self._tool_request(e)
            if request is not None:
                key, call_id, name, agent, arguments = request
                card = self.cards.get(key)
                if card is None:  # a tool called outside a recorded model turn
                    card = ToolCard(
                        call_id=call_id or f"seq-{e.seq}",
                        name=name or e.summary,
                        agent=agent,
                        arguments=arguments,
                        time=e.time,
                        event_id=e.event_id,
                    )
                    self.add_card(card)
        elif (mcp_tool := self._mcp_tool(e)) is not None:
            # an MCP tool call: the model called the tool by its own name; the card takes
            # the server's too (the activity's summary, ``weather.get_alerts``)
            card = self._unrun_card(mcp_tool)
            if card is not None and card.seq is None:
                card.name = e.summary or card.name
        elif e.summary:
            # activity_as_tool: the activity is named for itself, its summary is the tool
            card = self._unrun_card(e.summary)
        if card is None or card.seq is not None:
            return False
        card.seq = e.seq
        card.scheduled_event_id = e.event_id
        if e.event_id <= self.prefix:
            card.reused = "reused"
        self.card_by_seq[e.seq] = card
        return True

    def _tool_request(self, e: ev.ActivityTaskScheduled) -> ToolRequest:
        memo = self.memo.tool_requests if self.memo is not None else None
        if memo is not None and e.event_id in memo:
            return memo[e.event_id]
        value = _value(e.input)
        request: ToolRequest = None
        if isinstance(value, dict):
            request = (
                str(value.get("call_id")),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                str(value.get("call_id") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                str(value.get("name") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                str(value.get("agent") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                str(value.get("arguments") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            )
        if memo is not None:
            memo[e.event_id] = request
        return request

    def _mcp_tool(self, e: ev.ActivityTaskScheduled) -> str | None:
        """The MCP tool an activity calls (None: it calls none; other requests are not
        decoded)."""
        if e.activity_type not in (MCP_CALL, MCP_SESSION_CALL):
            return None
        memo = self.memo.mcp_tools if self.memo is not None else None
        if memo is not None and e.event_id in memo:
            return memo[e.event_id]
        tool = mcp_tool_of(e.activity_type, _value(e.input))
        if memo is not None:
            memo[e.event_id] = tool
        return tool

    def _unrun_card(self, name: str) -> ToolCard | None:
        """The first card of a call of ``name`` no activity ran yet (and not rejected)."""
        waiting = self._unrun.get(name)
        if not waiting:
            return None
        while waiting and waiting[0].seq is not None:
            waiting.popleft()  # ran since
        return next(
            (
                c
                for c in waiting
                if c.seq is None and (c.approval is None or c.approval.state == "approved")
            ),
            None,
        )

    # -- a fork's served calls ----------------------------------------------------------------

    def served(self, e: ev.MarkerRecorded, facts: ForkFacts | None) -> None:
        """A call a fork served from its source's recording (or refused to run)."""
        d = e.details
        results = facts.results if facts is not None else ()

        def payload(key: str) -> Payload | None:
            i = d.get(key)
            return results[i] if isinstance(i, int) and 0 <= i < len(results) else None

        _, text, served = served_step(d)
        result = payload("r")
        # Rendered like the activity a call would have been, completed by the recording.
        done = ev.ActivityTaskCompleted(
            event_id=e.event_id,
            time=e.time,
            seq=-e.event_id,
            result=result or NULL_PAYLOAD,
            attempt=0,
            started_time=0,
        )
        if d.get("kind") == "model":
            number = self.model_calls + 1
            reads = self.reads_input(number)
            if reads or (self.read_all and self.in_order):
                request = _value(payload("q"))
                items: Any = request.get("input") if isinstance(request, dict) else None  # pyright: ignore[reportUnknownMemberType]
                self._apply_input(self._read_input(e, {"input": items}), e, number, show=reads == 2)
            else:
                self.in_order = False
            turn = ModelTurn(
                seq=-e.event_id,
                agent=str(d.get("agent") or "agent"),
                model="",
                time=e.time,
                event_id=e.event_id,
                number=number,
                reused="served",
            )
            self.turns[turn.seq] = turn
            self.append(turn, number)
            self.model_calls = number
            if result is not None:
                self.model_completed(done, turn)
            return
        card = self.cards.get(str(d.get("call_id", "")))
        if card is None:
            return
        card.reused = "served" if served else "not run"
        if result is not None:
            self.tool_closed(done, card)
        else:
            card.error = text

    def tool_closed(self, e: ev.Event, card: ToolCard) -> None:
        if isinstance(e, ev.ActivityTaskCompleted):
            # A fork's served call (negative seq) has no completion event of its own to key.
            memo = self.memo.texts if self.memo is not None and e.seq > 0 else None
            text = memo.get(e.event_id) if memo is not None else None
            if text is None:
                value = _value(e.result)
                if isinstance(value, dict) and "output" in value and "context" in value:
                    value = value["output"]  # a tool that took the run context
                if is_mcp_result(value):
                    value = mcp_result_text(value)
                text = _result_text(value, e.result)
                if memo is not None:
                    memo[e.event_id] = text
            card.result = text
        elif isinstance(e, ev.ActivityTaskFailed | ev.ActivityTaskTimedOut):
            card.error = describe_failure(e.failure)
            card.interrupted = e.failure is not None and e.failure.type == INTERRUPTED_TYPE
        elif isinstance(e, ev.ActivityTaskCanceled):
            card.error = "cancelled"

    def decision(self, e: ev.WorkflowExecutionUpdateAccepted) -> tuple[str, bool, str] | None:
        """An approval decision: (call id, approved, message)."""
        memo = self.memo.decisions if self.memo is not None else None
        if memo is not None and e.event_id in memo:
            return memo[e.event_id]
        value = _value(e.input)
        found = None
        if isinstance(value, dict):
            found = (
                str(value.get("call_id")),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                bool(value.get("approve")),  # pyright: ignore[reportUnknownMemberType]
                str(value.get("message") or ""),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            )
        if memo is not None:
            memo[e.event_id] = found
        return found

    def outcome_text(self, e: ev.WorkflowExecutionCompleted) -> str:
        found = self.memo.texts.get(e.event_id) if self.memo is not None else None
        if found is None:
            value = _value(e.result)
            found = value if isinstance(value, str) else payload_text(e.result)
            if self.memo is not None:
                self.memo.texts[e.event_id] = found
        return found

    # -- workers ------------------------------------------------------------------------------

    def task_completed(self, e: ev.WorkflowTaskCompleted) -> None:
        worker = e.worker
        if self.last_worker is not None and worker and worker != self.last_worker:
            # The new worker replayed everything others recorded: served from history.
            for seq, by in self.worker_of.items():
                if by != worker:
                    turn = self.turns.get(seq)
                    if turn is not None and not turn.reused:
                        turn.served_from_history = True
                    card = self.card_by_seq.get(seq)
                    if card is not None and not card.reused:
                        card.served_from_history = True
        self.last_worker = worker or self.last_worker


def build_conversation(
    events: Sequence[ev.Event],
    attempts: Sequence[ActivityAttempt] = (),
    pending: Sequence[PendingActivity] = (),
    *,
    now_ms: int,
    window: tuple[int, int] | None = None,
    steps: list[Step] | None = None,
    memo: ConversationMemo | None = None,
) -> Conversation:
    """Fold a run's history into conversation items.

    Args:
        events: The run's history.
        attempts: Failed, timed-out and interrupted activity attempts.
        pending: Activities not finished yet.
        now_ms: The current time, for "running for ..." notes.
        window: Model call numbers ``(first, last)`` (inclusive) whose items are to be
            shown (:meth:`Conversation.items_for`): only their inputs are decoded, so a
            page of a long run costs what the page shows. Items of other calls are still
            listed, without the messages their inputs add, tool outputs as the model saw
            them, or handoffs. None: all.
        steps: The run's timeline, when the caller built it already from the same
            arguments (items share its steps, read only).
        memo: What this run's payloads said, filled here and reused by the next build of
            the same run (a server keeps one per run): a long run's model calls are decoded
            once, not on every request, and a grown run's new events only. Model requests
            are remembered only when read in call order from the first: the first build
            reads only its page's (and those before it that it has in the memo); later ones
            read every request once, off the page too.
    """
    if steps is None:
        steps = build_timeline(events, attempts, pending, now_ms=now_ms)
    b = _Builder(steps, window, memo)
    if memo is not None:
        memo.builds += 1
    facts: ForkFacts | None = None
    activity_types: dict[int, str] = {}
    for e in events:
        match e:
            case ev.ActivityTaskScheduled():
                activity_types[e.seq] = e.activity_type
                if e.activity_type == MODEL_ACTIVITY:
                    b.model_scheduled(e)
                elif not b.tool_scheduled(e):
                    step = b.steps.get(e.event_id)
                    if step is not None:
                        b.append(StepItem(step))
            case (
                ev.ActivityTaskCompleted()
                | ev.ActivityTaskFailed()
                | ev.ActivityTaskTimedOut()
                | ev.ActivityTaskCanceled()
            ):
                turn = b.turns.get(e.seq)
                card = b.card_by_seq.get(e.seq)
                if isinstance(e, ev.ActivityTaskCompleted) and (turn or card):
                    b.worker_of[e.seq] = e.worker
                if turn is not None:
                    if isinstance(e, ev.ActivityTaskCompleted):
                        b.model_completed(e, turn)
                    else:
                        turn.error = describe_failure(getattr(e, "failure", None))
                if card is not None:
                    b.tool_closed(e, card)
            case ev.WorkflowExecutionStarted():
                facts = fork_facts([e])
                b.prefix = facts.own.prefix_events if facts is not None else 0
                step = b.steps.get(e.event_id)
                if step is not None and facts is not None:
                    b.append(StepItem(step))  # says where the fork came from
            case ev.MarkerRecorded() if e.name == SERVED_MARKER:
                b.served(e, facts)
            case ev.MarkerRecorded() if e.name == APPROVAL_MARKER:
                details = e.details if isinstance(e.details, dict) else {}
                call_id = str(details.get("call_id", ""))
                card = b.cards.get(call_id)
                if card is None:
                    card = ToolCard(
                        call_id=call_id,
                        name=str(details.get("tool", "")),
                        agent=str(details.get("agent", "")),
                        arguments=str(details.get("arguments", "")),
                        time=e.time,
                        event_id=e.event_id,
                    )
                    b.add_card(card)
                card.approval = Approval(call_id, requested_at=e.time)
            case ev.WorkflowExecutionUpdateAccepted() if e.update_name == DECIDE_UPDATE:
                decision = b.decision(e)
                if decision is not None:
                    call_id, approve, message = decision
                    card = b.cards.get(call_id)
                    if card is not None and card.approval is not None:
                        card.approval.state = "approved" if approve else "rejected"
                        card.approval.message = message
                        card.approval.decided_by = e.identity
            case ev.WorkflowExecutionUpdateCompleted():
                pass  # the decision's acceptance above says it all
            case ev.WorkflowTaskCompleted():
                b.task_completed(e)
            case ev.WorkflowExecutionCompleted():
                b.append(Outcome(State.OK, b.outcome_text(e), e.time, e.event_id))
            case ev.WorkflowExecutionFailed():
                guardrail = e.failure is not None and any(
                    g in (e.failure.type or "") or g in (e.failure.message or "")
                    for g in GUARDRAIL_TYPES
                )
                text = describe_failure(e.failure)
                b.append(Outcome(State.FAILED, text, e.time, e.event_id, guardrail))
            case ev.WorkflowExecutionCanceled():
                detail = payloads_text(e.details)
                b.append(Outcome(State.CANCELLED, detail, e.time, e.event_id))
            case ev.WorkflowExecutionTerminated():
                b.append(Outcome(State.FAILED, e.reason, e.time, e.event_id))
            case _:
                step = b.steps.get(e.event_id)
                if step is not None and not step.title.startswith("workflow "):
                    b.append(StepItem(step))
    for card in b.cards.values():
        step = b.steps.get(card.scheduled_event_id or -1)
        if step is not None:
            card.state = step.state
            card.attempts = step.attempts
            card.notes = step.notes
            card.duration_ms = step.duration_ms
        elif card.approval is not None and card.approval.state == "rejected":
            card.state = State.CANCELLED
        elif card.output is not None:
            card.state = State.OK  # handled without an activity (e.g. an SDK error message)
        if card.interrupted:
            card.state = State.FAILED
    for turn in b.turns.values():
        step = b.steps.get(turn.event_id)
        if step is not None:
            turn.state = step.state
            turn.notes = step.notes
            turn.duration_ms = step.duration_ms
            turn.attempt = max(turn.attempt, step.attempts)
    waiting = [
        c for c in b.cards.values() if c.approval is not None and c.approval.state == "pending"
    ]
    closed = bool(events) and isinstance(events[-1], ev.CLOSE_EVENT_TYPES)
    return Conversation(
        items=b.items,
        is_agent=b.model_calls > 0 or bool(b.cards),
        pending_approvals=[] if closed else waiting,
        model_calls=b.model_calls,
        tool_calls=len(b.cards),
        item_calls=b.item_calls,
    )
