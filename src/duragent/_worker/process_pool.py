"""Sync activities in a process pool: the call crosses the process boundary as picklable
pieces, and heartbeats and cancellation cross it through a multiprocessing manager.

A function run by a ``ProcessPoolExecutor`` is pickled, so it cannot carry the worker's
context variables or callbacks. The child gets instead: the function, its decoded
arguments, the attempt's :class:`~duragent.activity.Info`, a key, the manager's heartbeat
queue and a cancellation event. ``activity.heartbeat()`` in the child puts
``(key, details)`` on the queue; a thread in the worker relays it to the attempt.
Cancelling the attempt (or its timing out) sets the event, so the child's next
``heartbeat()`` raises :class:`~duragent.errors.CancelledError` and frees its process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.managers
import pickle
import queue
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from .._definitions import ActivityDefinition, describe_callable
from .._engine.failure import Failure, failure_from_exception
from ..activity import ActivityContext, CompleteAsyncError, Info, current_context
from ..errors import ConfigurationError
from ..serde import DataConverter

log = logging.getLogger("duragent.worker")

_POLL_S = 0.2


class SharedStateManager:
    """Cross-process primitives for running sync activities in a process pool: a queue
    that carries heartbeats from the pool's processes back to the worker, and events
    that carry cancellation to them.

    A worker whose ``activity_executor`` is a ``ProcessPoolExecutor`` creates one itself;
    pass one (``shared_state_manager=``) to share a manager between workers, as with
    temporalio::

        manager = SharedStateManager.create_from_multiprocessing(multiprocessing.Manager())
        Worker(client, task_queue="q", activities=[crunch],
               activity_executor=ProcessPoolExecutor(4), shared_state_manager=manager)
    """

    def __init__(self, manager: multiprocessing.managers.SyncManager, *, owned: bool) -> None:
        self._manager = manager
        self._owned = owned
        self.heartbeats: queue.Queue[tuple[str, tuple[Any, ...]]] = manager.Queue()
        self._listeners: dict[str, Callable[[tuple[Any, ...]], None]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False

    @staticmethod
    def create_from_multiprocessing(
        mgr: multiprocessing.managers.SyncManager,
        queue_poller_executor: Executor | None = None,
    ) -> SharedStateManager:
        """Build on a started ``multiprocessing.Manager()`` (its owner shuts it down).

        ``queue_poller_executor`` is accepted for temporalio compatibility and not used:
        the heartbeat relay is one daemon thread.
        """
        del queue_poller_executor
        return SharedStateManager(mgr, owned=False)

    @staticmethod
    def create_owned() -> SharedStateManager:
        """Start a manager process that :meth:`close` shuts down again."""
        manager = multiprocessing.Manager()
        return SharedStateManager(manager, owned=True)

    @property
    def owned(self) -> bool:
        """Whether :meth:`close` shuts the manager down (it was started for a worker)."""
        return self._owned

    def new_event(self) -> Any:
        """An event the pool's processes can read (a manager proxy)."""
        return self._manager.Event()

    def register(self, key: str, on_heartbeat: Callable[[tuple[Any, ...]], None]) -> None:
        """Relay heartbeats sent under ``key`` to ``on_heartbeat`` (called on the relay
        thread; it must hand over to the event loop itself)."""
        with self._lock:
            self._listeners[key] = on_heartbeat
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._relay, name="duragent-heartbeat-relay", daemon=True
                )
                self._thread.start()

    def unregister(self, key: str) -> None:
        with self._lock:
            self._listeners.pop(key, None)

    def _relay(self) -> None:
        while not self._stopping:
            try:
                key, details = self.heartbeats.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            except (EOFError, OSError, BrokenPipeError):
                return  # the manager is gone (shut down)
            with self._lock:
                listener = self._listeners.get(key)
            if listener is not None:
                try:
                    listener(details)
                except Exception:
                    log.exception("relaying a heartbeat from the activity process pool failed")

    def close(self) -> None:
        """Stop the relay; shut the manager down if this worker started it."""
        self._stopping = True
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2 * _POLL_S + 1)
        if self._owned:
            with contextlib.suppress(Exception):
                self._manager.shutdown()


