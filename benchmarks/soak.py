"""Soak: a mixed workload across worker processes that are SIGKILLed at random moments.

Usage::

    python benchmarks/soak.py --minutes 30            # a long run (about a kill per second)
    python benchmarks/soak.py --short                 # the CI variant (about 25 s)

Several worker processes share one SQLite file. This process keeps a stream of workflows
going: step chains with durable timers between the steps, parents with child workflows,
mailboxes fed by signals, and agents (OpenAI Agents SDK, scripted model) that call tools.
Meanwhile it SIGKILLs a random worker every ``--kill-every`` seconds (one worker, the
*witness*, is never killed: its memory shows growth over the whole run) and starts a fresh
one at once. When time is up it stops killing, waits for every workflow to finish, and
checks everything:

* lost results: a workflow that did not complete, or returned something else than it must;
* duplicated results: an activity result, timer, child result or signal recorded twice;
* steps re-run: how many step executions were repeats, and whether each repeat followed
  the kill of the process running the earlier attempt (the documented at-least-once
  window: a step that crashed mid-flight, or after it returned but before its result was
  committed, runs again). A repeat outside that window is an error;
* the database: ``PRAGMA integrity_check``, every history gapless, the kept counts of runs
  by status right;
* memory: resident size of the witness worker at the start and at the end, and the largest
  any worker reached.

Nothing is asserted on speed. Exits with status 1 if any check fails; the last line printed
is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _soak_app as app  # noqa: E402

from duragent import Client  # noqa: E402
from duragent._engine import events as ev  # noqa: E402
from duragent.store._visibility import run_count_drift  # noqa: E402


@dataclass
class Job:
    """One top-level workflow and what it must return."""

    workflow_id: str
    kind: str
    expected: Any
    signals: list[str] = field(default_factory=lambda: [])


@dataclass
class Workers:
    """The forking parent (see _soak_worker.py) and the live worker processes."""

    proc: subprocess.Popen[str]
    alive: list[int] = field(default_factory=lambda: [])
    killed: set[int] = field(default_factory=set[int])
    ever: list[int] = field(default_factory=lambda: [])
    witness: int = 0

    def spawn(self) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("spawn\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line.startswith("pid "):
            raise RuntimeError(f"the worker parent answered {line!r}")
        pid = int(line.split()[1])
        self.alive.append(pid)
        self.ever.append(pid)
        return pid

    def kill_one(self, rng: random.Random) -> int | None:
        victims = [p for p in self.alive if p != self.witness]
        if not victims:
            return None
        pid = rng.choice(victims)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.alive.remove(pid)
        self.killed.add(pid)
        return pid

    def stop(self) -> None:
        for pid in self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_exists(p) for p in self.alive):
            time.sleep(0.1)
        for pid in self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _new_job(n: int, rng: random.Random) -> Job:
    wid = f"j{n}"
    kind = rng.choice(["chain", "chain", "family", "mailbox", "agent"])
    if kind == "chain":
        steps = rng.randint(2, 6)
        return Job(wid, kind, [f"{wid}/s{i}" for i in range(steps)])
    if kind == "family":
        children = rng.randint(1, 3)
        return Job(wid, kind, [f"{wid}-c{j}/s{i}" for j in range(children) for i in range(2)])
    if kind == "mailbox":
        items = [f"{wid}/m{k}" for k in range(rng.randint(1, 4))]
        return Job(wid, kind, [i.upper() for i in items], items)
    return Job(wid, kind, app.AGENT_OUTPUT)


async def _run_job(client: Client, job: Job, rng: random.Random) -> Any:
    q = app.TASK_QUEUE
    if job.kind == "chain":
        steps = len(job.expected)
        nap = rng.choice([10, 50, 200])
        handle = await client.start_workflow(
            app.Chain.run, args=[steps, nap], id=job.workflow_id, task_queue=q
        )
    elif job.kind == "family":
        handle = await client.start_workflow(
            app.Family.run, len(job.expected) // 2, id=job.workflow_id, task_queue=q
        )
    elif job.kind == "mailbox":
        handle = await client.start_workflow(
            app.Mailbox.run, len(job.signals), id=job.workflow_id, task_queue=q
        )
        for item in job.signals:
            await asyncio.sleep(rng.random() * 0.2)
            await handle.signal(app.Mailbox.post, item)
    else:
        handle = await client.start_workflow(
            app.Research.run, "What are a and b?", id=job.workflow_id, task_queue=q
        )
    return await handle.result()


Sample = tuple[float, int, int, float, float]
"""(seconds, workflow tasks, RSS KiB, longest write lock ms, most CPU ms in one write)."""


def _rss_samples(directory: Path) -> dict[int, list[Sample]]:
    samples: dict[int, list[Sample]] = defaultdict(list)
    path = directory / "rss.log"
    if path.exists():
        for line in path.read_text().splitlines():
            pid, t, tasks, rss, held, cpu = line.split()
            samples[int(pid)].append((float(t), int(tasks), int(rss), float(held), float(cpu)))
    return samples


def _step_runs(directory: Path) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """(workflow id, step) -> [(event, pid)] in log order."""
    runs: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    path = directory / "steps.log"
    for line in path.read_text().splitlines() if path.exists() else []:
        event, wid, step, _attempt, pid = line.split()
        runs[(wid, step)].append((event, int(pid)))
    return runs


def _check_database(db: Path) -> tuple[list[str], int]:
    """``PRAGMA integrity_check``, gapless histories and the kept run counts; returns
    (problems, runs)."""
    problems: list[str] = []
    conn = sqlite3.connect(db)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            problems.append(f"integrity_check: {check}")
        drift = run_count_drift(conn)
        if drift:
            problems.append(f"run counts by status (kept, counted) disagree: {drift}")
        runs = conn.execute("SELECT run_id, workflow_id, last_event_id FROM runs").fetchall()
        for run_id, wid, last in runs:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT event_id FROM events WHERE run_id = ? ORDER BY event_id", (run_id,)
                )
            ]
            if ids != list(range(1, last + 1)):
                problems.append(f"{wid}: history has gaps ({len(ids)} events, last {last})")
    finally:
        conn.close()
    return problems, len(runs)


async def _duplicates(client: Client) -> list[str]:
    """Any result, timer, child result or signal recorded twice in one run."""
    problems: list[str] = []
    store = client.store
    for record in store.list_runs(limit=10_000_000):
        history = store.read_history(record.run_id)
        keys: Counter[tuple[str, Any]] = Counter()
        for e in history:
            if isinstance(
                e, ev.ActivityTaskCompleted | ev.TimerFired | ev.ChildWorkflowExecutionCompleted
            ):
                keys[(type(e).__name__, e.seq)] += 1
            elif isinstance(e, ev.WorkflowExecutionSignaled):
                keys[("signal", e.input[0].data if e.input else b"")] += 1
        problems += [
            f"{record.workflow_id}: {k} recorded {n} times" for k, n in keys.items() if n > 1
        ]
    return problems


def _start_workers(directory: Path) -> Workers:
    """The forking parent of the worker processes (see _soak_worker.py)."""
    env = {
        **os.environ,
        "DURAGENT_SOAK_LOG": str(directory / "steps.log"),
        "PYTHONUNBUFFERED": "1",
    }
    parent = subprocess.Popen(
        [sys.executable, str(HERE / "_soak_worker.py"), str(directory / "soak.db"), str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    return Workers(parent)


async def soak(args: argparse.Namespace, directory: Path, workers: Workers) -> dict[str, Any]:
    rng = random.Random(args.seed)
    db = directory / "soak.db"
    client = await Client.connect(f"sqlite:///{db}")
    jobs: dict[str, Job] = {}
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    pending: set[asyncio.Task[None]] = set()
    kills = 0
    started = time.monotonic()
    try:
        workers.witness = workers.spawn()
        for _ in range(args.workers - 1):
            workers.spawn()
        # The run's time counts from here: the forking parent's first spawn waits for it
        # to import everything (the Agents SDK: half a minute on an overloaded machine).
        started = time.monotonic()

        async def one(job: Job) -> None:
            try:
                results[job.workflow_id] = await _run_job(client, job, rng)
            except Exception as err:
                errors[job.workflow_id] = f"{type(err).__name__}: {err}"

        next_kill = started + rng.uniform(*args.kill_every)
        last_report = started
        n = 0
        while time.monotonic() - started < args.seconds:
            while len(pending) < args.in_flight:
                job = _new_job(n, rng)
                n += 1
                jobs[job.workflow_id] = job
                task = asyncio.create_task(one(job))
                pending.add(task)
                task.add_done_callback(pending.discard)
            now = time.monotonic()
            if now >= next_kill:
                if workers.kill_one(rng) is not None:
                    kills += 1
                    workers.spawn()
                next_kill = now + rng.uniform(*args.kill_every)
            if now - last_report >= args.report_every:
                last_report = now
                print(
                    f"[{now - started:6.0f}s] started {len(jobs)}, completed {len(results)}, "
                    f"kills {kills}, workers {len(workers.alive)}",
                    flush=True,
                )
            await asyncio.sleep(0.05)
        # Time is up: no more kills; every workflow must now finish.
        drain_started = time.monotonic()
        if pending:
            await asyncio.wait(pending, timeout=args.drain)
        drain_s = time.monotonic() - drain_started
        for task in pending:
            task.cancel()
        duplicates = await _duplicates(client)
    finally:
        await client.close()
        workers.stop()
    elapsed = time.monotonic() - started

    lost = sorted(w for w in jobs if w not in results)
    wrong = sorted(w for w, r in results.items() if r != jobs[w].expected)
    history_problems, histories = _check_database(db)

    # Steps: every repeat must follow the kill of the process that ran the attempt before.
    runs = _step_runs(directory)
    reruns = 0
    outside: list[str] = []
    for (wid, step), events in runs.items():
        starts = [pid for event, pid in events if event == "start"]
        for earlier in starts[:-1]:
            reruns += 1
            if earlier not in workers.killed:
                outside.append(f"{wid} {step}: re-run after pid {earlier}, which was not killed")
    steps = len(runs)

    rss = _rss_samples(directory)
    witness = rss.get(workers.witness, [])
    warm = [s for s in witness if s[0] >= 10] or witness
    rss_start = warm[0][2] if warm else 0
    rss_end = witness[-1][2] if witness else 0
    tasks_end = witness[-1][1] - (warm[0][1] if warm else 0) if witness else 0
    peak = max((s[2] for samples in rss.values() for s in samples), default=0)
    longest_write = max((s[3] for samples in rss.values() for s in samples), default=0.0)
    per_worker = sorted(samples[-1][3] for samples in rss.values() if samples)
    median_write = per_worker[len(per_worker) // 2] if per_worker else 0.0
    longest_cpu = max((s[4] for samples in rss.values() for s in samples), default=0.0)

    summary: dict[str, Any] = {
        "seconds": round(elapsed, 1),
        "workers": args.workers,
        "workflows_started": len(jobs),
        "workflows_completed": len(results),
        "by_kind": dict(Counter(jobs[w].kind for w in results)),
        "kills": kills,
        "worker_processes": len(workers.ever),
        "steps": steps,
        "steps_rerun": reruns,
        "reruns_outside_window": len(outside),
        "lost_results": len(lost) + len(errors),
        "wrong_results": len(wrong),
        "duplicated_results": len(duplicates),
        "histories": histories,
        "integrity": "ok" if not history_problems else "; ".join(history_problems[:5]),
        "drain_s": round(drain_s, 1),
        "witness_rss_kib": [rss_start, rss_end],
        "witness_rss_growth_kib": rss_end - rss_start,
        "witness_workflow_tasks": tasks_end,
        "peak_worker_rss_kib": peak,
        "longest_write_lock_ms": round(longest_write, 1),
        "median_worker_longest_write_lock_ms": round(median_write, 1),
        "most_write_cpu_ms": round(longest_cpu, 1),
        "directory": str(directory),
    }
    for what, items in (
        ("lost", lost),
        ("errors", [f"{k}: {v}" for k, v in errors.items()]),
        ("wrong", wrong),
        ("duplicates", duplicates),
        ("outside", outside),
    ):
        for item in items[:10]:
            print(f"  {what}: {item}", flush=True)
    return summary


def _report(summary: dict[str, Any]) -> bool:
    ok = (
        summary["lost_results"] == 0
        and summary["wrong_results"] == 0
        and summary["duplicated_results"] == 0
        and summary["reruns_outside_window"] == 0
        and summary["integrity"] == "ok"
        and summary["workflows_completed"] > 0
    )
    growth = summary["witness_rss_growth_kib"]
    tasks = max(1, summary["witness_workflow_tasks"])
    print()
    print(
        f"soak: {summary['seconds']} s, {summary['workers']} workers, {summary['kills']} kills "
        f"({summary['worker_processes']} worker processes)"
    )
    done, started = summary["workflows_completed"], summary["workflows_started"]
    print(f"  workflows completed  {done} of {started} {summary['by_kind']}")
    print(
        f"  steps                {summary['steps']}, re-run {summary['steps_rerun']} "
        f"(outside the at-least-once window: {summary['reruns_outside_window']})"
    )
    print(f"  lost results         {summary['lost_results']} (wrong: {summary['wrong_results']})")
    print(f"  duplicated results   {summary['duplicated_results']}")
    print(f"  database             {summary['integrity']} ({summary['histories']} histories)")
    print(
        f"  witness worker RSS   {summary['witness_rss_kib'][0] / 1024:.1f} -> "
        f"{summary['witness_rss_kib'][1] / 1024:.1f} MiB ({growth / 1024:+.1f} MiB over "
        f"{summary['witness_workflow_tasks']} workflow tasks, "
        f"{growth * 1024 / tasks:.0f} B per task)"
    )
    print(f"  largest worker RSS   {summary['peak_worker_rss_kib'] / 1024:.1f} MiB")
    print(
        f"  longest write lock   {summary['longest_write_lock_ms']} ms wall time (any worker; "
        f"median of each worker's longest {summary['median_worker_longest_write_lock_ms']} ms), "
        f"{summary['most_write_cpu_ms']} ms CPU at most"
    )
    print(f"  result               {'OK' if ok else 'FAILED'}")
    print(json.dumps(summary))
    return ok


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=5.0, help="how long to run (default 5)")
    p.add_argument("--short", action="store_true", help="the CI variant: 25 s, 3 workers")
    p.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    p.add_argument("--in-flight", type=int, default=24, help="workflows running at once")
    p.add_argument(
        "--kill-every",
        type=float,
        nargs=2,
        default=(0.5, 2.5),
        metavar=("MIN", "MAX"),
        help="seconds between kills, uniformly drawn (default 0.5 2.5)",
    )
    p.add_argument("--drain", type=float, default=120.0, help="seconds to let work finish")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--dir", default=None, help="where to put the database and logs")
    p.add_argument("--report-every", type=float, default=30.0, help="progress line interval")
    p.add_argument("--keep", action="store_true", help="keep the database and logs")
    args = p.parse_args(argv)
    args.seconds = args.minutes * 60
    if args.short:
        args.seconds, args.workers, args.in_flight, args.report_every = 25.0, 3, 12, 10.0
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    print(
        f"soak: seed {args.seed}, {args.seconds:.0f} s, {args.workers} workers, "
        f"kill every {args.kill_every[0]}-{args.kill_every[1]} s",
        flush=True,
    )
    directory = Path(tempfile.mkdtemp(prefix="duragent-soak-", dir=args.dir))
    summary = asyncio.run(soak(args, directory, _start_workers(directory)))
    summary["seed"] = args.seed
    ok = _report(summary)
    if ok and not args.keep:
        shutil.rmtree(summary["directory"], ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
