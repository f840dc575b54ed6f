"""Compare two agent runs: where their conversations diverge, and what each spent.

Each run's conversation is read from its history: the last model call's input plus that
call's output (the whole conversation the agent saw, with tool results), each item labelled
with the model call that produced it. The two conversations are aligned item by item
(``difflib``, on the item's content: the ids models give items and tool calls do not count);
the identical prefix is collapsed, the first divergence named, and every differing item
shown (text diffs for messages and tool results, per-argument changes for tool calls). The
final outputs and usage (calls, tokens, latency; what a fork reused from its source) come
with it. Pure: histories in, a :class:`RunDiff` out; no I/O, no Agents SDK import.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .._engine import events as ev
from .._fork.recording import ModelCallRecord, read_recording
from .format import content_text, json_value, to_json, truncate

Change = Literal["same", "changed", "only_a", "only_b"]


@dataclass
class Item:
    """One conversation item, in words."""

    kind: str
    """``user``, ``system``, ``assistant``, ``tool_call``, ``tool_result``, ``reasoning``
    or the item's own type."""
    text: str
    """Message text, a tool call's arguments (canonical JSON) or a tool's output."""
    name: str = ""
    """The tool of a tool call or result."""
    turn: int = 0
    """The model call that produced it (outputs) or first saw it (inputs)."""

    @property
    def key(self) -> str:
        return f"{self.kind}\0{self.name}\0{self.text}"

    def label(self) -> str:
        where = f"turn {self.turn} " if self.turn else ""
        if self.kind == "tool_call":
            return f"{where}tool call {self.name}({self.text})"
        if self.kind == "tool_result":
            return f"{where}tool result {self.name}: {truncate(self.text, 80)}"
        return f"{where}{self.kind}: {truncate(self.text, 80)}"


@dataclass
class ItemDiff:
    """Two aligned items (or one, where the other run has nothing there)."""

    change: Change
    a: Item | None
    b: Item | None
    detail: list[str] = field(default_factory=lambda: [])
    """How a changed item differs: text diff lines, or ``arg: old -> new`` lines."""


@dataclass
class Usage:
    """What one run's model calls cost; ``reused`` ones a fork took from its source."""

    model_calls: int = 0
    tokens: int = 0
    latency_ms: int = 0
    reused_calls: int = 0
    reused_tokens: int = 0
    models: list[str] = field(default_factory=lambda: [])

    @property
    def spent_calls(self) -> int:
        return self.model_calls - self.reused_calls

    @property
    def spent_tokens(self) -> int:
        return self.tokens - self.reused_tokens


@dataclass
class RunSide:
    workflow_id: str
    run_id: str
    status: str
    output: str | None
    """The final output as text (None while the run has not completed)."""
    usage: Usage
    forked_from: str | None = None
    """``workflow_id (run …) at model call k`` when the run is a fork."""
    unrecorded_tools: list[str] = field(default_factory=lambda: [])
    """A fork with recorded tools: the tool calls after its fork point that no recording
    matched (run live, refused, or failed by the unmatched-tools policy)."""


