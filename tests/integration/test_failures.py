"""Failures as Temporal shows them: an ActivityError whose cause is the ApplicationError
the activity raised, each carrying ``failure`` (message, stack trace, cause and the
kind-specific info) under temporalio's names, through the workflow and to the client."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from duragent import (
    ActivityError,
    ApplicationError,
    Client,
    RetryPolicy,
    TimeoutError,
    Worker,
    WorkflowFailureError,
    activity,
    workflow,
)
from duragent.errors import ApplicationErrorCategory, RetryState

T = timedelta(seconds=10)


@activity.defn
async def charge(card: str) -> str:
    try:
        int(card)
    except ValueError as err:
        raise ApplicationError(
            "card declined", {"code": 51}, type="CardDeclined", non_retryable=True
        ) from err
    return "ok"


@activity.defn
async def expected_miss(key: str) -> str:
    raise ApplicationError(
        f"{key} not cached",
        type="CacheMiss",
        next_retry_delay=timedelta(milliseconds=20),  # replaces the 1 s backoff,
        category=ApplicationErrorCategory.BENIGN,
    )


@workflow.defn
class Pay:
    @workflow.run
    async def run(self, card: str) -> dict[str, Any]:
        try:
            await workflow.execute_activity(charge, card, start_to_close_timeout=T)
        except ActivityError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError) and cause.failure is not None
            assert err.failure is not None and err.failure.cause is not None
            info = err.failure.activity_failure_info
            app = err.failure.cause.application_failure_info
            inner = cause.cause
            assert info is not None and app is not None and isinstance(inner, ApplicationError)
            return {
                "activity_type": err.activity_type,
                "activity_id": err.activity_id,
                "retry_state": err.retry_state,
                "info": [info.activity_type.name, info.activity_id, info.retry_state],
                "cause": [cause.type, cause.message, list(cause.details), cause.non_retryable],
                "app_info": [app.type, app.non_retryable],
                "stack": cause.failure.stack_trace,
                "inner": [inner.type, inner.message],
                "source": err.failure.source,
            }
        return {}


@workflow.defn
class Reraises:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            expected_miss,
            "k",
            start_to_close_timeout=T,
            retry_policy=RetryPolicy(maximum_attempts=2),
        )


async def test_activity_failure_carries_temporals_fields_into_the_workflow(
    client: Client,
) -> None:
    async with Worker(client, task_queue="f", workflows=[Pay], activities=[charge]):
        result = await client.execute_workflow(Pay.run, "not-a-number", id="f-1", task_queue="f")
    assert result["activity_type"] == "charge"
    assert result["activity_id"] == "1"
    assert result["retry_state"] == RetryState.NON_RETRYABLE_FAILURE
    assert result["info"] == ["charge", "1", "NON_RETRYABLE_FAILURE"]
    assert result["cause"] == ["CardDeclined", "card declined", [{"code": 51}], True]
    assert result["app_info"] == ["CardDeclined", True]
    assert "in charge\n    raise ApplicationError(" in result["stack"]
    assert result["inner"] == [
        "ValueError",
        "invalid literal for int() with base 10: 'not-a-number'",
    ]
    assert result["source"] == "duragent"


async def test_the_client_sees_the_same_chain_and_benign_failures_log_quietly(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="duragent.activity")
    async with Worker(client, task_queue="f", workflows=[Reraises], activities=[expected_miss]):
        handle = await client.start_workflow(Reraises.run, id="f-2", task_queue="f")
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    err = caught.value.cause
    assert isinstance(err, ActivityError)
    assert err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED and err.attempt == 2
    cause = err.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "CacheMiss"
    assert cause.next_retry_delay == timedelta(milliseconds=20)
    assert cause.category == ApplicationErrorCategory.BENIGN
    assert err.failure is not None and err.failure.cause is not None
    assert "in expected_miss" in err.failure.cause.stack_trace
    attempts = [r for r in caplog.records if getattr(r, "duragent_error", None)]
    assert [r.levelno for r in attempts] == [logging.DEBUG, logging.DEBUG]


def test_a_timeout_failure_says_which_timeout() -> None:
    from duragent._engine.failure import Failure, exception_from_failure
    from duragent.serde import DataConverter

    failure = Failure(message="too slow", kind="timeout", type="START_TO_CLOSE")
    err = exception_from_failure(failure, DataConverter())
    assert isinstance(err, TimeoutError)
    assert err.failure is failure
    assert failure.timeout_failure_info is not None
    assert failure.timeout_failure_info.timeout_type == "START_TO_CLOSE"
    assert failure.application_failure_info is None
