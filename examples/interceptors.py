"""Worker interceptors: an audit trail of every activity attempt and workflow message, and
a house rule (every activity gets a retry policy and a timeout) applied to workflows that
did not set one, without touching their code.

``python -m examples.interceptors`` runs on a temporary SQLite file; ``--address
temporal://HOST:PORT/NAMESPACE`` runs the same code on a Temporal cluster. For ``duragent
worker examples.interceptors``, the module's ``INTERCEPTORS`` list is the worker's.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any, Final

from duragent import Client, RetryPolicy, Worker, activity, workflow
from duragent.interceptor import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    HandleSignalInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from duragent.workflow import ActivityHandle

from . import demo_support

TASK_QUEUE: Final = "interceptors"
AUDIT: list[str] = []
"""What the interceptors saw (a real one would write to a log or a metrics system)."""
HOUSE_RETRIES: Final = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=5)
_charges: dict[str, int] = {}


@activity.defn
async def charge(order: str) -> str:
    """A payment API that fails its first call for each order."""
    _charges[order] = _charges.get(order, 0) + 1
    if _charges[order] == 1:
        raise ConnectionError("the payment API timed out")
    return f"{order} charged"


@workflow.defn
class Checkout:
    def __init__(self) -> None:
        self.confirmed = False

    @workflow.run
    async def run(self, order: str) -> str:
        await workflow.wait_condition(lambda: self.confirmed)
        # No retry policy or timeout here: the worker's house rule supplies them.
        return await workflow.execute_activity(charge, order)

    @workflow.signal
    def confirm(self) -> None:
        self.confirmed = True


class AuditedActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        started = time.monotonic()
        try:
            result = await super().execute_activity(input)
        except Exception as err:
            AUDIT.append(f"activity {info.activity_type} attempt {info.attempt} failed: {err}")
            raise
        took = (time.monotonic() - started) * 1000
        AUDIT.append(f"activity {info.activity_type} attempt {info.attempt} ok ({took:.1f} ms)")
        return result


class HouseRules(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        if input.retry_policy is None:
            input.retry_policy = HOUSE_RETRIES
        if input.start_to_close_timeout is None and input.schedule_to_close_timeout is None:
            input.start_to_close_timeout = timedelta(seconds=30)
        return super().start_activity(input)


class AuditedWorkflow(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(HouseRules(outbound))

    async def handle_signal(self, input: HandleSignalInput) -> None:
        if not workflow.is_replaying():  # workflow code: a replay runs it again
            AUDIT.append(f"workflow {workflow.info().workflow_type} got signal {input.signal}")
        await super().handle_signal(input)


class Audit(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return AuditedActivity(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return AuditedWorkflow


INTERCEPTORS = [Audit()]
"""What ``duragent worker examples.interceptors`` runs with."""


async def main_async(address: str) -> None:
    client = await Client.connect(address)
    try:
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[Checkout],
            activities=[charge],
            interceptors=INTERCEPTORS,
        ):
            order = f"order-{uuid.uuid4().hex[:6]}"
            handle = await client.start_workflow(
                Checkout.run, order, id=order, task_queue=TASK_QUEUE
            )
            await handle.signal(Checkout.confirm)
            print(await handle.result())
    finally:
        await client.close()
    print("audit trail:")
    for line in AUDIT:
        print(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    demo_support.parse_args(argparse.ArgumentParser(description=__doc__), argv)
    with demo_support.temporary_store("duragent-interceptors-") as (address, _):
        asyncio.run(main_async(address))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
