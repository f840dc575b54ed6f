"""Signals, updates and queries: how messages from outside reach workflow code.

A mixin of :class:`~duragent._engine.instance.WorkflowInstance`, kept apart because message
handling is its own concern: buffering signals until a handler exists, running handlers
as tasks, validating updates without recording anything, answering queries read-only.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from .._definitions import HandlerDefinition, WorkflowDefinition
from .._workflow_interceptors import (
    InterceptedRuntime,
    query_handler,
    signal_handler,
    update_handler,
    update_validator,
)
from ..errors import ConfigurationError, FailureError, QueryError, UpdateRejectedError
from ..serde import DataConverter, Payload
from . import commands as cmd
from . import events as ev
from .failure import failure_from_exception
from .loop import WorkflowEventLoop


@dataclass(slots=True)
class Handlers:
    """Handlers registered at run time with ``workflow.set_signal_handler``."""

    signals: dict[str | None, Callable[..., Any]] = field(default_factory=lambda: {})


def _attributes(obj: object) -> dict[str, Any]:
    """The instance attributes of a workflow object (empty for slotted classes)."""
    return cast(dict[str, Any], getattr(obj, "__dict__", {}))


class MessageHandling:
    """Signal, update and query handling for a workflow instance."""

    # State owned by WorkflowInstance.
    definition: WorkflowDefinition
    _converter: DataConverter
    _object: Any
    _loop: WorkflowEventLoop
    _context: contextvars.Context
    _commands: list[cmd.Command]
    _handler_tasks: set[asyncio.Task[Any]]
    _buffered_signals: dict[str, list[tuple[Payload, ...]]]
    _runtime_handlers: Handlers
    _read_only: str | None
    _intercepted: InterceptedRuntime | None
    closed: bool

    def _fail_task(self, exc: BaseException) -> None:
        raise NotImplementedError

    def _fails_workflow(self, exc: BaseException) -> bool:
        raise NotImplementedError

    def _close(self, command: cmd.Command) -> None:
        raise NotImplementedError

    def _on_signaled(self, event: ev.Event) -> None:
        assert isinstance(event, ev.WorkflowExecutionSignaled)
        self._deliver_signal(event.signal_name, event.input)

    def _deliver_signal(self, name: str, payloads: tuple[Payload, ...]) -> None:
        defn = self.definition.signals.get(name)
        through = self._intercepted
        if defn is not None:
            fn = getattr(self._object, defn.method_name)
            args = self._converter.decode_all(payloads, defn.hints[0], what=f"signal {name!r}")
            self._start_handler(signal_handler(through, name, fn), args, f"signal-{name}")
            return
        registered = self._runtime_handlers.signals.get(name)
        if registered is not None:
            args = self._converter.decode_all(payloads, (), what=f"signal {name!r}")
            self._start_handler(signal_handler(through, name, registered), args, f"signal-{name}")
            return
        dynamic = self._runtime_handlers.signals.get(None)
        if dynamic is None and self.definition.dynamic_signal is not None:
            dynamic = getattr(self._object, self.definition.dynamic_signal.method_name)
        if dynamic is not None:
            raw = self._converter.decode_all(payloads, (), what=f"signal {name!r}")
            self._start_handler(
                signal_handler(through, name, dynamic), [name, raw], f"signal-{name}"
            )
            return
        # No handler yet: keep it until one is registered (set_signal_handler).
        self._buffered_signals.setdefault(name, []).append(payloads)

    def _start_handler(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        name: str,
        on_done: Callable[[asyncio.Task[Any]], None] | None = None,
    ) -> None:
        async def run_handler() -> Any:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
            return result

        task = self._loop.create_task(run_handler(), name=name, context=self._context.copy())
        self._handler_tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._handler_tasks.discard(t)
            if on_done is not None:
                on_done(t)
                return
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                return
            if self._fails_workflow(exc) and not self.closed:
                failure = failure_from_exception(exc, self._converter)
                self._close(cmd.FailWorkflow(failure=failure))
            elif not isinstance(exc, asyncio.CancelledError):
                self._fail_task(exc)

        task.add_done_callback(done)

    def _on_update_accepted(self, event: ev.Event) -> None:
        assert isinstance(event, ev.WorkflowExecutionUpdateAccepted)
        handler = self._update_handler(event.update_name)
        update_id = event.update_id
        if handler is None:  # validated earlier, so only reachable if code changed
            self._commands.append(
                cmd.CompleteUpdate(
                    update_id=update_id,
                    failure=failure_from_exception(
                        UpdateRejectedError(f"no update handler {event.update_name!r}"),
                        self._converter,
                    ),
                )
            )
            return
        defn, fn = handler
        if defn.name is None:
            args: list[Any] = [
                event.update_name,
                self._converter.decode_all(event.input, (), what="update"),
            ]
        else:
            args = self._converter.decode_all(
                event.input, defn.hints[0], what=f"update {event.update_name!r}"
            )

        def done(t: asyncio.Task[Any]) -> None:
            if t.cancelled():
                exc: BaseException | None = asyncio.CancelledError()
            else:
                exc = t.exception()
            if exc is None:
                result = self._converter.encode(t.result(), what="update result")
                self._commands.append(cmd.CompleteUpdate(update_id=update_id, result=result))
            elif isinstance(exc, FailureError | asyncio.CancelledError):
                self._commands.append(
                    cmd.CompleteUpdate(
                        update_id=update_id,
                        failure=failure_from_exception(exc, self._converter),
                    )
                )
            else:
                self._fail_task(exc)

        fn = update_handler(self._intercepted, update_id, event.update_name, fn)
        self._start_handler(fn, args, f"update-{event.update_name}", on_done=done)

    def _update_handler(self, name: str) -> tuple[HandlerDefinition, Callable[..., Any]] | None:
        defn = self.definition.updates.get(name) or self.definition.dynamic_update
        if defn is None or self._object is None:
            return None
        return defn, getattr(self._object, defn.method_name)

    def query(self, name: str, args: Sequence[Payload], *, query_id: str = "") -> Payload:
        """Run a query handler against current state and return its encoded result.

        Raises:
            QueryError: No such handler, the handler failed, or it tried to change state.
        """
        if self._object is None:
            raise QueryError("the workflow has not started yet")
        defn = self.definition.queries.get(name) or self.definition.dynamic_query
        if defn is None:
            known = ", ".join(sorted(self.definition.queries)) or "none"
            raise QueryError(
                f"workflow {self.definition.name!r} has no query {name!r} (known: {known})"
            )
        fn = getattr(self._object, defn.method_name)
        if defn.name is None:
            call_args: list[Any] = [name, self._converter.decode_all(args, (), what="query")]
        else:
            call_args = self._converter.decode_all(args, defn.hints[0], what=f"query {name!r}")
        fn = query_handler(self._intercepted, query_id, name, fn)
        before = dict(_attributes(self._object))
        result = self._read_only_call(f"query {name!r}", fn, call_args, QueryError)
        after = _attributes(self._object)
        changed = [
            k
            for k in after.keys() | before.keys()
            if k not in before or k not in after or after[k] is not before[k]
        ]
        if changed:
            raise QueryError(
                f"query {name!r} changed workflow state ({', '.join(sorted(changed))}); "
                "queries must be read-only"
            )
        return self._converter.encode(result, what=f"result of query {name!r}")

    def validate_update(self, name: str, args: Sequence[Payload], *, update_id: str = "") -> None:
        """Run the update's validator (if any); raise ``UpdateRejectedError`` to reject."""
        handler = self._update_handler(name)
        if handler is None:
            known = ", ".join(sorted(self.definition.updates)) or "none"
            raise UpdateRejectedError(
                f"workflow {self.definition.name!r} has no update {name!r} (known: {known})"
            )
        defn, _ = handler
        try:
            decoded = self._converter.decode_all(args, defn.hints[0], what=f"update {name!r}")
        except Exception as exc:
            raise UpdateRejectedError(f"update {name!r}: {exc}", cause=exc) from exc
        if defn.validator is None:
            return
        validator = update_validator(
            self._intercepted, update_id, name, defn.validator.__get__(self._object)
        )
        call_args: list[Any] = [name, decoded] if defn.name is None else decoded
        self._read_only_call(
            f"validator of update {name!r}", validator, call_args, UpdateRejectedError
        )

    def _read_only_call(
        self,
        what: str,
        fn: Callable[..., Any],
        args: Sequence[Any],
        error: type[QueryError] | type[UpdateRejectedError],
    ) -> Any:
        self._read_only = what
        try:
            return self._context.copy().run(fn, *args)
        except (QueryError, UpdateRejectedError):
            raise
        except Exception as exc:
            raise error(f"{what} raised {type(exc).__name__}: {exc}", cause=exc) from exc
        finally:
            self._read_only = None

    def set_handler(self, kind: str, name: str | None, fn: Callable[..., Any] | None) -> None:
        if kind != "signal":
            raise ConfigurationError(f"cannot register {kind} handlers at run time")
        if fn is None:
            self._runtime_handlers.signals.pop(name, None)
            return
        self._runtime_handlers.signals[name] = fn
        # Deliver what was buffered for this name (or everything, for a dynamic handler).
        names = [name] if name is not None else list(self._buffered_signals)
        for n in names:
            for payloads in self._buffered_signals.pop(n, []):
                self._deliver_signal(n, payloads)

    def all_handlers_finished(self) -> bool:
        return not self._handler_tasks