def is_process_pool(executor: Executor) -> bool:
    """Whether sync activities run in other processes (so calls must be pickled)."""
    return isinstance(executor, ProcessPoolExecutor)


def check_picklable(defn: ActivityDefinition) -> None:
    """Refuse, at ``Worker(...)``, a sync activity a process pool could never run."""
    try:
        pickle.dumps(defn.fn)
    except Exception as err:
        raise ConfigurationError(
            f"sync activity {defn.name!r} ({describe_callable(defn.fn)}) cannot run in a "
            f"process pool: it cannot be pickled ({type(err).__name__}: {err}). Define it at "
            "module level (a method's instance must be picklable too), make it async, or "
            "use a thread pool"
        ) from err


class _ChildContext(ActivityContext):
    """The activity context inside a pool process."""

    def __init__(
        self, info: Info, key: str, heartbeats: queue.Queue[Any], cancel_event: Any
    ) -> None:
        self._key = key
        self._heartbeats = heartbeats
        self._cancel_event = cancel_event
        super().__init__(info, self._send)

    def _send(self, details: tuple[Any, ...]) -> None:
        self._heartbeats.put((self._key, details), timeout=30)

    @property
    def cancel_requested(self) -> bool:  # type: ignore[override]
        return bool(self._cancel_event.is_set())

    @cancel_requested.setter
    def cancel_requested(self, value: bool) -> None:
        if value:
            self._cancel_event.set()


@dataclass(frozen=True)
class ChildCall:
    """Everything a pool process needs to run one attempt (all picklable)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    info: Info
    key: str
    heartbeats: Any
    cancel_event: Any


@dataclass(frozen=True)
class ChildOutcome:
    """What comes back: the result, or the failure (exceptions are converted in the
    child: an arbitrary exception class may not unpickle in the worker)."""

    result: Any = None
    failure: Failure | None = None
    complete_async: bool = False
    """The activity called ``activity.raise_complete_async()``."""


class ChildFailedError(Exception):
    """The activity raised in its pool process; ``failure`` is what it raised."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def run_in_child(call: ChildCall) -> ChildOutcome:
    """Run one attempt inside a pool process."""
    ctx = _ChildContext(call.info, call.key, call.heartbeats, call.cancel_event)
    token = current_context.set(ctx)
    try:
        return ChildOutcome(result=call.fn(*call.args))
    except CompleteAsyncError:
        return ChildOutcome(complete_async=True)
    except BaseException as err:
        return ChildOutcome(failure=failure_from_exception(err, DataConverter()))
    finally:
        current_context.reset(token)


async def call_in_pool(
    executor: Executor,
    shared: SharedStateManager,
    defn: ActivityDefinition,
    args: list[Any],
    context: ActivityContext,
    key: str,
    on_heartbeat: Callable[[tuple[Any, ...]], None],
) -> Any:
    """Run a sync activity attempt in ``executor`` and return its result; while it runs,
    its heartbeats reach ``on_heartbeat`` and a cancellation of ``context`` reaches the
    child.

    Raises:
        ChildFailedError: The activity raised.
        ConfigurationError: The call or its result cannot cross the process boundary
            (not picklable): no retry can help.
        concurrent.futures.BrokenExecutor: A pool process died.
    """
    loop = asyncio.get_running_loop()
    cancel_event = await loop.run_in_executor(None, shared.new_event)
    context.on_cancel = cancel_event.set
    shared.register(key, on_heartbeat)
    try:
        call = ChildCall(defn.fn, tuple(args), context.info, key, shared.heartbeats, cancel_event)
        outcome: ChildOutcome = await loop.run_in_executor(executor, run_in_child, call)
    except asyncio.CancelledError:
        # Timed out or shutting down: tell the child, so it stops at its next heartbeat.
        with contextlib.suppress(Exception):
            cancel_event.set()
        raise
    except BrokenExecutor:
        raise
    except Exception as err:
        raise ConfigurationError(
            f"activity {defn.name!r} could not be passed to or from its pool process: "
            f"{type(err).__name__}: {err} (arguments and results must be picklable)"
        ) from err
    finally:
        context.on_cancel = None
        shared.unregister(key)
    if outcome.complete_async:
        raise CompleteAsyncError()
    if outcome.failure is not None:
        raise ChildFailedError(outcome.failure)
    return outcome.result
