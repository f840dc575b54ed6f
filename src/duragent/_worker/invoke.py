"""Calling an activity function for one attempt: decode its arguments, run it (async on the
event loop, sync on the worker's executor, in another process for a process pool), and
turn what happened into a recordable outcome. Shared by activities and local activities."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass
from typing import Any

from .._definitions import ActivityDefinition, check_arg_count
from .._engine.failure import Failure, FailureKind, failure_from_exception
from ..activity import ActivityContext, CompleteAsyncError, current_context
from ..errors import CancelledError, ConfigurationError, SerializationError
from ..interceptor import ExecuteActivityInput, Interceptor
from ..serde import DataConverter, Payload
from .intercepted import is_async, run_intercepted
from .process_pool import ChildFailedError, SharedStateManager, call_in_pool

log = logging.getLogger("duragent.worker")


@dataclass(frozen=True, slots=True)
class Outcome:
    """``kind`` is ``"ok"`` (``payload``), ``"failed"`` or ``"cancelled"`` (``failure``),
    or ``"async"`` (the function called ``activity.raise_complete_async()``); ``error`` is
    what was raised here, for the log (None when raised in another process)."""

    kind: str
    payload: Payload | None = None
    failure: Failure | None = None
    error: BaseException | None = None


class FunctionRunner:
    """Runs activity functions for a worker."""

    def __init__(
        self,
        converter: DataConverter,
        executor: Executor,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.converter = converter
        self.executor = executor
        self.interceptors = tuple(interceptors)
        self.shared: SharedStateManager | None = None
        """Set when sync activities run in a process pool: carries heartbeats and
        cancellation across the process boundary."""
        self.broken = False
        """A pool process died: no sync activity can run here any more."""

    def non_retryable(self, err: BaseException) -> Failure:
        failure = failure_from_exception(err, self.converter)
        return Failure(
            message=failure.message,
            kind=failure.kind,
            type=failure.type,
            non_retryable=True,
            stack_trace=failure.stack_trace,
        )

    def decode(self, defn: ActivityDefinition, input: Sequence[Payload]) -> list[Any]:
        """The call's arguments. Raises SerializationError or ConfigurationError."""
        if defn.dynamic:
            return [self.converter.decode_all(tuple(input), (), what="argument")]
        check_arg_count(defn.param_counts, len(input), what=f"activity {defn.name!r}")
        return self.converter.decode_all(
            tuple(input), defn.hints[0], what=f"argument of activity {defn.name!r}"
        )

    async def run(
        self,
        defn: ActivityDefinition,
        input: Sequence[Payload],
        context: ActivityContext,
        *,
        pool_key: str = "",
        on_heartbeat: Callable[[tuple[Any, ...]], None] = lambda details: None,
        before_call: Callable[[], None] = lambda: None,
    ) -> Outcome:
        """One attempt. ``asyncio.CancelledError`` (a timeout, a shutdown, a cancellation
        request reaching an async activity) propagates: the caller knows which it was."""
        try:
            args = self.decode(defn, input)
        except (SerializationError, ConfigurationError) as err:
            return Outcome("failed", failure=self.non_retryable(err), error=err)
        before_call()
        token = current_context.set(context)
        try:
            if self.interceptors:
                result = await self._intercepted(defn, args, context, pool_key, on_heartbeat)
            else:
                result = await self._call(
                    defn, defn.fn, args, self.executor, context, pool_key, on_heartbeat
                )
        except CompleteAsyncError:
            return Outcome("async")
        except ChildFailedError as err:  # its traceback is the child's, in the failure
            cancelled = err.failure.kind == FailureKind.CANCELLED
            if cancelled and context.cancel_requested:
                return Outcome("cancelled", failure=err.failure)
            return Outcome("failed", failure=err.failure)
        except ConfigurationError as err:  # cannot cross the process boundary
            return Outcome("failed", failure=self.non_retryable(err), error=err)
        except CancelledError as err:
            failure = failure_from_exception(err, self.converter)
            if context.cancel_requested:
                return Outcome("cancelled", failure=failure)
            return Outcome("failed", failure=failure, error=err)
        except asyncio.CancelledError:
            raise
        except BrokenExecutor as err:
            # Every later attempt would fail the same way: the worker stops taking
            # activity tasks (other workers take them), as temporalio fails its worker.
            self.broken = True
            log.error(
                "the activity process pool is broken (a pool process died while running "
                "%s); this worker takes no more activity tasks",
                defn.name,
            )
            return Outcome("failed", failure=failure_from_exception(err, self.converter), error=err)
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt | SystemExit):
                raise
            return Outcome("failed", failure=failure_from_exception(err, self.converter), error=err)
        finally:
            current_context.reset(token)
        try:
            payload = self.converter.encode(result, what=f"result of activity {defn.name!r}")
        except SerializationError as err:
            return Outcome("failed", failure=self.non_retryable(err), error=err)
        return Outcome("ok", payload=payload)

    async def _call(
        self,
        defn: ActivityDefinition,
        fn: Callable[..., Any],
        args: Sequence[Any],
        executor: Executor,
        context: ActivityContext,
        pool_key: str,
        on_heartbeat: Callable[[tuple[Any, ...]], None],
    ) -> Any:
        """Call ``fn`` (the activity's function, or an interceptor's replacement): awaited,
        in the process pool, or on ``executor``."""
        if is_async(fn, defn.fn, defn.is_async):
            return await fn(*args)
        if self.shared is not None:
            if fn is not defn.fn:
                raise ConfigurationError(
                    f"an interceptor replaced the function of activity {defn.name!r}, "
                    "which runs on a process pool: only its arguments can change there"
                )
            return await call_in_pool(
                self.executor, self.shared, defn, list(args), context, pool_key, on_heartbeat
            )
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            executor, functools.partial(ctx.run, fn, *args)
        )

    async def _intercepted(
        self,
        defn: ActivityDefinition,
        args: list[Any],
        context: ActivityContext,
        pool_key: str,
        on_heartbeat: Callable[[tuple[Any, ...]], None],
    ) -> Any:
        """The attempt's call through the worker's interceptors."""

        async def call(input: ExecuteActivityInput) -> Any:
            executor = input.executor or self.executor
            return await self._call(
                defn, input.fn, input.args, executor, context, pool_key, on_heartbeat
            )

        executor = None if defn.is_async else self.executor
        input = ExecuteActivityInput(fn=defn.fn, args=args, executor=executor)
        return await run_intercepted(self.interceptors, context, input, call)
