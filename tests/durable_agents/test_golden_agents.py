"""Golden histories of agent runs keep replaying against current code.

``golden/vN/`` holds, for every version N of the agent wire format (``_wire.py`` says what
each holds), histories recorded by ``make_golden.py`` from the scripted agents of
``golden_agents.py``: tools (async, sync, an activity as a tool, parallel tool calls), a
handoff, an agent as a tool, structured output, approvals (one approved, one rejected),
parallel agents, a run that ran out of turns, tools changing the run context, the built-in
agent workflow (completed, and stopped by its budget) and a chat across continue-as-new.
Replaying them catches any change to the plugin, the SDK version or the engine that would
break agents already running. Each directory is frozen: its payloads carry its version.

Replay needs what the plugin gives a worker (the durable runner, its settings, the SDK's
exceptions as workflow failures): ``Replayer(plugins=[OpenAIAgentsPlugin()])``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.run import AgentRunner, get_default_agent_runner, set_default_agent_runner
from agents.tracing import get_trace_provider

from duragent import NondeterminismError, WorkflowHistory
from duragent.errors import SerializationError
from duragent.openai_agents import (
    MODEL_ACTIVITY,
    TOOL_ACTIVITY,
    AgentWorkflow,
    ChatWorkflow,
    OpenAIAgentsPlugin,
)
from duragent.openai_agents._request import ModelCallRequest, ModelCallResult
from duragent.openai_agents._tool_context import ToolCallOutcome
from duragent.openai_agents._tools import ToolCallRequest
from duragent.openai_agents._wire import AGENT_FORMAT_VERSION, UNVERSIONED
from duragent.serde import DataConverter, Payload
from duragent.testing import Replayer
from tests.durable_agents import golden_agents

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("v*/*.json"))
VERSIONS = range(UNVERSIONED, AGENT_FORMAT_VERSION + 1)
AGENT_ACTIVITIES = {MODEL_ACTIVITY, TOOL_ACTIVITY}
WORKFLOWS: list[type] = [*golden_agents.WORKFLOWS, AgentWorkflow, ChatWorkflow]
NEEDS_FAILURE_TYPES = {"max_turns"}
"""Histories that end in a failure the plugin declares (an SDK exception)."""


def agent_replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS, plugins=[OpenAIAgentsPlugin()])


@pytest.fixture
def durable_runner() -> Iterator[None]:
    """Put back the process's runner after the replayer's plugin installed its own."""
    previous = get_default_agent_runner()
    try:
        yield
    finally:
        set_default_agent_runner(previous)


@pytest.fixture
def plain_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK's own runner, as in a process where no worker with the plugin was created
    (with the SDK's tracing off, as the durable runner has it)."""
    monkeypatch.setattr(get_trace_provider(), "_manual_disabled", True)
    previous = get_default_agent_runner()
    set_default_agent_runner(AgentRunner())
    try:
        yield
    finally:
        set_default_agent_runner(previous)


def _kinds(path: Path) -> set[str]:
    return {e["type"] for e in json.loads(path.read_text())["events"]}


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("version", VERSIONS)
def test_golden_files_exist_for_every_wire_format_version(version: int) -> None:
    names = {p.stem for p in (GOLDEN_DIR / f"v{version}").glob("*.json")}
    expected = {"tools", "handoff", "approval", "parallel", "chat", "builtin_agent"}
    if version >= 3:
        expected.add("streamed")
    assert expected <= names, "run: .venv/bin/python -m tests.durable_agents.make_golden"


def _agent_payloads(path: Path) -> list[dict[str, Any]]:
    """The agent wire-format payloads of a golden history: model and tool requests, model
    results, and tool outcomes that carry a context."""
    events = json.loads(path.read_text())["events"]
    agent_seqs = {
        e["attrs"]["seq"]
        for e in events
        if e["type"] == "ActivityTaskScheduled" and e["attrs"]["activity_type"] in AGENT_ACTIVITIES
    }
    found: list[dict[str, Any]] = []
    for e in events:
        attrs = e["attrs"]
        if e["type"] == "ActivityTaskScheduled" and attrs["seq"] in agent_seqs:
            found.append(Payload(attrs["input"][0].encode()).to_json_value())
        elif e["type"] == "ActivityTaskCompleted" and attrs["seq"] in agent_seqs:
            value = Payload(attrs["result"].encode()).to_json_value()
            if isinstance(value, dict) and ("response" in value or "context" in value):
                found.append(value)  # pyright: ignore[reportUnknownArgumentType]
    return found


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=_name)
def test_golden_payloads_carry_the_version_of_their_directory(path: Path) -> None:
    version = int(path.parent.name.removeprefix("v"))
    payloads = _agent_payloads(path)
    assert payloads
    for payload in payloads:
        assert payload.get("v", UNVERSIONED) == version, payload


