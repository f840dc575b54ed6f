"""A Temporal worker process for the SIGKILL tests (run as a module):

python -m tests.temporal.kill_worker HOST:PORT TASK_QUEUE MODEL_CALL_LOG
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import temporalio.client

from duragent.openai_agents import OpenAIAgentsPlugin, ToolOptions
from duragent.temporal.worker import TemporalWorker, temporal_data_converter
from duragent.testing.scripted_model import ScriptedModelProvider

from ..durable_agents.agents_app import ACTIVITIES, SCRIPTS, WORKFLOWS


async def main(address: str, task_queue: str, call_log: str) -> None:
    client = await temporalio.client.Client.connect(
        address, data_converter=temporal_data_converter()
    )
    plugin = OpenAIAgentsPlugin(
        model_provider=ScriptedModelProvider(SCRIPTS, call_log=call_log),
        tool_options=ToolOptions(start_to_close_timeout=timedelta(seconds=5)),
    )
    async with TemporalWorker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        plugins=[plugin],
        # Crash detection on Temporal is by timeout: keep it short for the test.
        at_most_once_heartbeat_timeout=timedelta(seconds=1),
        temporal_options={"sticky_queue_schedule_to_start_timeout": timedelta(seconds=1)},
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
