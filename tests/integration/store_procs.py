"""Racing processes for store contention tests.

``python -m tests.integration.store_procs open-race DIR ROUNDS OPENERS WRITERS``: this process
imports Duragent once, then per round forks OPENERS processes that open a new store file at
the same instant (released together by one event) while WRITERS processes keep writing to
it. Forking from this fresh, single-threaded process makes every round cost milliseconds
instead of a Python start-up per child. Prints one JSON line per failure and a final
``{"rounds": ..., "opens": ...}`` line.

``python -m tests.integration.store_procs client DB NAME WORKFLOWS ITEMS``: one user of the
store (start, signal, query, await results of ``SignalLog`` workflows); prints a JSON line
with the errors it met.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from duragent import Client


def _open_and_start(path: str, ready: Any, go: Any, out: Any, name: str) -> None:
    """Open the store the way a user does and start one workflow; report the outcome."""
    ready.release()
    go.wait()
    started = time.monotonic()
    try:

        async def main() -> None:
            client = await Client.connect(f"sqlite:///{path}")
            try:
                await client.start_workflow("Anything", id=name, task_queue="nobody")
            finally:
                await client.close()

        asyncio.run(main())
        out.put((name, "ok", ""))
    except Exception as err:
        waited = time.monotonic() - started
        out.put((name, f"{type(err).__name__} after {waited:.3f}s", traceback.format_exc()))


def _write_constantly(path: str, ready: Any, go: Any, stop: Any, out: Any) -> None:
    """A client that keeps the write lock busy (one workflow start after another) until
    ``stop``; reports any error it met."""
    ready.release()
    go.wait()

    async def main() -> tuple[int, list[str]]:
        errors: list[str] = []
        client: Client | None = None
        while client is None:
            try:
                client = await Client.connect(f"sqlite:///{path}")
            except Exception as err:
                errors.append(f"open: {type(err).__name__}: {err}")
                await asyncio.sleep(0.01)
        n = 0
        try:
            while not stop.is_set():
                try:
                    await client.start_workflow(
                        "Anything", id=f"w{os.getpid()}-{n}", task_queue="x"
                    )
                    n += 1
                except Exception as err:
                    errors.append(f"write: {type(err).__name__}: {err}")
        finally:
            await client.close()
        return n, errors

    n, errors = asyncio.run(main())
    out.put(("writer", "ok" if not errors else "; ".join(errors[:3]), f"{n} writes"))


def open_race(directory: Path, rounds: int, openers: int, writers: int) -> None:
    ctx = multiprocessing.get_context("fork")
    opens = 0
    for r in range(rounds):
        path = str(directory / f"race{r}.db")
        ready = ctx.Semaphore(0)
        go, stop = ctx.Event(), ctx.Event()
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_open_and_start, args=(path, ready, go, out, f"o{i}"))
            for i in range(openers)
        ]
        procs += [
            ctx.Process(target=_write_constantly, args=(path, ready, go, stop, out))
            for _ in range(writers if r % 2 else 0)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        go.set()
        results = [out.get(timeout=120) for _ in range(openers)]
        stop.set()
        results += [out.get(timeout=120) for _ in range(len(procs) - openers)]
        for p in procs:
            p.join(timeout=60)
        opens += openers
        for name, outcome, detail in results:
            if outcome != "ok":
                print(json.dumps({"round": r, "who": name, "outcome": outcome, "detail": detail}))
    print(json.dumps({"rounds": rounds, "opens": opens}))


async def _client_session(path: str, name: str, workflows: int, items: int) -> dict[str, Any]:
    """One user of the store: start ``SignalLog`` workflows, signal them, query them,
    finish them and check their results. Every error is reported, none is retried."""
    from tests.fixtures.kill_app import TASK_QUEUE, SignalLog

    errors: list[str] = []
    done = 0
    client = await Client.connect(f"sqlite:///{path}")
    try:
        for w in range(workflows):
            workflow_id = f"{name}-{w}"
            try:
                handle = await client.start_workflow(
                    SignalLog.run, id=workflow_id, task_queue=TASK_QUEUE
                )
                sent = [f"{workflow_id}-i{i}" for i in range(items)]
                for item in sent:
                    await handle.signal(SignalLog.add, item)
                seen = await handle.query(SignalLog.received_items)
                if seen != sent:
                    errors.append(f"{workflow_id}: query saw {seen}, sent {sent}")
                await handle.signal(SignalLog.finish)
                result = await handle.result()
                if result != [i.upper() for i in sent]:
                    errors.append(f"{workflow_id}: result {result}")
                done += 1
            except Exception as err:
                errors.append(f"{workflow_id}: {type(err).__name__}: {err}")
    finally:
        await client.close()
    return {"client": name, "done": done, "errors": errors}


if __name__ == "__main__":
    if sys.argv[1] == "open-race":
        open_race(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "client":
        outcome = asyncio.run(
            _client_session(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        )
        print(json.dumps(outcome))
