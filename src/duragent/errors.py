"""Every error Duragent raises, under one root.

Each error says whether trying again can help: ``retryable`` is ``True`` for conditions that
may pass (a locked database, an activity attempt that failed) and ``False`` for terminal
ones (bad input, a newer store format, a workflow that failed for good).

Error tree::

    DuragentError
    ├── FailureError                 an error that is recorded in history and crosses
    │   │                            the workflow/activity boundary (``failure`` holds
    │   │                            the record: message, stack trace, cause)
    │   ├── ApplicationError         raised by user code; carries type, details,
    │   │                            non_retryable and retry_after
    │   ├── CancelledError           the operation was cancelled
    │   ├── TerminatedError          the workflow was terminated
    │   ├── TimeoutError             an activity or workflow timed out (also a builtin
    │   │                            TimeoutError)
    │   ├── ActivityError            raised in a workflow when an activity failed for good
    │   └── ChildWorkflowError       raised in a workflow when a child workflow failed
    ├── WorkflowFailureError         raised by ``handle.result()`` when the run did not
    │                                complete; ``cause`` holds the reason
    ├── NondeterminismError          workflow code no longer matches its history
    ├── WorkflowAlreadyStartedError  a running workflow already has this id
    ├── WorkflowNotFoundError        no workflow with this id (or run id)
    ├── WorkflowNotRunningError      the workflow is closed and cannot take this request
    ├── ActivityNotFoundError        no such activity attempt waits for completion
    ├── AsyncActivityCancelledError  an asynchronously completed activity was cancelled
    ├── ScheduleAlreadyRunningError  a schedule with this id already exists
    ├── ScheduleNotFoundError        no schedule with this id
    ├── QueryError                   a query failed or was rejected
    ├── UpdateRejectedError          an update's validator rejected it
    ├── UpdateFailedError            an accepted update's handler failed
    ├── SerializationError           a value cannot be converted to or from a payload
    │   └── PayloadTooLargeError     a payload is over the configured size limit
    ├── ConfigurationError           invalid arguments or definitions (bad decorator use,
    │   │                            unknown URL scheme, ...)
    │   └── ForkError                a run cannot be forked as asked (no such model
    │                                call, a child still running at the fork point)
    └── StoreError                   the persistence layer failed
        ├── StoreLockedError         another process held the database lock too long
        ├── StoreFullError           the disk holding the database is full
        ├── StoreIOError             the disk or file system reported an I/O error
        ├── StoreFileChangedError    the database file was moved, deleted or replaced
        │                            while open
        ├── StoreCorruptError        the file is not a (valid) Duragent database
        └── StoreVersionError        the database was written by a newer Duragent
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._engine.failure import Failure

__all__ = [
    "ActivityError",
    "ActivityNotFoundError",
    "ApplicationError",
    "ApplicationErrorCategory",
    "AsyncActivityCancelledError",
    "CancelledError",
    "ChildWorkflowError",
    "ConfigurationError",
    "DuragentError",
    "FailureError",
    "ForkError",
    "NondeterminismError",
    "PayloadTooLargeError",
    "QueryError",
    "RetryState",
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
    "TimeoutType",
    "UpdateFailedError",
    "UpdateRejectedError",
    "WorkflowAlreadyStartedError",
    "WorkflowFailureError",
    "WorkflowNotFoundError",
    "WorkflowNotRunningError",
]


class DuragentError(Exception):
    """Root of every error Duragent raises."""

    retryable: ClassVar[bool] = False
    """Whether trying the same operation again may succeed."""


class FailureError(DuragentError):
    """An error that is recorded in history and can cross process boundaries.

    Attributes:
        message: The human-readable message.
        cause: The underlying failure, if any (also set as ``__cause__``).
        failure: The recorded failure this error was rebuilt from (None for an error
            raised here and not yet recorded), as in temporalio: ``failure.message``,
            ``failure.stack_trace`` (where it was raised, in whichever process),
            ``failure.cause`` and the kind-specific ``application_failure_info``,
            ``timeout_failure_info``, ``activity_failure_info``, ... .
    """

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        self.failure: Failure | None = None
        if cause is not None:
            self.__cause__ = cause


class ApplicationErrorCategory:
    """How an application error is reported (temporalio's ``ApplicationErrorCategory``)."""

    UNSPECIFIED = "UNSPECIFIED"
    BENIGN = "BENIGN"
    """An expected failure: the worker logs its attempts at DEBUG, not WARNING."""


class ApplicationError(FailureError):
    """An error raised by user code in an activity or workflow.

    Raise it to control retries: ``non_retryable=True`` stops retrying at once, and
    ``retry_after`` asks for the next attempt no sooner than the given delay (for example
    from a server's ``Retry-After`` header). ``type`` is matched against a retry policy's
    ``non_retryable_error_types``; it defaults to the class name.

    Args:
        message: What went wrong.
        *details: JSON-serializable values carried along with the error.
        type: Error type name used for retry decisions.
        non_retryable: Never retry this failure.
        retry_after: Minimum delay before the next attempt (the retry policy's backoff
            applies when it is longer), e.g. a server's ``Retry-After``.
        next_retry_delay: Exact delay before the next attempt, instead of the retry
            policy's backoff (temporalio's meaning).
        category: An :class:`ApplicationErrorCategory`; ``BENIGN`` failures are logged
            at DEBUG.
    """

    def __init__(
        self,
        message: str,
        *details: Any,
        type: str | None = None,
        non_retryable: bool = False,
        retry_after: timedelta | None = None,
        next_retry_delay: timedelta | None = None,
        category: str = ApplicationErrorCategory.UNSPECIFIED,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.details: Sequence[Any] = details
        self.type = type or builtins.type(self).__name__
        self.non_retryable = non_retryable
        self.retry_after = retry_after
        self.next_retry_delay = next_retry_delay
        self.category = category

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """Retryable unless marked ``non_retryable``."""
        return not self.non_retryable


class CancelledError(FailureError):
    """The activity, child workflow or workflow was cancelled."""

    def __init__(self, message: str = "cancelled", *details: Any) -> None:
        super().__init__(message)
        self.details: Sequence[Any] = details


class TerminatedError(FailureError):
    """The workflow was terminated; no code ran after the request."""


class RetryState:
    """Why an activity stopped being retried (string constants, as recorded in history;
    the names of temporalio's ``RetryState``)."""

    IN_PROGRESS = "IN_PROGRESS"
    NON_RETRYABLE_FAILURE = "NON_RETRYABLE_FAILURE"
    TIMEOUT = "TIMEOUT"
    MAXIMUM_ATTEMPTS_REACHED = "MAXIMUM_ATTEMPTS_REACHED"
    RETRY_POLICY_NOT_SET = "RETRY_POLICY_NOT_SET"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"


class TimeoutType:
    """The kinds of timeout (string constants, as recorded in history)."""

    START_TO_CLOSE = "START_TO_CLOSE"
    SCHEDULE_TO_CLOSE = "SCHEDULE_TO_CLOSE"
    HEARTBEAT = "HEARTBEAT"


class TimeoutError(FailureError, builtins.TimeoutError):
    """An activity attempt or an activity as a whole ran out of time.

    Also a builtin ``TimeoutError``, so ``except TimeoutError`` catches it either way.

    Attributes:
        type: One of the :class:`TimeoutType` constants.
        last_heartbeat_details: The details of the last heartbeat, if any.
    """

    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        type: str,
        last_heartbeat_details: Sequence[Any] = (),
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.type = type
        self.last_heartbeat_details = last_heartbeat_details


class ActivityError(FailureError):
    """Raised in workflow code when an activity failed for good (after its retries).

    ``cause`` holds why: an :class:`ApplicationError`, a :class:`TimeoutError` or a
    :class:`CancelledError`. ``retry_state`` (a :class:`RetryState` value) says why it was
    not retried again.
    """

    def __init__(
        self,
        message: str,
        *,
        activity_type: str,
        activity_seq: int,
        attempt: int,
        retry_state: str = "",
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.activity_type = activity_type
        self.activity_seq = activity_seq
        self.attempt = attempt
        self.retry_state = retry_state

    @property
    def activity_id(self) -> str:
        """The activity's id within its workflow run (its sequence number)."""
        return str(self.activity_seq)


class ChildWorkflowError(FailureError):
    """Raised in workflow code when a child workflow did not complete successfully."""

    def __init__(
        self,
        message: str,
        *,
        workflow_id: str,
        workflow_type: str,
        run_id: str = "",
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.run_id = run_id


class WorkflowFailureError(DuragentError):
    """Raised by ``WorkflowHandle.result()`` when the run failed, was cancelled,
    terminated or timed out. ``cause`` (also ``__cause__``) says which."""

    def __init__(self, message: str, *, cause: BaseException) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause


class NondeterminismError(DuragentError):
    """Workflow code produced different commands than its history recorded.

    The run is not failed: its workflow task is retried, so deploying fixed code (or a
    ``workflow.patched`` branch) lets it continue.

    Attributes:
        event_id: The history event where replay diverged (0 if at the end).
        expected: What history recorded there.
        actual: What the current code asked for.
    """

    def __init__(self, message: str, *, event_id: int = 0, expected: str = "", actual: str = ""):
        super().__init__(message)
        self.event_id = event_id
        self.expected = expected
        self.actual = actual


class WorkflowAlreadyStartedError(DuragentError):
    """A workflow with this id is already running."""

    def __init__(self, workflow_id: str, run_id: str, workflow_type: str = "") -> None:
        super().__init__(
            f"workflow id {workflow_id!r} is already running (run {run_id}); "
            "choose another id, wait for it to close, or use id_conflict_policy"
        )
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.workflow_type = workflow_type


class WorkflowNotFoundError(DuragentError):
    """No workflow with this id (or run id) exists in the store."""


class WorkflowNotRunningError(DuragentError):
    """The workflow run is closed, so it cannot receive this signal, update or request."""


class ActivityNotFoundError(DuragentError):
    """No activity attempt matches the task token (or workflow id and activity id) given to
    an async activity handle: the activity completed, failed, timed out or was retried
    since the token was issued (a token names one attempt), or never existed."""


class AsyncActivityCancelledError(DuragentError):
    """Raised by ``AsyncActivityHandle.heartbeat()`` when cancellation of the activity was
    requested: stop the work and call ``report_cancellation()``."""


class ScheduleAlreadyRunningError(DuragentError):
    """A schedule with this id already exists (temporalio's name for it)."""


class ScheduleNotFoundError(DuragentError):
    """No schedule with this id exists."""


class QueryError(DuragentError):
    """A query failed: the handler raised, does not exist, or tried to change state."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class UpdateRejectedError(DuragentError):
    """An update was rejected by its validator (or has no handler); nothing was recorded."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class UpdateFailedError(DuragentError):
    """An accepted update's handler failed (or the workflow closed before it finished);
    ``cause`` says why."""

    def __init__(self, message: str, *, cause: BaseException) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause


class SerializationError(DuragentError):
    """A value could not be converted to or from a payload."""


class PayloadTooLargeError(SerializationError):
    """A payload is larger than the store's ``max_payload_bytes`` limit."""


class ConfigurationError(DuragentError):
    """Invalid definitions or arguments: fix the code or the call."""


class ForkError(ConfigurationError):
    """A run cannot be forked as asked: the source has no such model call, or work that a
    fork cannot share (a child workflow) was still running at the fork point. Nothing was
    created."""


class StoreError(DuragentError):
    """The persistence layer failed."""


class StoreLockedError(StoreError):
    """Another process held the database write lock for longer than the busy timeout."""

    retryable: ClassVar[bool] = True


class StoreFullError(StoreError):
    """The disk (file system) holding the database is full: nothing of the operation was
    written. Retryable: once space is freed the same call succeeds, and running workers
    carry on by themselves."""

    retryable: ClassVar[bool] = True


class StoreIOError(StoreError):
    """The disk or file system reported an I/O error: nothing of the operation was
    written. Retryable, since such errors can be transient; a persistent one needs the
    disk checked."""

    retryable: ClassVar[bool] = True


class StoreFileChangedError(StoreError):
    """The database file was moved, deleted or replaced by another file while it was open.

    Writing on would go to a file no other process can see, so the store stops: every
    operation raises this. Put the file back (or restore it) and open the store again.
    """


class StoreCorruptError(StoreError):
    """The database file is not a valid Duragent database."""


class StoreVersionError(StoreError):
    """The database (or a record in it) was written by a newer Duragent than this one."""
