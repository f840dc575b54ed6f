"""Waiting, in tests, for something a worker records."""

from __future__ import annotations

import asyncio
from typing import Any

from duragent import WorkflowExecution, WorkflowHandle


async def wait_for_task_failure(
    handle: WorkflowHandle[Any], timeout: float = 10.0
) -> WorkflowExecution:
    """The run's description once a workflow task of it has failed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        desc = await handle.describe()
        if desc.task_failure:
            return desc
        await asyncio.sleep(0.02)
    raise AssertionError("no workflow task failure was recorded")
