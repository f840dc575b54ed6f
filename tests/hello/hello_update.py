"""Hello update: an update changes the workflow's greeting and returns the previous one;
a validator rejects a bad value before anything is recorded."""

import asyncio
import os

from duragent import workflow
from duragent.client import Client
from duragent.errors import UpdateRejectedError
from duragent.worker import Worker


@workflow.defn
class GreetingWorkflow:
    def __init__(self) -> None:
        self.is_complete = False
        self.greeting = "Hello"

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.is_complete)
        return f"{self.greeting}, World!"

    @workflow.update
    def update_greeting(self, greeting: str) -> str:
        previous, self.greeting = self.greeting, greeting
        return f"{previous} -> {greeting}"

    @update_greeting.validator
    def validate_greeting(self, greeting: str) -> None:
        if not greeting:
            raise ValueError("the greeting must not be empty")

    @workflow.signal
    def complete(self) -> None:
        self.is_complete = True


async def main() -> None:
    client = await Client.connect(os.environ.get("DURAGENT_ADDRESS", "sqlite:///hello.db"))
    async with Worker(client, task_queue="hello-update-task-queue", workflows=[GreetingWorkflow]):
        handle = await client.start_workflow(
            GreetingWorkflow.run,
            id="hello-update-workflow-id",
            task_queue="hello-update-task-queue",
        )
        update_result = await handle.execute_update(GreetingWorkflow.update_greeting, "Ahoj")
        print(f"Update Result: {update_result}")
        try:
            await handle.execute_update(GreetingWorkflow.update_greeting, "")
        except UpdateRejectedError as err:
            print(f"Rejected: {err.cause}")
        await handle.signal(GreetingWorkflow.complete)
        print(f"Workflow Result: {await handle.result()}")


if __name__ == "__main__":
    asyncio.run(main())