@dataclass
class RunDiff:
    """How run ``b`` differs from run ``a``."""

    a: RunSide
    b: RunSide
    identical_items: int
    """Conversation items identical at the start of both runs (collapsed when shown)."""
    identical_turns: int
    """Model calls identical (same request, same answer) at the start of both runs."""
    items: list[ItemDiff]
    """The aligned items after the identical prefix."""
    first_call_change: list[str] = field(default_factory=lambda: [])
    """How the first model call that differs differs (model, instructions, settings,
    answer), e.g. a fork's first live call."""

    @property
    def first_divergence(self) -> ItemDiff | None:
        return next((d for d in self.items if d.change != "same"), None)

    @property
    def same_output(self) -> bool:
        return self.a.output == self.b.output

    @property
    def identical(self) -> bool:
        return self.first_divergence is None and self.same_output

    def to_dict(self) -> dict[str, Any]:
        def side(s: RunSide) -> dict[str, Any]:
            u = s.usage
            return {
                "workflow_id": s.workflow_id,
                "run_id": s.run_id,
                "status": s.status,
                "output": s.output,
                "forked_from": s.forked_from,
                "unrecorded_tools": s.unrecorded_tools,
                "usage": {
                    "model_calls": u.model_calls,
                    "tokens": u.tokens,
                    "latency_ms": u.latency_ms,
                    "reused_calls": u.reused_calls,
                    "reused_tokens": u.reused_tokens,
                    "models": u.models,
                },
            }

        def item(i: Item | None) -> dict[str, Any] | None:
            if i is None:
                return None
            return {"kind": i.kind, "name": i.name, "text": i.text, "turn": i.turn}

        first = self.first_divergence
        return {
            "a": side(self.a),
            "b": side(self.b),
            "identical": self.identical,
            "same_output": self.same_output,
            "identical_items": self.identical_items,
            "identical_turns": self.identical_turns,
            "first_call_change": self.first_call_change,
            "first_divergence": None
            if first is None
            else {"change": first.change, "a": item(first.a), "b": item(first.b)},
            "items": [
                {"change": d.change, "a": item(d.a), "b": item(d.b), "detail": d.detail}
                for d in self.items
            ],
        }

    def render(self) -> str:
        """The diff as plain text (what ``duragent diff`` prints)."""
        out: list[str] = [
            f"--- a: {_side_title(self.a)}",
            f"+++ b: {_side_title(self.b)}",
        ]
        if self.identical_items:
            turns = (
                f", model calls 1-{self.identical_turns}" if self.identical_turns > 1 else ""
            ) or (", model call 1" if self.identical_turns == 1 else "")
            out.append(f"= {self.identical_items} identical items{turns} (collapsed)")
        if self.first_call_change:
            out.append(f"model call {self.identical_turns + 1} differs:")
            out.extend(f"    {line}" for line in self.first_call_change)
        first = self.first_divergence
        if first is None:
            out.append("conversations: identical")
        else:
            shown = first.a or first.b
            where = shown.turn if shown is not None else 0
            out.append(f"first divergence: turn {where}" if where else "first divergence:")
        for d in self.items:
            if d.change == "same":
                out.append(f"  {d.a.label() if d.a else ''}")
            elif d.change == "only_a":
                out.append(f"- {d.a.label() if d.a else ''}")
            elif d.change == "only_b":
                out.append(f"+ {d.b.label() if d.b else ''}")
            else:
                out.append(f"~ {d.a.label() if d.a else ''}")
                out.extend(f"    {line}" for line in d.detail)
        out.append("final output:" + (" same" if self.same_output else ""))
        if self.same_output:
            out.append(f"  {_output(self.a.output)}")
        else:
            out.append(f"- {_output(self.a.output)}")
            out.append(f"+ {_output(self.b.output)}")
        out.append("usage:")
        ua, ub = self.a.usage, self.b.usage
        for label, va, vb in (
            ("model calls", ua.model_calls, ub.model_calls),
            ("tokens", ua.tokens, ub.tokens),
            ("spent tokens", ua.spent_tokens, ub.spent_tokens),
        ):
            out.append(f"  {label:<13} {va} -> {vb}  ({_delta(vb - va)})")
        if ua.reused_calls or ub.reused_calls:
            out.append(
                f"  reused        {ua.reused_calls} calls / {ua.reused_tokens} tokens -> "
                f"{ub.reused_calls} calls / {ub.reused_tokens} tokens"
            )
        out.append(
            f"  latency       {ua.latency_ms} ms -> {ub.latency_ms} ms  "
            f"({_delta(ub.latency_ms - ua.latency_ms)} ms)"
        )
        if ua.models != ub.models:
            out.append(f"  models        {', '.join(ua.models)} -> {', '.join(ub.models)}")
        return "\n".join(out) + "\n"


def _delta(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def _output(text: str | None) -> str:
    return "(no output yet)" if text is None else truncate(text.replace("\n", " "), 200)


def _side_title(s: RunSide) -> str:
    title = f"{s.workflow_id} (run {s.run_id[:12]}, {s.status})"
    return f"{title}, fork of {s.forked_from}" if s.forked_from else title


# ------------------------------------------------------------------------------ reading


def _canonical(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), sort_keys=True, ensure_ascii=False)
    except ValueError:
        return arguments


_ID_KEYS = ("id", "call_id", "status")


