"""History events: the append-only record of one workflow run.

Events are frozen dataclasses. Two families matter to replay:

* **input events** arrive from outside the workflow code (the run started, an activity
  finished, a timer fired, a signal came in). They are delivered to the code in batches,
  one batch per workflow task.
* **command events** record what the code asked for (schedule an activity, start a timer,
  complete). They are appended right after the ``WorkflowTaskCompleted`` event of the task
  that produced them, in one transaction, and replay checks that current code asks for the
  same things in the same order.

``WorkflowTaskCompleted.processed_through`` is the last input event the task saw: input
events with a larger id that were appended before the marker arrived while the task ran
and belong to the next batch.

The format is versioned: ``EVENT_SCHEMA_VERSION`` is stored with every history (database
and export); readers reject a newer version and unknown event types with a clear error.
Encoding is pure: callers pass functions that turn payloads into JSON references and back,
so the store decides how payloads are kept (inline or content-addressed).
"""

from __future__ import annotations

import dataclasses
import operator
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from ..errors import StoreVersionError
from ..retry import RetryPolicy
from ..serde import Payload
from .failure import Failure

EVENT_SCHEMA_VERSION: Final = 3
"""Version of the event format written by this code. History of schema version N is
readable by code with ``EVENT_SCHEMA_VERSION >= N``.

Version table:
    1: initial format (this file's event types).
    2: ``fork`` and ``fork_results`` appended to ``WorkflowExecutionStarted`` (forks; a
       version-1 reader of an export would drop them silently and replay a fork as a
       live run, so such histories must be refused by it).
    3: ``LocalActivityRecorded`` (local activities); ``retry_state`` appended to
       ``ActivityTaskFailed`` and ``ActivityTaskTimedOut``.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all history events."""

    TYPE: ClassVar[str] = ""
    IS_COMMAND: ClassVar[bool] = False

    event_id: int
    """1-based position in the run's history."""
    time: int
    """When the event was recorded, milliseconds since the Unix epoch (workflow time for
    command events: the time of the task that produced them)."""


