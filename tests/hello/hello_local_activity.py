"""Hello local activity: the workflow's own worker runs the activity at once, with no
task in between; its result is recorded with the workflow's next step."""

import asyncio
import os
from dataclasses import dataclass
from datetime import timedelta

from duragent import activity, workflow
from duragent.client import Client
from duragent.worker import Worker


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@activity.defn
async def compose_greeting(input: ComposeGreetingInput) -> str:
    return f"{input.greeting}, {input.name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_local_activity(
            compose_greeting,
            ComposeGreetingInput("Hello", name),
            start_to_close_timeout=timedelta(seconds=10),
        )


async def main() -> None:
    client = await Client.connect(os.environ.get("DURAGENT_ADDRESS", "sqlite:///hello.db"))
    async with Worker(
        client,
        task_queue="hello-local-activity-task-queue",
        workflows=[GreetingWorkflow],
        activities=[compose_greeting],
    ):
        result = await client.execute_workflow(
            GreetingWorkflow.run,
            "World",
            id="hello-local-activity-workflow-id",
            task_queue="hello-local-activity-task-queue",
        )
        print(f"Result: {result}")


if __name__ == "__main__":
    asyncio.run(main())