def to_item(raw: Any, names: dict[str, str]) -> Item:
    """One SDK conversation item (as recorded) in words; ``names`` maps tool call ids to
    tool names (results name their tool through it)."""
    if isinstance(raw, str):
        return Item("user", raw)
    if not isinstance(raw, dict):
        return Item("other", to_json(raw))
    item: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
    kind = item.get("type")
    if kind == "function_call":
        name = str(item.get("name") or "")
        names[str(item.get("call_id") or "")] = name
        return Item("tool_call", _canonical(str(item.get("arguments") or "")), name)
    if kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else content_text(output)
        return Item("tool_result", text, names.get(str(item.get("call_id") or ""), ""))
    if kind == "reasoning":
        return Item("reasoning", content_text(item.get("summary")))
    role = item.get("role")
    if role in ("user", "system", "developer"):
        return Item("user" if role == "user" else "system", content_text(item.get("content")))
    if role == "assistant" or kind == "message":
        return Item("assistant", content_text(item.get("content")))
    rest = {k: v for k, v in item.items() if k not in _ID_KEYS}
    return Item(str(kind or "other"), to_json(rest))


def _request_input(call: ModelCallRecord) -> list[Any]:
    request = json_value(call.request)
    items: Any = request.get("input") if isinstance(request, dict) else None  # pyright: ignore[reportUnknownMemberType]
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    return list(items) if isinstance(items, list) else []  # pyright: ignore[reportUnknownArgumentType]


def _response_output(call: ModelCallRecord) -> list[Any]:
    result = json_value(call.result)
    response: Any = result.get("response") if isinstance(result, dict) else None  # pyright: ignore[reportUnknownMemberType]
    output: Any = response.get("output") if isinstance(response, dict) else None  # pyright: ignore[reportUnknownMemberType]
    return list(output) if isinstance(output, list) else []  # pyright: ignore[reportUnknownArgumentType]


def conversation(calls: Sequence[ModelCallRecord]) -> list[Item]:
    """The run's conversation: the last answered model call's input and output, each item
    labelled with the model call that first showed or produced it."""
    answered = [c for c in calls if c.result is not None and c.request is not None]
    if not answered:
        return []
    last = answered[-1]
    names: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    for call in calls:
        for raw in _request_input(call):
            first_seen.setdefault(to_item(raw, names).key, call.n)
        for raw in _response_output(call):
            first_seen.setdefault(to_item(raw, names).key, call.n)
    items = [to_item(raw, names) for raw in _request_input(last) + _response_output(last)]
    for item in items:
        item.turn = first_seen.get(item.key, 0)
    return items


