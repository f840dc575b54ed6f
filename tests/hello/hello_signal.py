"""Hello signal: a workflow collects greetings sent by signal until an exit signal, then
returns them all."""

import asyncio
import os

from duragent import workflow
from duragent.client import Client
from duragent.worker import Worker


@workflow.defn
class GreetingWorkflow:
    def __init__(self) -> None:
        self._pending_greetings: asyncio.Queue[str] = asyncio.Queue()
        self._exit = False

    @workflow.run
    async def run(self) -> list[str]:
        greetings: list[str] = []
        while True:
            await workflow.wait_condition(lambda: not self._pending_greetings.empty() or self._exit)
            while not self._pending_greetings.empty():
                greetings.append(f"Hello, {self._pending_greetings.get_nowait()}")
            if self._exit:
                return greetings

    @workflow.signal
    async def submit_greeting(self, name: str) -> None:
        await self._pending_greetings.put(name)

    @workflow.signal
    def exit(self) -> None:
        self._exit = True


async def main() -> None:
    client = await Client.connect(os.environ.get("DURAGENT_ADDRESS", "sqlite:///hello.db"))
    async with Worker(client, task_queue="hello-signal-task-queue", workflows=[GreetingWorkflow]):
        handle = await client.start_workflow(
            GreetingWorkflow.run,
            id="hello-signal-workflow-id",
            task_queue="hello-signal-task-queue",
        )
        await handle.signal(GreetingWorkflow.submit_greeting, "user1")
        await handle.signal(GreetingWorkflow.submit_greeting, "user2")
        await handle.signal(GreetingWorkflow.submit_greeting, "user3")
        await handle.signal(GreetingWorkflow.exit)
        result = await handle.result()
        print(f"Result: {result}")


if __name__ == "__main__":
    asyncio.run(main())
