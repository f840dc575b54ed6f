"""What the worker logs: each failed activity attempt (with its traceback, attempt
number and next attempt time), workflow task failures marked for log filters, and
``activity.logger`` records tagged with the activity."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from duragent import ActivityError, Client, RetryPolicy, Worker, activity, workflow
from tests.waits import wait_for_task_failure

calls: dict[str, int] = {}


@activity.defn
async def breaks_twice(key: str) -> str:
    calls[key] = calls.get(key, 0) + 1
    activity.logger.info("trying %s", key)
    if calls[key] <= 2:
        raise ConnectionError(f"backend down ({calls[key]})")
    return "up"


@activity.defn
def always_breaks() -> None:
    raise ValueError("bad row 7")


@workflow.defn
class Retries:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            breaks_twice,
            key,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)),
        )


@workflow.defn
class GivesUp:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(
                always_breaks,
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            return f"gave up: {err.cause}"
        return "no"


@workflow.defn
class Buggy:
    @workflow.run
    async def run(self) -> None:
        raise KeyError("no such key in workflow code")


def _failures(caplog: pytest.LogCaptureFixture, kind: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "duragent_error", None) == kind]


async def test_every_failed_attempt_is_logged_with_its_traceback_and_next_attempt(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="duragent")
    async with Worker(client, task_queue="log", workflows=[Retries], activities=[breaks_twice]):
        assert await client.execute_workflow(Retries.run, "a", id="l-1", task_queue="log") == "up"
    failed = _failures(caplog, "ActivityFailure")
    assert [r.levelno for r in failed] == [logging.WARNING, logging.WARNING]
    assert [r.name for r in failed] == ["duragent.activity"] * 2
    first, second = (r.getMessage() for r in failed)
    assert "activity breaks_twice failed on attempt 1 (workflow Retries l-1" in first
    assert "ConnectionError: backend down (1)" in first
    assert "next attempt at " in first
    assert "attempt 2" in second
    assert failed[0].exc_info is not None
    assert failed[0].exc_info[0] is ConnectionError
    assert "breaks_twice" in caplog.text  # the traceback names the failing function
    assert getattr(failed[0], "__temporal_error_identifier") == "ActivityFailure"
    assert failed[0].duragent_activity["attempt"] == 1  # type: ignore[attr-defined]
    # activity.logger tags records with the attempt and its workflow.
    tries = [r for r in caplog.records if r.getMessage().startswith("trying a")]
    assert len(tries) == 3
    assert tries[2].getMessage() == "trying a [breaks_twice attempt 3, Retries l-1]"
    assert tries[2].duragent_activity["workflow_id"] == "l-1"  # type: ignore[attr-defined]


async def test_the_last_attempt_says_the_activity_failed(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="duragent")
    async with Worker(client, task_queue="log", workflows=[GivesUp], activities=[always_breaks]):
        result = await client.execute_workflow(GivesUp.run, id="l-2", task_queue="log")
    assert result.startswith("gave up")
    (record,) = _failures(caplog, "ActivityFailure")
    assert "not retried (MAXIMUM_ATTEMPTS_REACHED): the activity failed" in record.getMessage()
    assert "ValueError: bad row 7" in record.getMessage()


async def test_failed_attempts_can_be_silenced_through_logging(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="duragent")
    logging.getLogger("duragent.activity").setLevel(logging.ERROR)
    try:
        async with Worker(client, task_queue="log", workflows=[Retries], activities=[breaks_twice]):
            await client.execute_workflow(Retries.run, "b", id="l-3", task_queue="log")
    finally:
        logging.getLogger("duragent.activity").setLevel(logging.NOTSET)
    assert _failures(caplog, "ActivityFailure") == []


async def test_a_workflow_task_failure_is_marked_for_log_filters(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="duragent")
    async with Worker(client, task_queue="log", workflows=[Buggy]):
        handle = await client.start_workflow(Buggy.run, id="l-4", task_queue="log")
        await wait_for_task_failure(handle)
    record = _failures(caplog, "WorkflowTaskFailure")[0]
    assert record.name == "duragent.worker"
    assert "Failed workflow task of Buggy l-4" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is KeyError
