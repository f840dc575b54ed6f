"""An order pipeline that survives a worker crash.

Run a worker for it with ``duragent worker examples.order_pipeline``; start an order with
``duragent start OrderPipeline '{"order_id": "A-1", "items": 3}' --id order-A-1``.
Each step is an activity: kill the worker at any moment, start it again, and the order
continues where it stopped, without repeating a completed step.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from duragent import RetryPolicy, activity, workflow

TASK_QUEUE = "orders"
STEP_SECONDS = 0.4
"""How long each step takes: long enough to watch a crash happen mid-step."""


@dataclass
class Order:
    order_id: str
    items: int


@activity.defn
async def reserve_stock(order: Order) -> str:
    await asyncio.sleep(STEP_SECONDS)
    return f"reserved {order.items} items"


@activity.defn
async def charge_payment(order: Order) -> str:
    # A real payment API would take the idempotency key, so a retried attempt after a
    # crash cannot charge twice.
    key = activity.info().idempotency_key
    await asyncio.sleep(STEP_SECONDS)
    return f"charged (idempotency key {key[-8:]})"


@activity.defn
async def ship(order: Order) -> str:
    await asyncio.sleep(STEP_SECONDS)
    return f"shipped order {order.order_id}"


@activity.defn
async def send_receipt(order: Order) -> str:
    await asyncio.sleep(STEP_SECONDS)
    return "receipt sent"


@workflow.defn
class OrderPipeline:
    """Four steps, each retried on failure, none repeated once recorded."""

    @workflow.run
    async def run(self, order: Order) -> list[str]:
        done: list[str] = []
        for step in (reserve_stock, charge_payment, ship, send_receipt):
            done.append(
                await workflow.execute_activity(
                    step,
                    order,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(maximum_attempts=5),
                )
            )
        return done
