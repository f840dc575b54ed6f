"""The agentic loop, durable, without any agent framework.

An agent is a loop: ask the model what to do next; if it asks for tools, run them and add
their results to the conversation; stop when it answers without tool calls (or after too
many steps). Written as a workflow, each model call and each tool call is an activity, so a
crash loses nothing and repeats nothing that completed.

- The model call is one activity, ``chat_model``, taking OpenAI chat-completions messages. It
  calls an OpenAI-compatible endpoint (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``, with the
  client's own retries off: the engine retries) or, offline, the local model.
- Tools are dispatched by name to one *dynamic activity*: the workflow asks for an activity
  called ``get_weather_alerts`` and the dynamic activity, which receives every activity type
  without a handler of its own, looks the tool up by ``activity.info().activity_type``.
- Tool JSON schemas are generated from the tool functions' signatures and docstrings by
  :func:`tool_schema` (a dozen lines; no SDK needed).

    python -m examples.agentic_loop "Are there any weather alerts in California?"
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, get_type_hints

from duragent import ActivityError, Client, RetryPolicy, activity, workflow

from . import demo_support, llm, weather_api

TASK_QUEUE: Final = "agentic-loop"
CHAT_ACTIVITY: Final = "chat_model"
DEFAULT_QUESTION: Final = "Are there any weather alerts in California?"
INSTRUCTIONS: Final = (
    "You are a helpful weather assistant. Use the tools to answer questions about US weather "
    "alerts and the user's location. Answer in one or two short sentences."
)
MODEL_RETRIES: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
TOOL_RETRIES: Final = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)

ChatFunction = Callable[
    [Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]], Awaitable[dict[str, Any]]
]
"""``(messages, tools) -> assistant message (+ "usage")``, chat-completions style."""

# ------------------------------------------------------------------------- tool schemas

_JSON_TYPES: Final[dict[Any, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def _docstring_args(doc: str) -> dict[str, str]:
    """``{name: description}`` from a Google-style ``Args:`` section."""
    match = re.search(r"^\s*Args:\s*$(.*?)(?=^\s*\w[\w ]*:\s*$|\Z)", doc, re.M | re.S)
    described: dict[str, str] = {}
    current = None
    for line in (match.group(1) if match else "").splitlines():
        if m := re.match(r"^\s*(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line):
            current = m.group(1)
            described[current] = m.group(2).strip()
        elif current and line.strip():
            described[current] += " " + line.strip()
    return described


def tool_schema(fn: Callable[..., Any], name: str | None = None) -> dict[str, Any]:
    """A chat-completions tool definition generated from ``fn``'s signature and docstring."""
    doc = inspect.getdoc(fn) or ""
    described = _docstring_args(doc)
    hints = get_type_hints(fn)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        spec: dict[str, Any] = {"type": _JSON_TYPES.get(hints.get(param.name, str), "string")}
        if param.name in described:
            spec["description"] = described[param.name]
        properties[param.name] = spec
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    return {
        "type": "function",
        "function": {
            "name": name or fn.__name__,
            "description": doc.split("\n\n")[0].replace("\n", " "),
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


TOOL_SCHEMAS: Final = [tool_schema(fn, name) for name, fn in weather_api.TOOLS.items()]

# ---------------------------------------------------------------------------- activities


def make_chat_activity(chat: ChatFunction) -> Callable[..., Awaitable[dict[str, Any]]]:
    """The ``chat_model`` activity, calling ``chat`` (tests pass a scripted one)."""

    @activity.defn(name=CHAT_ACTIVITY)
    async def chat_model(
        messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """One model call: the next assistant message, with tool calls or an answer."""
        return await chat(messages, tools)

    return chat_model


chat_model = make_chat_activity(llm.chat_completion)


@activity.defn(dynamic=True)
async def run_tool(args: Sequence[Any]) -> str:
    """Every tool call: the tool is named by the activity type the workflow asked for.

    A bad call (unknown tool, wrong arguments) is answered with an error message the model can
    read and act on; a failing tool raises, so the engine retries it.
    """
    name = activity.info().activity_type
    fn = weather_api.TOOLS.get(name)
    if fn is None:
        return f"There is no tool called {name!r}. Tools: {', '.join(weather_api.TOOLS)}."
    arguments: Any = args[0] if args else {}
    try:
        inspect.signature(fn).bind(**arguments)
    except TypeError as err:
        return f"Invalid arguments for {name}: {err}"
    return str(await fn(**arguments))


# ------------------------------------------------------------------------------ workflow


@dataclass
class LoopRequest:
    question: str
    max_steps: int = 6


@dataclass
class LoopOutcome:
    answer: str
    model_calls: int
    tool_calls: list[str] = field(default_factory=lambda: [])
    finished: bool = True
    """False if the loop stopped at ``max_steps`` without an answer."""


@workflow.defn
class AgenticLoop:
    """Model, tools, model, tools, ... until the model answers."""

    @workflow.run
    async def run(self, request: LoopRequest) -> LoopOutcome:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": request.question},
        ]
        tool_calls: list[str] = []
        for step in range(1, request.max_steps + 1):
            reply: dict[str, Any] = await workflow.execute_activity(
                CHAT_ACTIVITY,
                args=[messages, TOOL_SCHEMAS],
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=MODEL_RETRIES,
                result_type=dict,
                summary="chat model",
            )
            message = {k: v for k, v in reply.items() if k != "usage"}
            messages.append(message)
            calls: list[dict[str, Any]] = message.get("tool_calls") or []
            if not calls:
                return LoopOutcome(str(message.get("content") or ""), step, tool_calls)
            for call in calls:
                name = str(call["function"]["name"])
                tool_calls.append(name)
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call["id"],
                        "content": await self.call_tool(name, call["function"].get("arguments")),
                    }
                )
        return LoopOutcome(
            "(no answer within the step limit)", request.max_steps, tool_calls, False
        )

    async def call_tool(self, name: str, raw_arguments: str | None) -> str:
        """Run one tool call as an activity named after the tool."""
        try:
            arguments = json.loads(raw_arguments or "{}")
        except ValueError:
            return f"The arguments for {name} are not valid JSON: {raw_arguments}"
        if not isinstance(arguments, dict):
            return f"The arguments for {name} must be a JSON object."
        try:
            result: str = await workflow.execute_activity(
                name,
                arguments,
                start_to_close_timeout=weather_api.TOOL_TIMEOUT,
                retry_policy=TOOL_RETRIES,
                result_type=str,
                summary=name,
            )
        except ActivityError as err:
            return f"The tool {name} failed: {err.cause}"
        return result


