"""Write the recorded runs the API's responses are pinned on:
``python -m tests.server.recorded.make_recorded``.

Each run's history (``NAME.history.json``, as ``duragent export`` writes it) and, in
``NAME.responses.json``, the bodies the conversation and timeline endpoints answered for
it, whole and cut after some of its events (a run read while it was running), as the server
built them before the endpoints were paged and memoised (commit b731e89). Re-run only to
record new runs: the bodies are what later code must keep answering byte for byte.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from duragent import Client, Worker
from duragent.history import WorkflowHistory
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.server.source import RunSource
from duragent.testing.scripted_model import ScriptedModelProvider
from duragent.views.conversation import build_conversation
from duragent.views.timeline import build_timeline

from ..ui_app import ACTIVITIES, SCRIPTS, TASK_QUEUE, WORKFLOWS, AskAgent, Pipeline

HERE = Path(__file__).parent


def cuts(length: int) -> list[int]:
    """Where a run's history is cut (as if read while running): after a third and two
    thirds of its events."""
    return [length // 3, 2 * length // 3]


def _body(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)  # as the API writes it


def _old_responses(workflow_id: str, run_id: str, events: list[Any]) -> dict[str, str]:
    """The conversation and timeline bodies as the server built them at b731e89 (the whole
    run folded, no failed attempts or pending activities recorded)."""
    steps = build_timeline(events, now_ms=0)
    conv = build_conversation(events, now_ms=0, steps=steps)
    conversation = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "is_agent": conv.is_agent,
        "items": [dataclasses.asdict(i) for i in conv.items],
        "pending_approvals": [dataclasses.asdict(c) for c in conv.pending_approvals],
    }
    timeline = {"steps": [dataclasses.asdict(s) for s in steps]}
    return {"conversation": _body(conversation), "timeline": _body(timeline)}


def responses_of(text: str) -> dict[str, dict[str, str]]:
    """The bodies for the whole history and for its cuts, by the last event id read."""
    history = WorkflowHistory.from_json(text)
    events = list(history.events)
    found: dict[str, dict[str, str]] = {}
    for end in [*cuts(len(events)), len(events)]:
        last = events[end - 1].event_id
        found[str(last)] = _old_responses(history.workflow_id, history.run_id, events[:end])
    return found


async def _record(client: Client) -> dict[str, Any]:
    """Run the recorded workflows to their end; their histories by name."""
    source = RunSource(client)
    await client.start_workflow(
        AskAgent.run, args=["looper", "question for looper"], id="looper", task_queue=TASK_QUEUE
    )
    for name in ("refunder", "refunder-rejected"):
        await client.start_workflow(
            AskAgent.run, args=["refunder", f"refund for {name}"], id=name, task_queue=TASK_QUEUE
        )
    order = await client.start_workflow(Pipeline.run, "o-1", id="pipeline", task_queue=TASK_QUEUE)
    await client.get_workflow_handle("looper").result(timeout=60)
    for name, approve in (("refunder", True), ("refunder-rejected", False)):
        while not (await source.summary(name))[1].pending_approvals:
            await asyncio.sleep(0.05)
        call_id = (await source.summary(name))[1].pending_approvals[0].call_id
        decision = {"call_id": call_id, "approve": approve, "message": "no receipt"}
        await client.get_workflow_handle(name).execute_update(
            "duragent_decide_approval", args=[decision]
        )
        await client.get_workflow_handle(name).result(timeout=30)
    await asyncio.sleep(0.2)
    await order.signal(Pipeline.ship)
    await order.result(timeout=30)
    return {
        name: await source.export(name)
        for name in ("looper", "refunder", "refunder-rejected", "pipeline")
    }


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        client = await Client.connect(f"sqlite:///{Path(tmp) / 'recorded.db'}")
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=list(WORKFLOWS),
            activities=list(ACTIVITIES),
            plugins=[OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(SCRIPTS))],
        ):
            histories = await _record(client)
        await client.close()
    for name, text in histories.items():
        (HERE / f"{name}.history.json").write_text(text)
        bodies = responses_of(text)
        (HERE / f"{name}.responses.json").write_text(json.dumps(bodies, indent=1) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
