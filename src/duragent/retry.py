"""Retry policies and their backoff arithmetic.

The arithmetic is pure (no clocks): callers pass the attempt number and get a delay back,
which keeps it usable from the engine core, the stores and tests alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

__all__ = ["RetryPolicy"]


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


@dataclass(frozen=True)
class RetryPolicy:
    """How an activity (or child workflow) is retried after a failed attempt.

    The delay before attempt ``n + 1`` is
    ``min(initial_interval * backoff_coefficient ** (n - 1), maximum_interval)``, raised
    to an error's ``retry_after`` when it asks for longer.

    Attributes:
        initial_interval: Delay before the first retry.
        backoff_coefficient: Growth factor of the delay per attempt (>= 1).
        maximum_interval: Cap on the delay; defaults to 100x ``initial_interval``.
        maximum_attempts: Total attempts allowed, the first included; 0 means unlimited.
        non_retryable_error_types: ``ApplicationError.type`` values (or exception class
            names) that are never retried.
    """

    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    maximum_interval: timedelta | None = None
    maximum_attempts: int = 0
    non_retryable_error_types: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.initial_interval <= timedelta(0):
            raise ValueError("RetryPolicy.initial_interval must be positive")
        if self.backoff_coefficient < 1:
            raise ValueError("RetryPolicy.backoff_coefficient must be >= 1")
        if self.maximum_interval is not None and self.maximum_interval < self.initial_interval:
            raise ValueError("RetryPolicy.maximum_interval must be >= initial_interval")
        if self.maximum_attempts < 0:
            raise ValueError("RetryPolicy.maximum_attempts must be >= 0 (0 = unlimited)")
        # Accept any sequence but keep the frozen dataclass hashable.
        object.__setattr__(self, "non_retryable_error_types", tuple(self.non_retryable_error_types))

    def backoff_ms(self, attempt: int) -> int:
        """Delay in milliseconds after failed attempt number ``attempt`` (1-based)."""
        initial = _ms(self.initial_interval)
        cap = _ms(self.maximum_interval) if self.maximum_interval is not None else initial * 100
        # Exponent capped so a huge attempt count cannot overflow a float.
        delay = initial * self.backoff_coefficient ** min(attempt - 1, 1000)
        return int(min(delay, cap))

    def should_retry(self, attempt: int, error_type: str, non_retryable: bool) -> bool:
        """Whether a failure of ``error_type`` after ``attempt`` attempts is retried."""
        if non_retryable or error_type in self.non_retryable_error_types:
            return False
        return self.maximum_attempts == 0 or attempt < self.maximum_attempts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, as recorded in history: only what differs from the defaults
        (every scheduled activity records its policy, so this is kept small)."""
        # Every scheduled activity encodes its policy (twice: event and row), and a policy
        # is usually one shared object: computed once per object, copied out.
        cached: dict[str, Any] | None = self.__dict__.get("_as_dict")
        if cached is None:
            cached = self._compute_dict()
            object.__setattr__(self, "_as_dict", cached)
        return dict(cached)

    def _compute_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.initial_interval != timedelta(seconds=1):
            out["initial_interval_ms"] = _ms(self.initial_interval)
        if self.backoff_coefficient != 2.0:
            out["backoff_coefficient"] = self.backoff_coefficient
        if self.maximum_interval is not None:
            out["maximum_interval_ms"] = _ms(self.maximum_interval)
        if self.maximum_attempts:
            out["maximum_attempts"] = self.maximum_attempts
        if self.non_retryable_error_types:
            out["non_retryable_error_types"] = list(self.non_retryable_error_types)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetryPolicy:
        """Inverse of :meth:`to_dict`."""
        max_ms = data.get("maximum_interval_ms")
        return cls(
            initial_interval=timedelta(milliseconds=data.get("initial_interval_ms", 1000)),
            backoff_coefficient=float(data.get("backoff_coefficient", 2.0)),
            maximum_interval=timedelta(milliseconds=max_ms) if max_ms is not None else None,
            maximum_attempts=int(data.get("maximum_attempts", 0)),
            non_retryable_error_types=tuple(data.get("non_retryable_error_types", ())),
        )


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What becomes of a failed activity attempt."""

    next_attempt_at: int | None
    """When the next attempt may start (ms since the epoch); None: not retried."""
    retry_state: str
    """A :class:`~duragent.errors.RetryState` value: ``IN_PROGRESS`` when retried, else
    why not."""


def decide_retry(
    policy: RetryPolicy,
    attempt: int,
    *,
    error_type: str,
    non_retryable: bool,
    retry_after_ms: int | None,
    next_retry_delay_ms: int | None = None,
    schedule_to_close_expired: bool,
    now: int,
    deadline: int | None,
    immediate: bool = False,
) -> RetryDecision:
    """Whether and when to retry after failed attempt ``attempt`` (1-based).

    ``deadline`` is the schedule-to-close deadline (ms): a retry that could not start
    before it is not made. ``immediate`` skips the backoff (the worker died, not the
    activity). An error's ``next_retry_delay`` replaces the backoff; its ``retry_after``
    is a minimum. The state names mirror temporalio's ``RetryState``.
    """
    if schedule_to_close_expired:
        return RetryDecision(None, "TIMEOUT")
    if non_retryable or error_type in policy.non_retryable_error_types:
        return RetryDecision(None, "NON_RETRYABLE_FAILURE")
    if policy.maximum_attempts and attempt >= policy.maximum_attempts:
        return RetryDecision(None, "MAXIMUM_ATTEMPTS_REACHED")
    delay = 0 if immediate else policy.backoff_ms(attempt)
    if next_retry_delay_ms is not None:
        delay = next_retry_delay_ms  # the error chose the delay itself
    if retry_after_ms is not None:
        delay = max(delay, retry_after_ms)
    next_at = now + delay
    if deadline is not None and next_at >= deadline:
        return RetryDecision(None, "TIMEOUT")
    return RetryDecision(next_at, "IN_PROGRESS")
