"""A worker process on Temporal for the streaming SIGKILL test (run as a module):

python -m tests.temporal.stream_worker 'temporal://HOST:PORT/NS?stream_store=PATH' TASK_QUEUE

It serves ``StreamStory`` (40 words streamed 50 ms apart) and publishes its tokens to the
stream store the address names. Crash detection on Temporal is by timeout: model calls get a
6 s start-to-close timeout (the story takes about 2 s), and the sticky queue hands a dead
worker's workflow tasks back after 1 s.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from duragent import Client
from duragent.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin
from duragent.temporal.worker import TemporalWorker
from duragent.testing.scripted_model import ScriptedModelProvider

from ..fixtures.agents_kill_app import SCRIPTS, StreamStory


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    plugin = OpenAIAgentsPlugin(
        model_provider=ScriptedModelProvider(SCRIPTS, stream_delay=0.05),
        model_params=ModelActivityParameters(start_to_close_timeout=timedelta(seconds=6)),
    )
    async with TemporalWorker(  # what Worker(client) builds, with a Temporal-only option
        client,
        task_queue=task_queue,
        workflows=[StreamStory],
        plugins=[plugin],
        temporal_options={"sticky_queue_schedule_to_start_timeout": timedelta(seconds=1)},
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