@pytest.mark.parametrize(
    ("hint", "value"),
    [
        (ModelCallRequest, {"config": {}, "input": "hi"}),
        (ModelCallResult, {"response": {}, "model": "m", "latency_ms": 1}),
        (ToolCallRequest, {"tool": "t", "name": "t", "call_id": "c", "arguments": "{}"}),
        (ToolCallOutcome, {"output": 1}),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_a_newer_wire_format_is_refused_by_name(hint: type, value: dict[str, Any]) -> None:
    payload = DataConverter().encode({"v": AGENT_FORMAT_VERSION + 1, **value})
    with pytest.raises(SerializationError, match=f"version {AGENT_FORMAT_VERSION + 1}.*newer"):
        DataConverter().decode(payload, hint)


async def test_replay_of_a_newer_model_result_fails_its_task_saying_why(
    durable_runner: None, tmp_path: Path
) -> None:
    """A history recorded by a newer Duragent stops the replay with the reason, it does not
    misread the response."""
    source = json.loads((GOLDEN_DIR / f"v{AGENT_FORMAT_VERSION}" / "tools.json").read_text())
    for event in source["events"]:
        attrs = event["attrs"]
        if event["type"] == "ActivityTaskCompleted" and '"response"' in attrs["result"]:
            attrs["result"] = attrs["result"].replace(
                f'{{"v":{AGENT_FORMAT_VERSION},', f'{{"v":{AGENT_FORMAT_VERSION + 1},', 1
            )
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(source))
    with pytest.raises(
        NondeterminismError, match=f"agent wire format version {AGENT_FORMAT_VERSION + 1}.*newer"
    ):
        await agent_replayer().replay_workflow(newer)


@pytest.mark.parametrize(
    "path",
    [p for p in GOLDEN_FILES if p.stem not in NEEDS_FAILURE_TYPES],
    ids=_name,
)
async def test_golden_agent_history_replays(path: Path, durable_runner: None) -> None:
    result = await agent_replayer().replay_workflow(path)
    assert result.replay_failure is None


@pytest.mark.parametrize(
    "path", [p for p in GOLDEN_FILES if p.stem in NEEDS_FAILURE_TYPES], ids=_name
)
async def test_golden_agent_history_that_failed_in_the_sdk_replays(
    path: Path, durable_runner: None
) -> None:
    result = await agent_replayer().replay_workflow(path)
    assert result.replay_failure is None


@pytest.mark.parametrize("version", VERSIONS)
def test_golden_files_cover_the_agent_features(version: int) -> None:
    by_name = {p.stem: p for p in (GOLDEN_DIR / f"v{version}").glob("*.json")}
    assert "WorkflowExecutionUpdateAccepted" in _kinds(by_name["approval"])
    assert "MarkerRecorded" in _kinds(by_name["approval"])
    assert "WorkflowExecutionContinuedAsNew" in _kinds(by_name["chat"])
    assert "WorkflowExecutionFailed" in _kinds(by_name["budget_exceeded"])
    notes = WorkflowHistory.from_json(by_name["tool_context"].read_text())
    tool_inputs = [
        e.input  # type: ignore[attr-defined]
        for e in notes.events
        if e.TYPE == "ActivityTaskScheduled" and getattr(e, "summary", "") == "take_note"
    ]
    # Each call carries the notebook as the previous call left it.
    assert [i[1].to_json_value()["value"]["notes"] for i in tool_inputs] == [[], ["milk"]]
    history = WorkflowHistory.from_json(by_name["tools"].read_text())
    summaries = [
        getattr(e, "summary", "") for e in history.events if e.TYPE == "ActivityTaskScheduled"
    ]
    # One model call, one tool; then two tools at once; then the answer.
    assert summaries == ["weather", "get_weather", "weather", "convert", "get_location", "weather"]


async def test_a_streamed_run_replays_the_same_stream_events(durable_runner: None) -> None:
    """``Runner.run_streamed`` in workflow code: replay gives ``stream_events()`` the events
    it gave when the run was recorded (from the recorded responses; history has no
    deltas), and the model requests say the calls were streamed."""
    path = GOLDEN_DIR / f"v{AGENT_FORMAT_VERSION}" / "streamed.json"
    history = WorkflowHistory.from_json(path.read_text())
    recorded = history.events[-1].result.to_json_value()["events"]  # type: ignore[attr-defined]
    requests = [
        e.input[0].to_json_value()  # type: ignore[attr-defined]
        for e in history.events
        if getattr(e, "activity_type", "") == MODEL_ACTIVITY
    ]
    assert requests and all(r["stream"] for r in requests)
    golden_agents.StreamedAsk.seen.clear()
    result = await agent_replayer().replay_workflow(path)
    assert result.replay_failure is None
    assert golden_agents.StreamedAsk.seen == [recorded]
    assert recorded.count("response.output_text.delta") == 1
    assert recorded.count("response.completed") == 3


async def test_replay_without_the_durable_runner_fails(
    plain_runner: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a process where no worker installed the plugin's runner, ``Runner.run`` is the
    SDK's own: it would call the model itself. Replay refuses (workflow code cannot do I/O)
    and says where; it never reaches a model."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(NondeterminismError, match=r"at history event 2 .* raised"):
        await Replayer(workflows=WORKFLOWS).replay_workflow(GOLDEN_DIR / "v1" / "tools.json")
