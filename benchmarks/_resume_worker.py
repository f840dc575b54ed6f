"""Worker subprocess of the resume-after-SIGKILL measurement in ``engine_bench.py``.

Usage: ``python benchmarks/_resume_worker.py DB_PATH``. Runs the resume workload's worker on
the store at DB_PATH until it is killed.
"""

from __future__ import annotations

import asyncio
import sys

from _workloads import RESUME_ACTIVITIES, RESUME_QUEUE, RESUME_WORKFLOWS

from duragent import Client, Worker


async def main(db_path: str) -> None:
    client = await Client.connect(db_path)
    worker = Worker(
        client,
        task_queue=RESUME_QUEUE,
        workflows=RESUME_WORKFLOWS,
        activities=RESUME_ACTIVITIES,
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
