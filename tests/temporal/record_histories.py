"""Record the Temporal histories that ``test_history_translation.py`` reads.

Runs the workflows of ``tests/parity/app.py`` and the agents of
``tests/durable_agents/agents_app.py`` on a fresh dev server and writes each run's history
(temporalio's JSON, stack traces cut) to ``tests/fixtures/temporal_histories/``. Re-record
after a change to what Duragent writes on Temporal::

    .venv/bin/python -m tests.temporal.record_histories
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent.parent / "fixtures" / "temporal_histories"


def _strip(value: Any) -> Any:
    """Drop stack traces (machine paths) and build ids (they change every run)."""
    if isinstance(value, dict):
        return {
            k: _strip(v)
            for k, v in value.items()  # pyright: ignore[reportUnknownVariableType]
            if k not in ("stackTrace", "workerVersion", "sdkMetadata", "meteringMetadata")
        }
    if isinstance(value, list):
        return [_strip(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


async def _save(handle: Any, name: str) -> None:
    history = await handle.fetch_history()
    data = _strip(json.loads(history.to_json()))
    (OUT / f"{name}.json").write_text(json.dumps(data, separators=(",", ":")) + "\n")


async def record() -> None:
    import temporalio.client

    from duragent.openai_agents import OpenAIAgentsPlugin
    from duragent.openai_agents.approvals import ApprovalDecision
    from duragent.temporal.dev_server import DevServer
    from duragent.temporal.worker import TemporalWorker, temporal_data_converter
    from duragent.testing.scripted_model import ScriptedModelProvider

    from ..durable_agents import agents_app
    from ..parity import app

    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["DURAGENT_TEST_LOG"] = str(Path(tempfile.mkdtemp()) / "tools.log")
    with DevServer() as server:
        client = await temporalio.client.Client.connect(
            server.address, data_converter=temporal_data_converter()
        )
        plugin = OpenAIAgentsPlugin(model_provider=ScriptedModelProvider(agents_app.SCRIPTS))
        async with (
            TemporalWorker(
                client, task_queue="app", workflows=app.WORKFLOWS, activities=app.ACTIVITIES
            ),
            TemporalWorker(
                client,
                task_queue="agents",
                workflows=agents_app.WORKFLOWS,
                activities=agents_app.ACTIVITIES,
                plugins=[plugin],
            ),
        ):

            async def run(name: str, *args: Any, queue: str = "app", save: str = "") -> Any:
                handle = await client.start_workflow(
                    name, args=list(args), id=f"{save or name}-1", task_queue=queue
                )
                try:
                    await handle.result()
                except Exception as err:  # the failing workflows are recorded too
                    print(save or name, "failed:", err)
                await _save(handle, save or name)
                return handle

            for name, args in (
                ("Activities", [app.Order("tea", 2)]),
                ("Retries", ["k1"]),
                ("Timeouts", ["k2"]),
                ("Heartbeats", ["k3"]),
                ("AtMostOnce", ["k4"]),
                ("Timers", [0.05]),
                ("Parent", [3]),
                ("Failing", ["application"]),
                ("Parallel", []),
            ):
                await run(name, *args)
            messages = await client.start_workflow(
                "Messages", "hi", id="Messages-1", task_queue="app"
            )
            await messages.signal("add", "a")
            await messages.signal("late", "x")
            await messages.execute_update("add_checked", {"item": "u", "quantity": 1})
            await messages.signal("finish")
            await messages.result()
            await _save(messages, "Messages")
            receiver = await client.start_workflow("Receiver", id="Receiver-1", task_queue="app")
            await run("Sender", "Receiver-1")
            await receiver.result()
            await _save(receiver, "Receiver")
            counter = await client.start_workflow(
                "Counter", args=[0, 1], id="Counter-1", task_queue="app"
            )
            await counter.result()
            first = client.get_workflow_handle("Counter-1", run_id=counter.first_execution_run_id)
            await _save(first, "CounterFirstRun")
            bug = await client.start_workflow("Failing", "bug", id="FailingBug-1", task_queue="app")
            await asyncio.sleep(1.0)
            await bug.cancel()
            await bug.terminate(reason="enough")
            await _save(bug, "FailingBug")

            await run("AskAgent", "weather", "Paris?", queue="agents", save="AgentWeather")
            await run("ParentOfAgents", queue="agents", save="AgentParent")
            bank = await client.start_workflow(
                "AskAgent", args=["banker", "pay ada"], id="AgentBank-1", task_queue="agents"
            )
            pending: list[Any] = []
            while not pending:
                pending = await bank.query("duragent_pending_approvals")
                await asyncio.sleep(0.05)
            await _save(bank, "AgentBankPending")
            decision = ApprovalDecision(call_id=pending[0]["call_id"], approve=True)
            await bank.execute_update("duragent_decide_approval", decision)
            await bank.result()
            await _save(bank, "AgentBank")


if __name__ == "__main__":
    asyncio.run(record())
