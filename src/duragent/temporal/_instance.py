"""One Duragent workflow run inside a temporalio workflow: the workflow object, its run
method, and the signals, queries and updates that reach it.

temporalio runs a single dynamic workflow class (see ``_worker.py``) whose handlers forward
here; this object holds the user's ``@workflow.defn`` instance and calls it with arguments
decoded by Duragent's converter and the parameter hints of the user's methods.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import temporalio.exceptions as tx
import temporalio.workflow as tw
from temporalio.common import (
    RawValue,
    SearchAttributeKey,
)

from .._definitions import HandlerDefinition, WorkflowDefinition
from .._engine.fork import FORK_STATE_KEY
from .._runtime import WorkflowRuntime, current_runtime
from .._workflow_interceptors import (
    intercepted,
    query_handler,
    signal_handler,
    update_handler,
    update_validator,
)
from ..errors import FailureError, QueryError, UpdateRejectedError
from ..interceptor import ExecuteWorkflowInput
from ._failures import to_temporal
from ._runtime import TemporalRuntime, WorkerSettings
from .fork import fork_recording

__all__ = ["TemporalWorkflowInstance"]

# The agents integration's names (duragent.openai_agents._names; a test keeps them equal):
# imported here they would load the OpenAI Agents SDK into every Temporal worker.
APPROVAL_MARKER: Final = "duragent.approval_requested"
DECIDE_UPDATE: Final = "duragent_decide_approval"
PENDING_QUERY: Final = "duragent_pending_approvals"
PENDING_ATTRIBUTE: Final = SearchAttributeKey.for_int("DuragentPendingApprovals")


def _attributes(obj: object) -> dict[str, Any]:
    return cast(dict[str, Any], getattr(obj, "__dict__", {}))


class TemporalWorkflowInstance:
    """A Duragent workflow object run by temporalio."""

    def __init__(
        self, settings: WorkerSettings, definition: WorkflowDefinition, args: Sequence[RawValue]
    ) -> None:
        self.settings = settings
        self.definition = definition
        self.bridge = settings.bridge
        self.runtime = TemporalRuntime(self, settings)
        self.own_handlers = 0
        self._signal_handlers: dict[str | None, Callable[..., Any]] = {}
        self._buffered: dict[str, list[Sequence[RawValue]]] = {}
        self._pending_approvals = 0
        recording = fork_recording()  # a fork in cassette mode serves its source's calls
        if recording is not None:
            self.runtime.run_state()[FORK_STATE_KEY] = recording
        arg_hints, _ = definition.hints
        self._args = self.bridge.decode_all(args, arg_hints, what="workflow argument")
        token = current_runtime.set(self.runtime)
        try:
            self.intercepted = intercepted(self.runtime, settings.interceptors)
            self.visible: WorkflowRuntime = self.intercepted or self.runtime
            """What the workflow code sees as its runtime."""
            self.runtime.visible = self.visible
            current_runtime.set(self.visible)
            cls = definition.cls
            self.object: Any = cls(*self._args) if definition.init_takes_args else cls()
        finally:
            current_runtime.reset(token)

    # -- the run method ----------------------------------------------------------------------

    def fails_workflow(self, exc: BaseException) -> bool:
        return isinstance(exc, (FailureError, *self.definition.failure_exception_types))

    def _to_temporal_failure(self, exc: BaseException) -> BaseException:
        """Translate what should fail the workflow (or the update) into temporalio's
        failure; anything else stays as it is, so temporalio fails the workflow *task* and
        retries it, exactly as the embedded engine does."""
        if isinstance(exc, tx.FailureError) or not self.fails_workflow(exc):
            return exc
        return to_temporal(exc, self.bridge)

    async def run(self) -> RawValue:
        # Each run, handler and update is its own task with its own context: set, never
        # reset (an evicted run's coroutine is closed from another context).
        current_runtime.set(self.visible)
        try:
            run = getattr(self.object, self.definition.run_fn.__name__)
            if self.intercepted is not None:
                result = await self.intercepted.inbound.execute_workflow(
                    ExecuteWorkflowInput(type=self.definition.cls, run_fn=run, args=self._args)
                )
            else:
                result = await run(*self._args)
        except BaseException as exc:
            failure = self._to_temporal_failure(exc)
            if failure is exc:
                raise
            raise failure  # noqa: B904 (its cause is the translated chain)
        return self.bridge.to_raw(result, what="workflow result")

    # -- signals ---------------------------------------------------------------------------------

    async def handle_signal(self, name: str, raws: Sequence[RawValue]) -> None:
        call = self._signal_call(name, raws)
        if call is None:
            # No handler yet: kept until one is registered (set_signal_handler).
            self._buffered.setdefault(name, []).append(raws)
            return
        await self._call(*call)

    def _signal_call(
        self, name: str, raws: Sequence[RawValue]
    ) -> tuple[Callable[..., Any], list[Any]] | None:
        defn = self.definition.signals.get(name)
        through = self.intercepted
        if defn is not None:
            args = self.bridge.decode_all(raws, defn.hints[0], what=f"signal {name!r}")
            return signal_handler(through, name, getattr(self.object, defn.method_name)), args
        registered = self._signal_handlers.get(name)
        if registered is not None:
            args = self.bridge.decode_all(raws, (), what=f"signal {name!r}")
            return signal_handler(through, name, registered), args
        dynamic = self._signal_handlers.get(None)
        if dynamic is None and self.definition.dynamic_signal is not None:
            dynamic = getattr(self.object, self.definition.dynamic_signal.method_name)
        if dynamic is not None:
            args = [name, self.bridge.decode_all(raws, (), what=f"signal {name!r}")]
            return signal_handler(through, name, dynamic), args
        return None

    async def _call(self, fn: Callable[..., Any], args: Sequence[Any]) -> Any:
        current_runtime.set(self.visible)  # this handler's own task (see run)
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
            return result
        except BaseException as exc:
            failure = self._to_temporal_failure(exc)
            if failure is exc:
                raise
            raise failure  # noqa: B904 (its cause is the translated chain)

    def set_signal_handler(self, name: str | None, fn: Callable[..., Any] | None) -> None:
        if fn is None:
            self._signal_handlers.pop(name, None)
            return
        self._signal_handlers[name] = fn
        names = [name] if name is not None else list(self._buffered)
        for n in names:
            for raws in self._buffered.pop(n, []):
                call = self._signal_call(n, raws)
                if call is not None:
                    self._spawn(*call)

    def _spawn(self, fn: Callable[..., Any], args: Sequence[Any]) -> None:
        self.own_handlers += 1

        async def run_handler() -> None:
            try:
                await self._call(fn, args)
            finally:
                self.own_handlers -= 1

        asyncio.get_running_loop().create_task(run_handler())

    # -- queries --------------------------------------------------------------------------------

    def handle_query(self, name: str, raws: Sequence[RawValue], query_id: str = "") -> RawValue:
        defn = self.definition.queries.get(name) or self.definition.dynamic_query
        if defn is None:
            known = ", ".join(sorted(self.definition.queries)) or "none"
            raise QueryError(
                f"workflow {self.definition.name!r} has no query {name!r} (known: {known})"
            )
        fn = query_handler(self.intercepted, query_id, name, getattr(self.object, defn.method_name))
        if defn.name is None:
            args: list[Any] = [name, self.bridge.decode_all(raws, (), what="query")]
        else:
            args = self.bridge.decode_all(raws, defn.hints[0], what=f"query {name!r}")
        before = dict(_attributes(self.object))
        result = self._read_only(f"query {name!r}", fn, args, QueryError)
        after = _attributes(self.object)
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
        return self.bridge.to_raw(result, what=f"result of query {name!r}")

    def _read_only(
        self,
        what: str,
        fn: Callable[..., Any],
        args: Sequence[Any],
        error: type[QueryError] | type[UpdateRejectedError],
    ) -> Any:
        token = current_runtime.set(self.visible)
        try:
            return fn(*args)
        except (QueryError, UpdateRejectedError):
            raise
        except Exception as exc:
            raise error(f"{what} raised {type(exc).__name__}: {exc}", cause=exc) from exc
        finally:
            current_runtime.reset(token)

    # -- updates --------------------------------------------------------------------------------

    def _update_handler(self, name: str) -> HandlerDefinition | None:
        return self.definition.updates.get(name) or self.definition.dynamic_update

    def _update_args(
        self, defn: HandlerDefinition, name: str, raws: Sequence[RawValue]
    ) -> list[Any]:
        if defn.name is None:
            return [name, self.bridge.decode_all(raws, (), what="update")]
        return self.bridge.decode_all(raws, defn.hints[0], what=f"update {name!r}")

    def validate_update(self, name: str, raws: Sequence[RawValue], update_id: str = "") -> None:
        """Run the validator; raise to reject (nothing is recorded)."""
        defn = self._update_handler(name)
        if defn is None:
            known = ", ".join(sorted(self.definition.updates)) or "none"
            raise UpdateRejectedError(
                f"workflow {self.definition.name!r} has no update {name!r} (known: {known})"
            )
        try:
            args = self._update_args(defn, name, raws)
        except Exception as exc:
            raise UpdateRejectedError(f"update {name!r}: {exc}", cause=exc) from exc
        if defn.validator is None:
            return
        validator = update_validator(
            self.intercepted, update_id, name, defn.validator.__get__(self.object)
        )
        self._read_only(f"validator of update {name!r}", validator, args, UpdateRejectedError)

    async def handle_update(
        self, name: str, raws: Sequence[RawValue], update_id: str = ""
    ) -> RawValue:
        defn = self._update_handler(name)
        if defn is None:  # validated first, so only a code change gets here
            raise UpdateRejectedError(f"no update handler {name!r}")
        args = self._update_args(defn, name, raws)
        fn = update_handler(
            self.intercepted, update_id, name, getattr(self.object, defn.method_name)
        )
        try:
            result = await self._call(fn, args)
        except asyncio.CancelledError:
            raise tx.CancelledError("update cancelled") from None
        if name == DECIDE_UPDATE:
            self._refresh_pending_approvals()
        return self.bridge.to_raw(result, what="update result")

    # -- approvals ------------------------------------------------------------------------------

    def after_marker(self, name: str) -> None:
        if name == APPROVAL_MARKER:
            self._refresh_pending_approvals()

    def _refresh_pending_approvals(self) -> None:
        """Keep the ``DuragentPendingApprovals`` search attribute equal to the number of
        tool calls waiting for a human, so they can be listed without a worker."""
        if not self.settings.pending_approvals_attribute:
            return
        defn = self.definition.queries.get(PENDING_QUERY)
        if defn is None:
            return
        pending = getattr(self.object, defn.method_name)()
        count = len(pending)
        if count != self._pending_approvals:
            self._pending_approvals = count
            tw.upsert_search_attributes([PENDING_ATTRIBUTE.value_set(count)])
