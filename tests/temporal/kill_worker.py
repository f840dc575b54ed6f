"""A worker process on Temporal for the SIGKILL tests (run as a module):

python -m tests.temporal.kill_worker temporal://HOST:PORT/NS TASK_QUEUE MODEL_CALL_LOG

It is the worker ``duragent.Worker`` builds on a ``Client.connect("temporal://...")`` client. Crash
detection on Temporal is by timeout, so its timeouts are short: at-most-once calls get a 1 s
heartbeat timeout, model calls a 2 s start-to-close timeout. ``DURAGENT_CRASH_AT`` in its
environment arms crash points (``duragent._worker.faults``). With ``DURAGENT_TEST_HEARTBEAT``
(seconds) every activity gets that heartbeat timeout instead (``activity_heartbeat_timeout``)
and model calls a 10-minute start-to-close timeout, so only the heartbeat detects a crash.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from duragent import Client
from duragent.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin, ToolOptions
from duragent.temporal.worker import TemporalWorker
from duragent.testing.scripted_model import ScriptedModelProvider

from ..durable_agents.agents_app import ACTIVITIES, SCRIPTS, WORKFLOWS


async def main(address: str, task_queue: str, call_log: str) -> None:
    client = await Client.connect(address)
    heartbeat = os.environ.get("DURAGENT_TEST_HEARTBEAT")
    model_timeout = timedelta(minutes=10) if heartbeat else timedelta(seconds=2)
    plugin = OpenAIAgentsPlugin(
        model_provider=ScriptedModelProvider(SCRIPTS, call_log=call_log),
        model_params=ModelActivityParameters(start_to_close_timeout=model_timeout),
        tool_options=ToolOptions(start_to_close_timeout=timedelta(seconds=5)),
    )
    async with TemporalWorker(  # what Worker(client) builds, with Temporal-only options
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        plugins=[plugin],
        at_most_once_heartbeat_timeout=timedelta(seconds=1),
        activity_heartbeat_timeout=timedelta(seconds=float(heartbeat)) if heartbeat else None,
        temporal_options={"sticky_queue_schedule_to_start_timeout": timedelta(seconds=1)},
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