WORKFLOWS: Final = [AgenticLoop]
ACTIVITIES: Final = [chat_model, run_tool]


async def ask(client: Client, question: str, *, workflow_id: str) -> LoopOutcome:
    """Run the loop on ``question`` and wait for the outcome."""
    handle = await client.start_workflow(
        AgenticLoop.run, LoopRequest(question), id=workflow_id, task_queue=TASK_QUEUE
    )
    return await handle.result(timeout=300)


def total_tokens(events: Sequence[Any]) -> int:
    """Tokens reported by the recorded chat-model calls."""
    total = 0
    for event in events:
        if event.TYPE == "ActivityTaskCompleted":
            value = event.result.to_json_value()
            if isinstance(value, dict) and isinstance(value.get("usage"), dict):
                total += int(value["usage"].get("total_tokens") or 0)
    return total


async def main(question: str = DEFAULT_QUESTION, *, chat: ChatFunction | None = None) -> str:
    """Run the loop once, offline, and print what it did."""
    print(f"model: {llm.describe() if chat is None else getattr(chat, '__name__', 'custom')}")
    print(f"question: {question}")
    activities = None if chat is None else [make_chat_activity(chat), run_tool]
    with demo_support.offline_apis(), demo_support.temporary_store() as (db_url, _):
        async with demo_support.running_worker(
            db_url, sys.modules[__name__], activities=activities
        ) as (client, _worker):
            outcome = await ask(client, question, workflow_id="agentic-loop")
            history = await client.get_workflow_handle("agentic-loop").fetch_history()
            # (history payloads load lazily: read them while the store is open)
            print("steps (each one an activity in the workflow's history):")
            demo_support.print_steps(history.events)
            tokens = total_tokens(history.events)
            print(f"  {outcome.model_calls} model call(s), {tokens} tokens")
    print(f"answer: {outcome.answer}")
    return outcome.answer


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the durable agentic loop once.")
    parser.add_argument("question", nargs="?", default=DEFAULT_QUESTION)
    asyncio.run(main(demo_support.parse_args(parser).question))