# --------------------------------------------------------------------------- input events


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionStarted(Event):
    TYPE: ClassVar[str] = "WorkflowExecutionStarted"
    workflow_type: str
    workflow_id: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    attempt: int = 1
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    parent_seq: int | None = None
    continued_from_run_id: str | None = None
    first_run_id: str | None = None
    memo: dict[str, Any] = field(default_factory=lambda: {})
    fork: Payload | None = None
    """Set when this run is a fork of another (see ``_engine.fork``): where it came from,
    what it overrides and how it serves recorded calls (a JSON document that the agents
    integration reads; the engine only hands it to the run)."""
    fork_results: tuple[Payload, ...] = ()
    """Results recorded by the fork's source that the fork may serve instead of calling
    again (referenced by index from ``fork``; content-addressed, so shared, not copied)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskCompleted(Event):
    TYPE: ClassVar[str] = "ActivityTaskCompleted"
    seq: int
    result: Payload
    attempt: int
    started_time: int
    worker: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskFailed(Event):
    TYPE: ClassVar[str] = "ActivityTaskFailed"
    seq: int
    failure: Failure
    attempt: int
    started_time: int = 0
    worker: str = ""
    retry_state: str = ""
    """Why the activity is not retried (a ``RetryState`` value; empty in version 1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskTimedOut(Event):
    TYPE: ClassVar[str] = "ActivityTaskTimedOut"
    seq: int
    failure: Failure
    attempt: int
    retry_state: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskCanceled(Event):
    TYPE: ClassVar[str] = "ActivityTaskCanceled"
    seq: int
    attempt: int = 0
    details: tuple[Payload, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired(Event):
    TYPE: ClassVar[str] = "TimerFired"
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionSignaled(Event):
    TYPE: ClassVar[str] = "WorkflowExecutionSignaled"
    signal_name: str
    input: tuple[Payload, ...] = ()
    identity: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionCancelRequested(Event):
    TYPE: ClassVar[str] = "WorkflowExecutionCancelRequested"
    reason: str = ""
    identity: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionUpdateAccepted(Event):
    """An update that passed its validator; written by the task that validated it, just
    before that task's ``WorkflowTaskCompleted``, so the task's batch includes it."""

    TYPE: ClassVar[str] = "WorkflowExecutionUpdateAccepted"
    update_id: str
    update_name: str
    input: tuple[Payload, ...] = ()
    identity: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildWorkflowExecutionStarted(Event):
    TYPE: ClassVar[str] = "ChildWorkflowExecutionStarted"
    seq: int
    workflow_id: str
    run_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartChildWorkflowExecutionFailed(Event):
    TYPE: ClassVar[str] = "StartChildWorkflowExecutionFailed"
    seq: int
    workflow_id: str
    cause: str
    """``already_started`` (the only cause today)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildWorkflowExecutionCompleted(Event):
    TYPE: ClassVar[str] = "ChildWorkflowExecutionCompleted"
    seq: int
    result: Payload


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildWorkflowExecutionFailed(Event):
    """The child closed without completing: failed, cancelled, terminated (the failure's
    kind says which)."""

    TYPE: ClassVar[str] = "ChildWorkflowExecutionFailed"
    seq: int
    failure: Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalWorkflowExecutionCancelRequested(Event):
    TYPE: ClassVar[str] = "ExternalWorkflowExecutionCancelRequested"
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalWorkflowExecutionSignaled(Event):
    TYPE: ClassVar[str] = "ExternalWorkflowExecutionSignaled"
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalWorkflowRequestFailed(Event):
    """A signal or cancel request to another workflow could not be delivered."""

    TYPE: ClassVar[str] = "ExternalWorkflowRequestFailed"
    seq: int
    failure: Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionTerminated(Event):
    """Closes the run at once; written by the client, never by workflow code."""

    TYPE: ClassVar[str] = "WorkflowExecutionTerminated"
    reason: str = ""
    identity: str = ""


# ------------------------------------------------------------------------- command events


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowTaskCompleted(Event):
    """Marks one workflow task: the batch it processed and, after it, its commands."""

    TYPE: ClassVar[str] = "WorkflowTaskCompleted"
    IS_COMMAND: ClassVar[bool] = True
    processed_through: int
    worker: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskScheduled(Event):
    TYPE: ClassVar[str] = "ActivityTaskScheduled"
    IS_COMMAND: ClassVar[bool] = True
    seq: int
    activity_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    start_to_close_timeout_ms: int | None = None
    schedule_to_close_timeout_ms: int | None = None
    heartbeat_timeout_ms: int | None = None
    retry_policy: RetryPolicy | None = None
    at_most_once: bool = False
    summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityTaskCancelRequested(Event):
    TYPE: ClassVar[str] = "ActivityTaskCancelRequested"
    IS_COMMAND: ClassVar[bool] = True
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerStarted(Event):
    TYPE: ClassVar[str] = "TimerStarted"
    IS_COMMAND: ClassVar[bool] = True
    seq: int
    duration_ms: int
    fire_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerCanceled(Event):
    TYPE: ClassVar[str] = "TimerCanceled"
    IS_COMMAND: ClassVar[bool] = True
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkerRecorded(Event):
    """A fact the code recorded for replay, e.g. ``name="patch"`` for ``workflow.patched``."""

    TYPE: ClassVar[str] = "MarkerRecorded"
    IS_COMMAND: ClassVar[bool] = True
    name: str
    details: dict[str, Any] = field(default_factory=lambda: {})


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalActivityRecorded(Event):
    """The outcome of a local activity, recorded with the commands of the workflow task
    that ran it (like a marker: a local activity has no scheduled event and no task).

    A failure with ``backoff_ms`` set is not final: the workflow waits that long on a
    durable timer and runs attempt ``attempt + 1`` (a retry whose backoff is too long to
    hold the workflow task for)."""

    TYPE: ClassVar[str] = "LocalActivityRecorded"
    IS_COMMAND: ClassVar[bool] = True
    seq: int
    activity_type: str
    attempt: int
    result: Payload | None = None
    failure: Failure | None = None
    retry_state: str = ""
    backoff_ms: int | None = None
    started_time: int = 0
    scheduled_time: int = 0
    """When attempt 1 was scheduled (a schedule-to-close timeout counts from there)."""
    worker: str = ""
    summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StartChildWorkflowExecutionInitiated(Event):
    TYPE: ClassVar[str] = "StartChildWorkflowExecutionInitiated"
    IS_COMMAND: ClassVar[bool] = True
    seq: int
    workflow_type: str
    workflow_id: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    parent_close_policy: str = "terminate"
    memo: dict[str, Any] = field(default_factory=lambda: {})


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCancelExternalWorkflowExecutionInitiated(Event):
    TYPE: ClassVar[str] = "RequestCancelExternalWorkflowExecutionInitiated"
    IS_COMMAND: ClassVar[bool] = True
    seq: int
    workflow_id: str
    run_id: str = ""
    child: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalExternalWorkflowExecutionInitiated(Event):
    TYPE: ClassVar[str] = "SignalExternalWorkflowExecutionInitiated"
    IS_COMMAND: ClassVar[bool] = True
    seq: int
    workflow_id: str
    run_id: str = ""
    signal_name: str
    input: tuple[Payload, ...] = ()
    child: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionUpdateCompleted(Event):
    TYPE: ClassVar[str] = "WorkflowExecutionUpdateCompleted"
    IS_COMMAND: ClassVar[bool] = True
    update_id: str
    result: Payload | None = None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionCompleted(Event):
    TYPE: ClassVar[str] = "WorkflowExecutionCompleted"
    IS_COMMAND: ClassVar[bool] = True
    result: Payload


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionFailed(Event):
    TYPE: ClassVar[str] = "WorkflowExecutionFailed"
    IS_COMMAND: ClassVar[bool] = True
    failure: Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionCanceled(Event):
    TYPE: ClassVar[str] = "WorkflowExecutionCanceled"
    IS_COMMAND: ClassVar[bool] = True
    details: tuple[Payload, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowExecutionContinuedAsNew(Event):
    TYPE: ClassVar[str] = "WorkflowExecutionContinuedAsNew"
    IS_COMMAND: ClassVar[bool] = True
    new_run_id: str
    workflow_type: str
    task_queue: str
    input: tuple[Payload, ...] = ()
    memo: dict[str, Any] = field(default_factory=lambda: {})


CLOSE_EVENT_TYPES: Final[tuple[type[Event], ...]] = (
    WorkflowExecutionCompleted,
    WorkflowExecutionFailed,
    WorkflowExecutionCanceled,
    WorkflowExecutionContinuedAsNew,
    WorkflowExecutionTerminated,
)

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.TYPE: cls
    for cls in (
        WorkflowExecutionStarted,
        ActivityTaskCompleted,
        ActivityTaskFailed,
        ActivityTaskTimedOut,
        ActivityTaskCanceled,
        TimerFired,
        WorkflowExecutionSignaled,
        WorkflowExecutionCancelRequested,
        WorkflowExecutionUpdateAccepted,
        ChildWorkflowExecutionStarted,
        StartChildWorkflowExecutionFailed,
        ChildWorkflowExecutionCompleted,
        ChildWorkflowExecutionFailed,
        ExternalWorkflowExecutionCancelRequested,
        ExternalWorkflowExecutionSignaled,
        ExternalWorkflowRequestFailed,
        WorkflowExecutionTerminated,
        WorkflowTaskCompleted,
        ActivityTaskScheduled,
        ActivityTaskCancelRequested,
        TimerStarted,
        TimerCanceled,
        MarkerRecorded,
        LocalActivityRecorded,
        StartChildWorkflowExecutionInitiated,
        RequestCancelExternalWorkflowExecutionInitiated,
        SignalExternalWorkflowExecutionInitiated,
        WorkflowExecutionUpdateCompleted,
        WorkflowExecutionCompleted,
        WorkflowExecutionFailed,
        WorkflowExecutionCanceled,
        WorkflowExecutionContinuedAsNew,
    )
}


# ------------------------------------------------------------------------------- encoding

PayloadOut = Callable[[Payload], Any]
"""Turns a payload into its JSON form in an encoded event (inline text or a reference)."""
PayloadIn = Callable[[Any], Payload]
"""Inverse of :data:`PayloadOut`."""

_Encoder = Callable[[Any, PayloadOut], Any]
_Decoder = Callable[[Any, PayloadIn], Any]


def _same(value: Any, _p: Any) -> Any:
    return value


def _payload_out(value: Payload, p: PayloadOut) -> Any:
    return p(value)


def _payload_in(value: Any, p: PayloadIn) -> Payload:
    return p(value)


def _opt_payload_out(value: Payload | None, p: PayloadOut) -> Any:
    return None if value is None else p(value)


def _opt_payload_in(value: Any, p: PayloadIn) -> Payload | None:
    return None if value is None else p(value)


def _payloads_out(value: tuple[Payload, ...], p: PayloadOut) -> list[Any]:
    return [p(v) for v in value]


def _payloads_in(value: list[Any], p: PayloadIn) -> tuple[Payload, ...]:
    return tuple(p(v) for v in value)


def _failure_out(value: Failure | None, _p: PayloadOut) -> Any:
    return None if value is None else value.to_dict()


def _failure_in(value: Any, _p: PayloadIn) -> Failure | None:
    return None if value is None else Failure.from_dict(value)


def _retry_out(value: RetryPolicy | None, _p: PayloadOut) -> Any:
    return None if value is None else value.to_dict()


def _retry_in(value: Any, _p: PayloadIn) -> RetryPolicy | None:
    return None if value is None else RetryPolicy.from_dict(value)


_CODECS: Final[dict[Any, tuple[_Encoder, _Decoder]]] = {
    Payload: (_payload_out, _payload_in),
    Payload | None: (_opt_payload_out, _opt_payload_in),
    tuple[Payload, ...]: (_payloads_out, _payloads_in),
    Failure: (_failure_out, _failure_in),
    Failure | None: (_failure_out, _failure_in),
    RetryPolicy | None: (_retry_out, _retry_in),
}


_NO_DEFAULT: Final = object()


@dataclass(frozen=True, slots=True)
class _FieldCodec:
    name: str
    encode: _Encoder
    decode: _Decoder
    default: Any

    def is_default(self, value: Any) -> bool:
        """Whether ``value`` can be left out (it is what decoding a missing field gives)."""
        return self.default is not _NO_DEFAULT and (value is self.default or value == self.default)


def _field_codecs(cls: type[Event]) -> tuple[_FieldCodec, ...]:
    hints = typing.get_type_hints(cls)
    out: list[_FieldCodec] = []
    for f in dataclasses.fields(cls):
        if f.name in ("event_id", "time"):
            continue
        enc, dec = _CODECS.get(hints[f.name], (_same, _same))
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = _NO_DEFAULT
        out.append(_FieldCodec(f.name, enc, dec, default))
    return tuple(out)


_FIELDS: Final[dict[type[Event], tuple[_FieldCodec, ...]]] = {
    cls: _field_codecs(cls) for cls in EVENT_TYPES.values()
}


def encode_event_attributes(event: Event, payload_out: PayloadOut) -> dict[str, Any]:
    """The event's own attributes (not id, time or type) as a JSON-able dict.

    Attributes equal to their default are left out to keep histories small.
    """
    out: dict[str, Any] = {}
    for fc in _FIELDS[type(event)]:
        value = getattr(event, fc.name)
        if not fc.is_default(value):
            out[fc.name] = fc.encode(value, payload_out)
    return out


def encode_event_fields(event: Event, payload_out: PayloadOut) -> list[Any]:
    """The event's own attributes as a JSON array, in field order: the compact form the
    store keeps (a history holds thousands of events, and the names would be most of
    their bytes). Trailing attributes equal to their default are left out.

    The field order of each event type is therefore a persisted format: new fields are
    only ever appended (``tests/fixtures/formats/event_fields.json`` pins it).
    """
    values, encoders, defaults = _PLANS[type(event)]
    # Every recorded event passes here: one C call reads all fields, and only the fields
    # with an encoder (payloads, policies, failures) cost a Python call.
    raw = values(event)
    out = list(raw)
    for i, encode in encoders:
        value = out[i]
        if value is not None:
            out[i] = encode(value, payload_out)
    kept = len(out)
    while kept:
        default = defaults[kept - 1]
        if default is _NO_DEFAULT:
            break
        value = raw[kept - 1]
        if value is not default and value != default:
            break
        kept -= 1
    del out[kept:]
    return out


def _values_getter(names: tuple[str, ...]) -> Callable[[Event], tuple[Any, ...]]:
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        name = names[0]
        return lambda event: (getattr(event, name),)
    return lambda _event: ()


_Plan = tuple[Callable[[Event], tuple[Any, ...]], tuple[tuple[int, _Encoder], ...], tuple[Any, ...]]

_PLANS: Final[dict[type[Event], _Plan]] = {
    cls: (
        _values_getter(tuple(fc.name for fc in codecs)),
        tuple((i, fc.encode) for i, fc in enumerate(codecs) if fc.encode is not _same),
        tuple(fc.default for fc in codecs),
    )
    for cls, codecs in _FIELDS.items()
}
"""Per event type: a reader of all field values, the (index, encoder) of the fields that
are not plain JSON values, and each field's default (or ``_NO_DEFAULT``)."""


def decode_event(
    type_name: str,
    event_id: int,
    time: int,
    attrs: dict[str, Any] | list[Any],
    payload_in: PayloadIn,
) -> Event:
    """Rebuild an event from its type name, id, time and encoded attributes (the named
    form of :func:`encode_event_attributes` or the positional one of
    :func:`encode_event_fields`)."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise StoreVersionError(
            f"history event {event_id} has unknown type {type_name!r}: it was written by a "
            "newer Duragent; upgrade to read it"
        )
    kwargs: dict[str, Any] = {"event_id": event_id, "time": time}
    fields = _FIELDS[cls]
    if isinstance(attrs, list):
        if len(attrs) > len(fields):
            raise StoreVersionError(
                f"history event {event_id} ({type_name}) has {len(attrs)} attributes, more "
                f"than this Duragent knows ({len(fields)}); upgrade to read it"
            )
        for fc, value in zip(fields, attrs, strict=False):
            kwargs[fc.name] = None if value is None else fc.decode(value, payload_in)
        return cls(**kwargs)
    for fc in fields:
        if fc.name in attrs:
            kwargs[fc.name] = fc.decode(attrs[fc.name], payload_in)
    return cls(**kwargs)


def check_schema_version(version: int, where: str) -> None:
    """Raise a clear error when ``version`` is newer than this code can read."""
    if version > EVENT_SCHEMA_VERSION:
        raise StoreVersionError(
            f"{where} uses event schema version {version}, but this Duragent reads up to "
            f"version {EVENT_SCHEMA_VERSION}; upgrade Duragent to read it"
        )
