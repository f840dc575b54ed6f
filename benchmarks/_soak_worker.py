"""Worker processes for ``soak.py``, forked from one pre-loaded parent.

A worker killed every second or two must be replaced at once, and importing Duragent and
the Agents SDK takes a second or more. So this process imports everything once, starts no
thread and no event loop, and forks a fresh worker for every ``spawn`` line it reads on
stdin, answering ``pid <pid>`` on stdout. Each worker writes its stderr to
``<dir>/worker-<pid>.log`` and its resident memory every 2 s to ``<dir>/rss.log``
(``<pid> <seconds since start> <workflow tasks> <rss KiB> <longest write lock ms>
<most CPU ms in one write transaction>``).

Usage: ``python benchmarks/_soak_worker.py DB DIR`` (``DURAGENT_SOAK_LOG`` set by soak.py).
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import resource
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _soak_app as app

from duragent import Client, Worker


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


async def _run_worker(db: str, directory: Path) -> None:
    client = await Client.connect(f"sqlite:///{db}")
    client.store.measure_write_cpu = True
    worker = Worker(
        client,
        task_queue=app.TASK_QUEUE,
        workflows=app.WORKFLOWS,
        activities=app.ACTIVITIES,
        plugins=app.PLUGINS,
    )
    started = time.monotonic()
    rss_log = directory / "rss.log"

    async def report_rss() -> None:
        while True:
            tasks = worker._workflow_tasks.tasks_processed  # pyright: ignore[reportPrivateUsage]
            store = client.store
            held, cpu = store.longest_write_s * 1000, store.longest_write_cpu_s * 1000
            elapsed = time.monotonic() - started
            line = f"{os.getpid()} {elapsed:.1f} {tasks} {_rss_kib()} {held:.2f} {cpu:.2f}\n"
            fd = os.open(rss_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            await asyncio.sleep(2.0)

    reporter = asyncio.create_task(report_rss())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        await stop.wait()
    reporter.cancel()
    await client.close()


def _child(db: str, directory: Path) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    log = os.open(directory / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log, 2)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1: where is it stuck?
    try:
        asyncio.run(_run_worker(db, directory))
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)


def main() -> None:
    db, directory = sys.argv[1], Path(sys.argv[2])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers that die are reaped at once
    for line in sys.stdin:
        if line.strip() != "spawn":
            continue
        pid = os.fork()
        if pid == 0:
            _child(db, directory)
        print(f"pid {pid}", flush=True)


if __name__ == "__main__":
    main()
