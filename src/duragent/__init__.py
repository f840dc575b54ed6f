"""Duragent: durable AI agents for Python.

Temporal's programming model (workflows, activities, signals, queries, updates, timers,
child workflows, replay) on an embedded engine backed by one SQLite file, with the OpenAI
Agents SDK made durable on top.
"""

from . import activity, workflow
from .client import (
    Client,
    WorkflowExecution,
    WorkflowHandle,
    WorkflowStatus,
    WorkflowUpdateHandle,
)
from .errors import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    ConfigurationError,
    DuragentError,
    FailureError,
    ForkError,
    NondeterminismError,
    PayloadTooLargeError,
    QueryError,
    ScheduleAlreadyRunningError,
    ScheduleNotFoundError,
    SerializationError,
    StoreCorruptError,
    StoreError,
    StoreFileChangedError,
    StoreFullError,
    StoreIOError,
    StoreLockedError,
    StoreVersionError,
    TerminatedError,
    TimeoutError,
    UpdateFailedError,
    UpdateRejectedError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from .history import WorkflowHistory
from .retry import RetryPolicy
from .store.base import IdConflictPolicy
from .worker import Worker

__version__ = "0.1.0"

__all__ = [
    "ActivityError",
    "ApplicationError",
    "CancelledError",
    "ChildWorkflowError",
    "Client",
    "ConfigurationError",
    "DuragentError",
    "FailureError",
    "ForkError",
    "IdConflictPolicy",
    "NondeterminismError",
    "PayloadTooLargeError",
    "QueryError",
    "RetryPolicy",
    "ScheduleAlreadyRunningError",
    "ScheduleNotFoundError",
    "SerializationError",
    "StoreCorruptError",
    "StoreError",
    "StoreFileChangedError",
    "StoreFullError",
    "StoreIOError",
    "StoreLockedError",
    "StoreVersionError",
    "TerminatedError",
    "TimeoutError",
    "UpdateFailedError",
    "UpdateRejectedError",
    "Worker",
    "WorkflowAlreadyStartedError",
    "WorkflowExecution",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowHistory",
    "WorkflowNotFoundError",
    "WorkflowNotRunningError",
    "WorkflowStatus",
    "WorkflowUpdateHandle",
    "__version__",
    "activity",
    "workflow",
]
