"""The seam between workflow code and whatever runs it.

``duragent.workflow`` functions look up the current :class:`WorkflowRuntime` in a context
variable and delegate to it. The embedded engine's workflow instance is one runtime; a
Temporal-backed runtime or a test double can be another, and workflow code does not change.
"""

from __future__ import annotations

import random as _random
import sys
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from ._search_attributes import MEMO_MARKER, SEARCH_ATTRIBUTES_MARKER, stored
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .retry import RetryPolicy
    from .workflow import (
        ActivityHandle,
        ChildWorkflowHandle,
        ExternalWorkflowHandle,
        WorkflowInfo,
    )


@dataclass(frozen=True, slots=True)
class ActivityOptions:
    """Options of one activity invocation, as given to ``execute_activity``."""

    task_queue: str | None = None
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    at_most_once: bool | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class LocalActivityOptions:
    """Options of one local activity invocation."""

    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    local_retry_threshold: timedelta | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class ChildWorkflowOptions:
    """Options of one child workflow start."""

    id: str | None = None
    task_queue: str | None = None
    parent_close_policy: str = "terminate"
    memo: dict[str, Any] | None = None


class WorkflowRuntime(ABC):
    """What workflow code can ask of the engine running it."""

    @abstractmethod
    def info(self) -> WorkflowInfo: ...

    @abstractmethod
    def now(self) -> datetime: ...

    @abstractmethod
    def random(self) -> _random.Random: ...

    @abstractmethod
    def uuid4(self) -> uuid.UUID: ...

    @abstractmethod
    def is_replaying(self) -> bool: ...

    @abstractmethod
    def start_activity(
        self,
        activity: Callable[..., Any] | str,
        args: Sequence[Any],
        options: ActivityOptions,
        result_type: Any,
    ) -> ActivityHandle[Any]: ...

    @abstractmethod
    def start_local_activity(
        self,
        activity: Callable[..., Any] | str,
        args: Sequence[Any],
        options: LocalActivityOptions,
        result_type: Any,
    ) -> ActivityHandle[Any]: ...

    @abstractmethod
    def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> Awaitable[None]: ...

    @abstractmethod
    def patched(self, patch_id: str, *, deprecated: bool) -> bool: ...

    @abstractmethod
    def start_child_workflow(
        self,
        workflow: Any,
        args: Sequence[Any],
        options: ChildWorkflowOptions,
        result_type: Any,
    ) -> Awaitable[ChildWorkflowHandle[Any]]: ...

    @abstractmethod
    def external_workflow(self, workflow_id: str, run_id: str | None) -> ExternalWorkflowHandle: ...

    @abstractmethod
    def continue_as_new(
        self, args: Sequence[Any], workflow: Any, task_queue: str | None
    ) -> NoReturn: ...

    @abstractmethod
    def set_handler(self, kind: str, name: str | None, fn: Callable[..., Any] | None) -> None: ...

    @abstractmethod
    def all_handlers_finished(self) -> bool: ...

    @abstractmethod
    def run_state(self) -> dict[str, Any]:
        """Per-run storage for integrations (a usage tally, a budget). It lives with the
        instance, so a replay rebuilds it from scratch instead of counting twice."""

    @abstractmethod
    def record_marker(self, name: str, details: dict[str, Any]) -> None:
        """Record a fact in history (replayed like any command)."""

    def upsert_search_attributes(self, attributes: dict[str, Any], types: dict[str, str]) -> None:
        """Set (or, for None values, remove) the run's search attributes (checked by the
        caller; ``types``: Temporal's type names given by typed keys). The embedded engine
        records the change as a marker (values only: it has no registry of types); the
        store applies it to the run's visibility record."""
        del types
        self.record_marker(SEARCH_ATTRIBUTES_MARKER, stored(attributes))

    def upsert_memo(self, memo: dict[str, Any]) -> None:
        """Set (or, for None values, remove) memo entries (JSON values)."""
        self.record_marker(MEMO_MARKER, memo)


current_runtime: ContextVar[WorkflowRuntime | None] = ContextVar(
    "duragent_workflow_runtime", default=None
)


def runtime() -> WorkflowRuntime:
    """The runtime of the workflow code that is running, or a clear error outside one."""
    rt = current_runtime.get()
    if rt is None:
        raise NotInWorkflowError(sys._getframe(1).f_code.co_name)  # pyright: ignore[reportPrivateUsage]
    return rt


class NotInWorkflowError(ConfigurationError):
    """A ``duragent.workflow`` function was called outside workflow code."""

    def __init__(self, function: str) -> None:
        from .activity import current_context

        self.function = function
        """The workflow function that was called (``random``, ``now``, ...)."""
        activity = current_context.get()
        self.activity_type = activity.info.activity_type if activity is not None else None
        """The activity that called it, if an activity did."""
        call = f"duragent.workflow.{function}()"
        if self.activity_type is not None:
            message = (
                f"{call} was called from activity code (activity {self.activity_type!r}), "
                "which is not workflow code: workflow functions work only inside a "
                "@workflow.defn class. Call it in the workflow and pass the value to the "
                "activity"
            )
        else:
            message = (
                f"not in workflow code: {call} can only be called from inside a "
                "@workflow.defn class run by a worker or replayer"
            )
        super().__init__(message)


def in_workflow() -> bool:
    """Whether the caller is running inside workflow code."""
    return current_runtime.get() is not None
