"""The deterministic event loop a workflow instance runs on.

Workflow code is ordinary ``async`` Python. It runs on this loop instead of the worker's:
the loop has no I/O and no clock of its own. ``loop.time()`` is the workflow time of the
current activation, and ``call_later``/``call_at`` (which ``asyncio.sleep``,
``asyncio.wait_for`` and ``asyncio.timeout`` use) become durable timers through the
:class:`TimerSink` the instance provides. Ready callbacks run strictly in FIFO order, so the
same inputs always produce the same interleaving. Its futures and tasks, and the futures
``asyncio.gather`` makes on it, hash by creation number, not by address, so that a set of
them iterates in the same order on replay.

The loop runs only while an activation is being applied (:meth:`run_until_idle`); in
between, it is inert and holds no threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigurationError

_NOT_ALLOWED = (
    "is not allowed in workflow code: workflow code must be deterministic and do no I/O. "
    "Put the call in an activity and use workflow.execute_activity()"
)


run_blocking_inline: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "duragent_run_blocking_inline", default=False
)
"""Set by code that is declared deterministic (a tool run in the workflow): a sync call it
hands to ``asyncio.to_thread`` runs inline instead of being refused."""


class TimerSink(Protocol):
    """Receives timer requests from the loop (implemented by the workflow instance)."""

    def start_timer(self, delay_ms: int, handle: WorkflowTimerHandle) -> None:
        """Start a durable timer that runs ``handle`` when it fires."""
        ...

    def cancel_timer(self, handle: WorkflowTimerHandle) -> None:
        """Cancel a timer started by :meth:`start_timer`."""
        ...


class WorkflowTimerHandle(asyncio.TimerHandle):
    """A timer handle backed by a durable timer; ``seq`` identifies it in history."""

    seq: int = 0

    def __init__(
        self,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: WorkflowEventLoop,
        context: contextvars.Context | None,
    ) -> None:
        super().__init__(when, callback, args, loop, context=context)
        self._workflow_loop = loop

    def cancel(self) -> None:
        if not self.cancelled():
            self._workflow_loop.timer_cancelled(self)
        super().cancel()


class WorkflowFuture(asyncio.Future[Any]):
    """A future whose hash is its creation number on the loop, not its address, so that
    iterating a set of futures (``asyncio.wait`` returns sets) is the same on replay.

    Made only by :meth:`WorkflowEventLoop.create_future`, which numbers it. The number is
    a slot: an attribute in the future's ``__dict__`` would cost a dict per future. No
    ``__init__`` of its own (the SDK makes a dozen futures per model call, and a Python
    ``__init__`` calling the C one cost more than the rest of their creation)."""

    __slots__ = ("_stable_hash",)
    _stable_hash: int

    def __hash__(self) -> int:
        return self._stable_hash


class WorkflowTask(asyncio.Task[Any]):
    """A task with a deterministic hash (see :class:`WorkflowFuture`).

    Made only by :meth:`WorkflowEventLoop.create_task`, which numbers it before
    ``Task.__init__`` runs, since that already hashes it (it adds the task to asyncio's set
    of all tasks)."""

    __slots__ = ("_stable_hash",)
    _stable_hash: int

    def __hash__(self) -> int:
        return self._stable_hash


if TYPE_CHECKING:
    _GatheringFuture = asyncio.Future[Any]
else:  # the class of asyncio.gather's outer future (not in typeshed)
    _GatheringFuture = asyncio.tasks._GatheringFuture


class _WorkflowGatheringFuture(_GatheringFuture):
    """The outer future of an ``asyncio.gather`` in a workflow, with a deterministic hash
    (see :meth:`WorkflowEventLoop.get_debug`, which gives gather's future this class)."""

    _stable_hash: int = 0

    def __hash__(self) -> int:
        return self._stable_hash


_GATHER_NUMBERS = 1 << 40
"""Gathers are numbered apart from the loop's futures and tasks (from here on), so that
those keep the numbers that runs recorded before gathers were numbered gave them (and with
them, the order in which a set of them iterates on replay)."""

_GATHERING_INIT: types.CodeType = _GatheringFuture.__init__.__code__


class _ReadyHandle(asyncio.Handle):
    """A ready callback, filled in by :meth:`WorkflowEventLoop.call_soon` without
    ``Handle.__init__`` (a Python function that also asks the loop for its debug flag):
    the loop makes one per task step and per future callback, ~70 per model call."""

    __slots__ = ()


class WorkflowEventLoop(asyncio.AbstractEventLoop):
    """A single-threaded, clockless, I/O-free asyncio loop for one workflow instance."""

    def __init__(self, timers: TimerSink) -> None:
        self._ready: deque[asyncio.Handle] = deque()
        self._timers = timers
        self._time_s = 0.0
        self._running = False
        self._closed = False
        self._unhandled: list[BaseException] = []
        self._exception_handler: Callable[..., object] | None = None
        self.hash_counter = 0
        """Creation number of the last future or task of this loop."""
        self._tasks: list[asyncio.Task[Any]] = []
        self._prune_at = 64
        self._gathers = 0
        self._making_own = False

    @property
    def tasks(self) -> list[asyncio.Task[Any]]:
        """Tasks of this loop that may still be running (asyncio.all_tasks would scan every
        task in the process)."""
        self._prune()
        return list(self._tasks)

    def _prune(self) -> None:
        # A plain list (an append per task, where a weak set costs a weak reference per
        # task): finished tasks are dropped whenever it has doubled.
        self._tasks = [t for t in self._tasks if not t.done()]
        self._prune_at = 2 * len(self._tasks) + 64

    # -- driving --------------------------------------------------------------------------

    def next_hash(self) -> int:
        """A fresh creation number for a future or task of this loop."""
        self.hash_counter += 1
        return self.hash_counter

    def set_time_ms(self, time_ms: int) -> None:
        """Set workflow time for the activation about to run."""
        self._time_s = time_ms / 1000.0

    def run_until_idle(self, after_each_pass: Callable[[], bool] | None = None) -> None:
        """Run ready callbacks until none are left.

        ``after_each_pass`` is called whenever the ready queue drains; if it returns True
        (it made something ready, e.g. a satisfied ``wait_condition``), the loop continues.
        """
        previous = asyncio.events._get_running_loop()  # pyright: ignore[reportPrivateUsage]
        asyncio.events._set_running_loop(self)  # pyright: ignore[reportPrivateUsage]
        self._running = True
        try:
            ready = self._ready
            while True:
                # Handle._run inlined (a call per callback saved): the same call, and the
                # same report of what escapes it.
                while ready:
                    handle = ready.popleft()
                    if handle._cancelled:  # pyright: ignore[reportPrivateUsage]
                        continue
                    try:
                        handle._context.run(handle._callback, *handle._args)  # pyright: ignore[reportPrivateUsage]
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        self._callback_raised(handle, exc)
                if after_each_pass is None or not after_each_pass():
                    break
        finally:
            self._running = False
            asyncio.events._set_running_loop(previous)  # pyright: ignore[reportPrivateUsage]

    def _callback_raised(self, handle: asyncio.Handle, exc: BaseException) -> None:
        self.call_exception_handler(
            {"message": f"Exception in callback {handle!r}", "exception": exc, "handle": handle}
        )

    def take_unhandled(self) -> list[BaseException]:
        """Exceptions that escaped callbacks since the last call (and clear them)."""
        out, self._unhandled = self._unhandled, []
        return out

    def timer_cancelled(self, handle: WorkflowTimerHandle) -> None:
        """Called by a timer handle when it is cancelled."""
        self._timers.cancel_timer(handle)

    # -- the AbstractEventLoop surface asyncio uses -----------------------------------------

    def time(self) -> float:
        return self._time_s

    def call_soon(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = _new_handle(_ReadyHandle)
        handle._callback = callback  # pyright: ignore[reportPrivateUsage]
        handle._args = args  # pyright: ignore[reportPrivateUsage]
        handle._context = contextvars.copy_context() if context is None else context  # pyright: ignore[reportPrivateUsage]
        handle._loop = self  # pyright: ignore[reportPrivateUsage]
        handle._cancelled = False  # pyright: ignore[reportPrivateUsage]
        handle._repr = None  # pyright: ignore[reportPrivateUsage]
        handle._source_traceback = None  # pyright: ignore[reportPrivateUsage]
        self._ready.append(handle)
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        delay_ms = round(delay * 1000)
        handle = WorkflowTimerHandle(self._time_s + delay, callback, args, self, context)
        if delay_ms <= 0:
            # Zero or negative delays need no durable timer: run on the next pass.
            self._ready.append(handle)
        else:
            self._timers.start_timer(delay_ms, handle)
        return handle

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_later(when - self._time_s, callback, *args, context=context)

    def fire_timer(self, handle: WorkflowTimerHandle) -> None:
        """Run a timer's callback on the next pass (its durable timer fired)."""
        if not handle.cancelled():
            self._ready.append(handle)

    def create_future(self) -> asyncio.Future[Any]:
        self._making_own = True  # (see get_debug)
        try:
            future = WorkflowFuture(loop=self)
        finally:
            self._making_own = False
        self.hash_counter += 1
        future._stable_hash = self.hash_counter  # pyright: ignore[reportPrivateUsage]
        return future

    def create_task(  # type: ignore[override]
        self,
        coro: Any,
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        task = _new_task(WorkflowTask)
        self.hash_counter += 1
        task._stable_hash = self.hash_counter  # pyright: ignore[reportPrivateUsage]
        self._making_own = True  # (see get_debug)
        try:
            _init_task(task, coro, loop=self, name=name, context=context)
        except BaseException:
            self.hash_counter -= 1  # refused (not a coroutine): no number, as before
            raise
        finally:
            self._making_own = False
        tasks = self._tasks
        tasks.append(task)
        if len(tasks) >= self._prune_at:
            self._prune()
        return task

    def get_debug(self) -> bool:
        # Every future asks its loop for the debug flag as it is made (C Future.__init__),
        # which makes this the one place to reach the future asyncio.gather makes
        # (_GatheringFuture(...), not loop.create_future): otherwise it would hash by its
        # address, and a set of gathers (asyncio.wait, as_completed) could iterate in
        # another order on replay. It gets a class with a creation-number hash, like the
        # loop's own futures; its behaviour is _GatheringFuture's. (Not for the futures and
        # tasks this loop makes itself, ~30 per agent model call: looking at the caller's
        # frame costs more than the rest of this call.)
        if self._making_own:
            return False
        caller = sys._getframe(1)  # pyright: ignore[reportPrivateUsage]
        if caller.f_code is _GATHERING_INIT:
            outer = caller.f_locals["self"]
            if outer.__class__ is _GatheringFuture:  # (a subclass of it keeps its class)
                outer.__class__ = _WorkflowGatheringFuture
                self._gathers += 1
                outer._stable_hash = _GATHER_NUMBERS + self._gathers
        return False

    def set_debug(self, enabled: bool) -> None:
        pass

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._ready.clear()

    def get_task_factory(self) -> None:
        return None

    def set_task_factory(self, factory: Any) -> None:
        raise ConfigurationError(f"set_task_factory {_NOT_ALLOWED}")

    def get_exception_handler(self) -> Callable[..., object] | None:
        return self._exception_handler

    def set_exception_handler(self, handler: Callable[..., object] | None) -> None:
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        # A never-retrieved task exception is reported when the task is garbage collected;
        # that is not a failure of the current activation, so only callback errors count.
        if isinstance(exc, BaseException) and "handle" in context:
            self._unhandled.append(exc)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if self._exception_handler is not None:
            self._exception_handler(self, context)
        else:
            self.default_exception_handler(context)

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        pass

    # -- everything that would do I/O or block is refused ------------------------------------

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> Any:
        if not run_blocking_inline.get():
            raise ConfigurationError(f"run_in_executor (asyncio.to_thread) {_NOT_ALLOWED}")
        # Code declared deterministic (an in-workflow tool) whose library hands a sync
        # function to a thread: run it here, now, on the workflow's thread.
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def run_forever(self) -> None:
        raise ConfigurationError(f"run_forever {_NOT_ALLOWED}")

    def run_until_complete(self, future: Any) -> Any:
        raise ConfigurationError(f"run_until_complete {_NOT_ALLOWED}")

    def stop(self) -> None:
        pass

    async def shutdown_asyncgens(self) -> None:
        pass

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        pass


_new_handle = object.__new__
_new_task = asyncio.Task[Any].__new__
_init_task = asyncio.Task[Any].__init__


def _refuse(name: str) -> Callable[..., Any]:
    def refused(self: WorkflowEventLoop, *args: Any, **kwargs: Any) -> Any:
        raise ConfigurationError(f"loop.{name}() {_NOT_ALLOWED}")

    refused.__name__ = name
    return refused


# Sockets, subprocesses, signals, pipes, DNS, file descriptors: refused with a clear message
# instead of AbstractEventLoop's bare NotImplementedError.
for _name in (
    "add_reader",
    "add_writer",
    "remove_reader",
    "remove_writer",
    "add_signal_handler",
    "remove_signal_handler",
    "getaddrinfo",
    "getnameinfo",
    "create_connection",
    "create_server",
    "create_datagram_endpoint",
    "create_unix_connection",
    "create_unix_server",
    "connect_accepted_socket",
    "connect_read_pipe",
    "connect_write_pipe",
    "subprocess_exec",
    "subprocess_shell",
    "sock_recv",
    "sock_recv_into",
    "sock_sendall",
    "sock_connect",
    "sock_accept",
    "sock_sendfile",
    "sendfile",
    "start_tls",
    "set_default_executor",
):
    setattr(WorkflowEventLoop, _name, _refuse(_name))
