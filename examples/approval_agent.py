"""Human in the loop: an agent whose refund tool needs a person's approval.

The agent decides to call ``issue_refund``; because the tool is marked ``needs_approval``,
the run stops before the refund and waits, durably, for a decision. While it waits it holds
no memory on any worker (this demo's worker keeps no workflow cached at all, so the run is
evicted after every step and rebuilt from history when the decision arrives) and could wait
for days. A decision arrives with ``decide(handle, call_id, approve=...)``, or from a shell
with ``duragent approve ID CALL_ID`` / ``duragent reject ID CALL_ID``; the run then goes on
where it stopped: the refund runs (approved) or the model is told it was declined.

``issue_refund`` is also ``at_most_once``: if a worker died in the middle of a refund, the
refund would not be attempted again behind anyone's back.

    python -m examples.approval_agent ["Please refund order A-1001, it arrived broken."]
    python -m examples.approval_agent --reject
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import timedelta
from typing import Any, Final

from agents import Agent

from duragent import Client, RetryPolicy, WorkflowHandle, activity, workflow
from duragent.openai_agents import (
    ApprovalRequest,
    ApprovalsMixin,
    OpenAIAgentsPlugin,
    activity_as_tool,
    decide,
    pending_approvals,
)

from . import demo_support, llm
from .weather_api import log_execution

TASK_QUEUE: Final = "refunds"
DEFAULT_REQUEST: Final = "Please refund order A-1001, it arrived broken."
ORDERS: Final = {"A-1001": 42.50, "A-1002": 19.99, "B-2002": 25.00}
"""The shop's orders and their amounts (a stand-in for a database)."""


@activity.defn(at_most_once=True)
async def issue_refund(order_id: str, reason: str) -> str:
    """Refund an order in full to the customer's original payment method.

    Args:
        order_id: The order to refund, e.g. A-1001.
        reason: Why the customer asks for a refund, in a few words.
    """
    log_execution("issue_refund", {"order_id": order_id, "reason": reason})
    amount = ORDERS.get(order_id.strip().upper())
    if amount is None:
        return f"There is no order {order_id}; nothing was refunded."
    return f"Refunded ${amount:.2f} for order {order_id} (reason: {reason})."


refund_agent: Agent[Any] = Agent(
    name="Refund Assistant",
    instructions=(
        "You help customers of an online shop with refunds. To refund an order, call "
        "issue_refund with the order id and the reason. Then tell the customer the outcome "
        "in one sentence."
    ),
    model=llm.MODEL,
    tools=[
        activity_as_tool(
            issue_refund,
            needs_approval=True,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
    ],
)


@workflow.defn
class RefundWorkflow(ApprovalsMixin):
    """Handles one customer request; refunds wait for a human's approval."""

    @workflow.run
    async def run(self, request: str) -> str:
        result = await self.run_agent(refund_agent, request, max_turns=6)
        return str(result.final_output)


WORKFLOWS: Final = [RefundWorkflow]
ACTIVITIES: Final = [issue_refund]
PLUGINS: Final = [OpenAIAgentsPlugin(model_provider=llm.model_provider)]


async def wait_for_approval_request(
    handle: WorkflowHandle[Any], timeout: float = 120.0
) -> ApprovalRequest | None:
    """The first tool call waiting for a decision (read from history), or None if the run
    closed without asking."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = await pending_approvals(handle)
        if pending:
            return pending[0]
        if (await handle.describe()).status != "running":
            return None
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no approval was requested within {timeout:.0f}s")


async def main(
    request: str = DEFAULT_REQUEST, *, approve: bool = True, model_provider: Any = None
) -> str:
    """Run one request through the agent, deciding on the refund from this process."""
    print(f"model: {llm.describe() if model_provider is None else type(model_provider).__name__}")
    print(f"customer: {request}")
    with demo_support.offline_apis(), demo_support.temporary_store() as (db_url, _):
        async with demo_support.running_worker(
            db_url,
            sys.modules[__name__],
            model_provider=model_provider,
            max_cached_workflows=0,  # nothing stays in memory while the run waits
        ) as (client, _worker):
            answer = await handle_request(client, request, approve=approve)
    print(f"agent: {answer}")
    return answer


async def handle_request(client: Client, request: str, *, approve: bool) -> str:
    handle = await client.start_workflow(
        RefundWorkflow.run, request, id="refund-request", task_queue=TASK_QUEUE
    )
    waiting = await wait_for_approval_request(handle)
    if waiting is None:
        print("the agent finished without asking for a refund")
    else:
        arguments = demo_support.format_arguments(waiting.arguments)
        print(
            f"waiting for approval: {waiting.tool}({arguments})"
            f"\n  call id {waiting.call_id}; the run is paused in history and holds no memory."
            f"\n  (from a shell: duragent approve {handle.id} {waiting.call_id})"
        )
        await asyncio.sleep(1.0)  # a human takes their time; nothing runs meanwhile
        verdict = await decide(
            handle,
            waiting.call_id,
            approve=approve,
            message=None if approve else "A manager declined this refund.",
        )
        print(f"decision: {verdict}")
    answer = await handle.result(timeout=300)
    history = await handle.fetch_history()
    print("steps (each one an activity in the workflow's history):")
    demo_support.print_steps(history.events, tools={"issue_refund": issue_refund})
    return answer


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A refund agent that needs approval.")
    parser.add_argument("request", nargs="?", default=DEFAULT_REQUEST)
    parser.add_argument("--reject", action="store_true", help="reject the refund")
    args = demo_support.parse_args(parser)
    asyncio.run(main(args.request, approve=not args.reject))
