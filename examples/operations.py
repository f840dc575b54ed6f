"""Operating many runs: find them with Temporal's list filters, count them by status, stop
the stale ones in one go, and let the worker remove old closed runs.

``python -m examples.operations`` runs on a temporary SQLite file; ``--address
temporal://HOST:PORT/NAMESPACE`` runs the same code on a Temporal cluster. The CLI does the
same from a shell (printed at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Final

from duragent import Client, Worker, workflow

from . import demo_support

TASK_QUEUE: Final = "operations"


@workflow.defn
class Ticket:
    """A support ticket: open until someone resolves it."""

    def __init__(self) -> None:
        self.resolution = ""

    @workflow.run
    async def run(self, title: str) -> str:
        await workflow.wait_condition(lambda: bool(self.resolution))
        return f"{title}: {self.resolution}"

    @workflow.signal
    def resolve(self, resolution: str) -> None:
        self.resolution = resolution


@workflow.defn
class NightlyReport:
    @workflow.run
    async def run(self, day: int) -> str:
        return f"report {day} sent"


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for ``check`` (Temporal's visibility lags a moment behind its histories)."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


async def operate(client: Client, tag: str) -> None:
    mine = f"WorkflowId STARTS_WITH '{tag}'"  # this run's workflows only (a shared cluster)
    tickets = [
        await client.start_workflow(
            Ticket.run, f"ticket {i}", id=f"{tag}ticket-{i}", task_queue=TASK_QUEUE
        )
        for i in range(1, 6)
    ]
    for day in range(1, 4):
        await client.execute_workflow(
            NightlyReport.run, day, id=f"{tag}report-{day}", task_queue=TASK_QUEUE
        )
    for ticket in tickets[:2]:
        await ticket.signal(Ticket.resolve, "fixed")
        await ticket.result()

    async def by_status() -> dict[str, int]:
        counted = await client.count_workflows(f"{mine} GROUP BY ExecutionStatus")
        return {g.group_values[0]: g.count for g in counted.groups}

    async def shows(expected: dict[str, int]) -> bool:
        return await by_status() == expected

    await _until(lambda: shows({"Running": 3, "Completed": 5}), "the counts")
    print(f"Runs by status (count_workflows(... GROUP BY ExecutionStatus)): {await by_status()}")

    open_tickets = "WorkflowType = 'Ticket' AND ExecutionStatus = 'Running'"
    stale = f"{mine} AND {open_tickets}"
    print(f"Open tickets (list_workflows({open_tickets!r})):")
    async for run in client.list_workflows(stale):
        print(f"  {run.id.removeprefix(tag)}  started {run.start_time:%H:%M:%S}")

    stopped = 0
    async for run in client.list_workflows(stale):
        await client.get_workflow_handle(run.id, run_id=run.run_id).terminate("stale ticket")
        stopped += 1
    print(f"Terminated {stopped} stale tickets.")
    await _until(lambda: shows({"Completed": 5, "Terminated": 3}), "the new counts")
    print(f"Runs by status now: {await by_status()}")


async def main_async(address: str) -> None:
    tag = f"ops-{uuid.uuid4().hex[:6]}-"
    client = await Client.connect(address)
    try:
        # Closed runs older than 30 days are removed by the worker as it runs (on Temporal
        # the namespace's retention period does this instead).
        retention = None if demo_support.is_temporal(address) else timedelta(days=30)
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[Ticket, NightlyReport],
            run_retention=retention,
        ):
            await operate(client, tag)
    finally:
        await client.close()
    print()
    print("The same from a shell:")
    open_tickets = "WorkflowType = 'Ticket' AND ExecutionStatus = 'Running'"
    print(f'  duragent list --query "{open_tickets}"')
    print(f'  duragent terminate --query "{open_tickets}" --dry-run')
    print("  duragent worker examples.operations --run-retention 30d")


def main(argv: list[str] | None = None) -> int:
    demo_support.parse_args(argparse.ArgumentParser(description=__doc__), argv)
    with demo_support.temporary_store("duragent-operations-") as (address, _):
        asyncio.run(main_async(address))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