def _config(call: ModelCallRecord) -> dict[str, Any]:
    request = json_value(call.request)
    config: Any = request.get("config") if isinstance(request, dict) else None  # pyright: ignore[reportUnknownMemberType]
    return config if isinstance(config, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def _call_change(a: ModelCallRecord, b: ModelCallRecord) -> list[str]:
    ca, cb = _config(a), _config(b)
    lines: list[str] = []
    model_a, model_b = a.model or ca.get("model"), b.model or cb.get("model")
    if model_a != model_b:
        lines.append(f"model: {model_a} -> {model_b}")
    if ca.get("agent") != cb.get("agent"):
        lines.append(f"agent: {ca.get('agent')} -> {cb.get('agent')}")
    if ca.get("system_instructions") != cb.get("system_instructions"):
        lines.append(
            f"instructions: {truncate(str(ca.get('system_instructions')), 60)!r} -> "
            f"{truncate(str(cb.get('system_instructions')), 60)!r}"
        )
    if ca.get("model_settings") != cb.get("model_settings"):
        lines.append(
            f"model settings: {to_json(ca.get('model_settings'))} -> "
            f"{to_json(cb.get('model_settings'))}"
        )
    key_a, key_b = _call_key(a), _call_key(b)
    if key_a[0].partition("\n")[2] != key_b[0].partition("\n")[2]:
        lines.append("input: differs")
    if key_a[1] != key_b[1]:
        lines.append("answer: differs")
    return lines


def _call_key(call: ModelCallRecord) -> tuple[str, str]:
    names: dict[str, str] = {}
    request = json_value(call.request)
    config: Any = request.get("config") if isinstance(request, dict) else None  # pyright: ignore[reportUnknownMemberType]
    ins = "\n".join(to_item(r, names).key for r in _request_input(call))
    outs = "\n".join(to_item(r, names).key for r in _response_output(call))
    return f"{to_json(config)}\n{ins}", outs


def _usage(calls: Sequence[ModelCallRecord]) -> Usage:
    u = Usage()
    for c in calls:
        u.model_calls += 1
        u.tokens += c.tokens
        u.latency_ms += c.latency_ms
        if c.reused:
            u.reused_calls += 1
            u.reused_tokens += c.tokens
        if c.model and c.model not in u.models:
            u.models.append(c.model)
    return u


def _final(events: Sequence[ev.Event]) -> tuple[str, str | None]:
    last = events[-1] if events else None
    if isinstance(last, ev.WorkflowExecutionCompleted):
        value = json_value(last.result)
        if isinstance(value, dict) and "final_output" in value:
            value = value["final_output"]  # the built-in agent workflow's outcome
        return "completed", value if isinstance(value, str) else to_json(value)
    if isinstance(last, ev.WorkflowExecutionFailed):
        message = last.failure.message if last.failure else "failed"
        return "failed", f"failed: {message}"
    if isinstance(last, ev.CLOSE_EVENT_TYPES):
        return type(last).__name__.removeprefix("WorkflowExecution").lower(), None
    return "running", None


def _detail(a: Item, b: Item) -> list[str]:
    if a.kind == "tool_call" and b.kind == "tool_call":
        lines: list[str] = []
        if a.name != b.name:
            lines.append(f"tool: {a.name} -> {b.name}")
        try:
            args_a, args_b = json.loads(a.text), json.loads(b.text)
        except ValueError:
            args_a = args_b = None
        if isinstance(args_a, dict) and isinstance(args_b, dict):
            for key in sorted(set(args_a) | set(args_b)):  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
                va, vb = args_a.get(key), args_b.get(key)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if va != vb:
                    lines.append(f"{key}: {to_json(va)} -> {to_json(vb)}")
            return lines
    if a.kind != b.kind or a.name != b.name:
        return [f"- {a.label()}", f"+ {b.label()}"]
    a_lines, b_lines = a.text.splitlines() or [""], b.text.splitlines() or [""]
    return [
        line
        for line in difflib.unified_diff(a_lines, b_lines, lineterm="", n=1)
        if not line.startswith(("---", "+++", "@@"))
    ]


def diff_histories(
    a: tuple[str, str, Sequence[ev.Event]], b: tuple[str, str, Sequence[ev.Event]]
) -> RunDiff:
    """Compare run ``b`` with run ``a``; each is ``(workflow_id, run_id, history)``."""
    sides: list[RunSide] = []
    calls: list[list[ModelCallRecord]] = []
    for workflow_id, run_id, events in (a, b):
        recording = read_recording(events)
        status, output = _final(events)
        side = RunSide(workflow_id, run_id, status, output, _usage(recording.model_calls))
        if recording.fork is not None:
            own = recording.fork.own
            side.forked_from = (
                f"{own.source_workflow_id} (run {own.source_run_id[:12]}) at model call "
                f"{own.at_model_call}"
            )
            if own.tools == "recorded":
                side.unrecorded_tools = [
                    f"{t.name}({t.arguments})"
                    for t in recording.tool_calls
                    if t.event_id > own.prefix_events and not t.served
                ]
        sides.append(side)
        calls.append(recording.model_calls)
    identical_turns = 0
    first_call_change: list[str] = []
    for ca, cb in zip(calls[0], calls[1], strict=False):
        if _call_key(ca) != _call_key(cb):
            first_call_change = _call_change(ca, cb)
            break
        identical_turns += 1
    conv_a, conv_b = conversation(calls[0]), conversation(calls[1])
    matcher = difflib.SequenceMatcher(
        a=[i.key for i in conv_a], b=[i.key for i in conv_b], autojunk=False
    )
    items: list[ItemDiff] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            items.extend(
                ItemDiff("same", conv_a[i], conv_b[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
            continue
        pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(pairs):
            ia, ib = conv_a[i1 + k], conv_b[j1 + k]
            items.append(ItemDiff("changed", ia, ib, _detail(ia, ib)))
        items.extend(ItemDiff("only_a", conv_a[i], None) for i in range(i1 + pairs, i2))
        items.extend(ItemDiff("only_b", None, conv_b[j]) for j in range(j1 + pairs, j2))
    prefix = 0
    while prefix < len(items) and items[prefix].change == "same":
        prefix += 1
    if prefix == len(items) and items:
        prefix = len(items)  # identical throughout: everything collapses
    return RunDiff(sides[0], sides[1], prefix, identical_turns, items[prefix:], first_call_change)
