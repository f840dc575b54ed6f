"""Hello query: a workflow changes its greeting after a durable sleep; a query reads the
greeting before and after."""

import asyncio
import os

from duragent import workflow
from duragent.client import Client
from duragent.worker import Worker


@workflow.defn
class GreetingWorkflow:
    def __init__(self) -> None:
        self._greeting = ""

    @workflow.run
    async def run(self, name: str) -> None:
        self._greeting = f"Hello, {name}!"
        await asyncio.sleep(2)
        self._greeting = f"Goodbye, {name}!"

    @workflow.query
    def greeting(self) -> str:
        return self._greeting


async def main() -> None:
    client = await Client.connect(os.environ.get("DURAGENT_ADDRESS", "sqlite:///hello.db"))
    async with Worker(client, task_queue="hello-query-task-queue", workflows=[GreetingWorkflow]):
        handle = await client.start_workflow(
            GreetingWorkflow.run,
            "World",
            id="hello-query-workflow-id",
            task_queue="hello-query-task-queue",
        )
        result = await handle.query(GreetingWorkflow.greeting)
        print(f"First greeting result: {result}")
        await asyncio.sleep(3)
        result = await handle.query(GreetingWorkflow.greeting)
        print(f"Second greeting result: {result}")


if __name__ == "__main__":
    asyncio.run(main())
