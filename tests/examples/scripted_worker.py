"""A worker process for ``examples.weather_agent`` with a scripted model, so the crash demo
can be tested without the local model.

    python -m tests.examples.scripted_worker DB_URL MODE

MODE picks the script: ``alerts`` (the alerts tool, then an answer), ``ip-first`` (another
tool first), ``no-tool`` (answers at once, every time). Each model call takes
``CALL_SECONDS``, like a real model, so the demo can kill the worker while one is in flight.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelProvider, ModelResponse
from agents.items import TResponseStreamEvent
from examples.run_worker import takeover_options, worker_for

from duragent import Client
from duragent.openai_agents import OpenAIAgentsPlugin
from duragent.testing.scripted_model import ScriptedModelProvider, message, tool_call
from examples import weather_agent

CALL_SECONDS = 0.5
SCRIPTS: dict[str, list[Any]] = {
    "alerts": [
        [tool_call("get_weather_alerts", {"state": "CA"})],
        [message("Yes: a Red Flag Warning and a Heat Advisory.")],
    ],
    "ip-first": [
        [tool_call("get_ip_address")],
        [tool_call("get_weather_alerts", {"state": "CA"})],
        [message("You are near Sacramento; there are two alerts.")],
    ],
    "no-tool": [[message("I cannot check that.")]],
}


class SlowModel(Model):
    """A model that takes ``CALL_SECONDS`` per call."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        await asyncio.sleep(CALL_SECONDS)
        return await self.inner.get_response(*args, **kwargs)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError


class SlowProvider(ModelProvider):
    def __init__(self, inner: ModelProvider) -> None:
        self.inner = inner

    def get_model(self, model_name: str | None) -> Model:
        return SlowModel(self.inner.get_model(model_name))


async def serve(db_url: str, mode: str) -> None:
    provider = SlowProvider(ScriptedModelProvider(SCRIPTS[mode]))
    client = await Client.connect(db_url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        plugins = [OpenAIAgentsPlugin(model_provider=provider)]
        options = takeover_options(db_url, 3.0)  # as agent_crash_demo's workers on Temporal
        async with worker_for(client, weather_agent, plugins=plugins, **options):
            await stop.wait()
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
