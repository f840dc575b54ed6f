"""The model activity against a real OpenAI-compatible HTTP server on 127.0.0.1.

The plugin's provider is ``openai_provider(base_url=..., use_responses=False)``: the SDK's
own chat-completions model on an OpenAI client whose retries are off, so every request the
server sees is one attempt of the model activity, retried (or not) by the engine.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Final

import pytest
from agents import Agent, Runner, function_tool

from duragent import (
    ActivityError,
    ApplicationError,
    Client,
    RetryPolicy,
    Worker,
    WorkflowFailureError,
    workflow,
)
from duragent.openai_agents import (
    MODEL_ACTIVITY,
    ModelActivityParameters,
    OpenAIAgentsPlugin,
    openai_provider,
    usage_report,
)
from duragent.openai_agents._model_activity import default_model_provider

from .fake_openai import FakeOpenAI, Reply, free_port

QUEUE: Final = "model-http"
BACKOFF: Final = timedelta(milliseconds=50)


@function_tool
async def local_time(city: str) -> str:
    """The local time in a city."""
    return f"noon in {city}"


assistant = Agent(
    name="assistant", instructions="Be brief.", model="fake-model", tools=[local_time]
)


@workflow.defn
class Ask:
    @workflow.run
    async def run(self, question: str) -> str:
        return str((await Runner.run(assistant, question)).final_output)


@asynccontextmanager
async def http_worker(client: Client, base_url: str) -> AsyncIterator[Worker]:
    plugin = OpenAIAgentsPlugin(
        model_provider=openai_provider(base_url=base_url, api_key="test", use_responses=False),
        model_params=ModelActivityParameters(
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=BACKOFF, maximum_attempts=5),
        ),
    )
    async with Worker(client, task_queue=QUEUE, workflows=[Ask], plugins=[plugin]) as w:
        yield w


async def ask(client: Client, server: FakeOpenAI, wf_id: str = "ask") -> str:
    async with http_worker(client, server.base_url):
        handle = await client.start_workflow(
            Ask.run, "What time is it?", id=wf_id, task_queue=QUEUE
        )
        return await handle.result(timeout=30)


async def failed_attempts(client: Client, wf_id: str) -> list[Any]:
    """Failures of the model activity's failed attempts, in order."""
    run_id = (await client.get_workflow_handle(wf_id).describe()).run_id
    return [a["failure"] for a in client.store.attempts(run_id) if a["outcome"] == "failed"]


def cause_chain(err: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = err
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = getattr(seen, "cause", None) or seen.__cause__
    return chain


async def test_a_tool_loop_over_http(client: Client) -> None:
    plan = [Reply.tool_call("local_time", {"city": "Paris"}), Reply.message("Noon in Paris.")]
    with FakeOpenAI(plan) as server:
        assert await ask(client, server) == "Noon in Paris."
    assert [r.path for r in server.requests] == ["/v1/chat/completions"] * 2
    assert server.requests[0].body["model"] == "fake-model"
    assert [t["function"]["name"] for t in server.requests[0].body["tools"]] == ["local_time"]
    tool_results = [m for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_results] == ["noon in Paris"]
    report = await usage_report(client, "ask")
    assert report.model_calls == report.provider_calls == 2
    assert report.input_tokens == 21 + 22  # the server's usage numbers, recorded
    assert report.output_tokens == 10


async def test_rate_limit_is_retried_after_the_time_the_server_asks_for(client: Client) -> None:
    plan = [
        Reply.failure(429, "Rate limit reached for fake-model", {"retry-after-ms": "300"}),
        Reply.message("It is noon."),
    ]
    with FakeOpenAI(plan) as server:
        assert await ask(client, server) == "It is noon."
    assert len(server.requests) == 2  # the OpenAI client did not retry on its own
    gap = server.requests[1].time - server.requests[0].time
    assert gap >= 0.3  # the header, not the engine's 50 ms backoff
    (failure,) = await failed_attempts(client, "ask")
    assert failure.type == "HTTP429"
    assert "Rate limit reached for fake-model" in failure.message
    assert failure.retry_after_ms == 300


async def test_server_error_is_retried(client: Client) -> None:
    plan = [Reply.failure(500, "The server had an error"), Reply.message("It is noon.")]
    with FakeOpenAI(plan) as server:
        assert await ask(client, server) == "It is noon."
    assert len(server.requests) == 2
    (failure,) = await failed_attempts(client, "ask")
    assert failure.type == "HTTP500"
    assert not failure.non_retryable


async def test_bad_request_fails_fast_with_the_providers_message(client: Client) -> None:
    message = "Invalid value for 'temperature': must be at most 2"
    with FakeOpenAI([Reply.failure(400, message)]) as server:
        with pytest.raises(WorkflowFailureError) as info:
            await ask(client, server)
        await asyncio.sleep(0.2)  # time for a retry, if there were one
    assert len(server.requests) == 1
    chain = cause_chain(info.value)
    assert any(isinstance(e, ActivityError) and e.activity_type == MODEL_ACTIVITY for e in chain)
    app = next(e for e in chain if isinstance(e, ApplicationError))
    assert app.type == "HTTP400"
    assert app.non_retryable
    assert "model provider returned HTTP 400" in str(app)
    assert message in str(app)
    assert message in str(info.value)


async def test_connection_refused_is_retried(client: Client) -> None:
    port = free_port()
    async with http_worker(client, f"http://127.0.0.1:{port}/v1"):
        handle = await client.start_workflow(Ask.run, "Time?", id="ask", task_queue=QUEUE)
        for _ in range(1000):  # nothing listens yet: the first attempt fails
            if await failed_attempts(client, "ask"):
                break
            await asyncio.sleep(0.01)
        with FakeOpenAI([Reply.message("It is noon.")], port=port) as server:
            assert await handle.result(timeout=30) == "It is noon."
    assert len(server.requests) == 1
    failures = await failed_attempts(client, "ask")
    assert failures
    assert all(f.type == "APIConnectionError" for f in failures)
    assert "cannot reach the model provider" in failures[0].message


@pytest.mark.parametrize(
    ("status", "headers", "retried"),
    [
        (408, {}, True),
        (409, {}, True),
        (503, {}, True),
        (401, {}, False),
        (404, {}, False),
        (422, {}, False),
        (503, {"x-should-retry": "false"}, False),
        (400, {"x-should-retry": "true"}, True),
    ],
    ids=str,
)
async def test_which_statuses_are_retried(
    client: Client, status: int, headers: dict[str, str], retried: bool
) -> None:
    plan = [Reply.failure(status, f"status {status}", headers), Reply.message("ok")]
    with FakeOpenAI(plan) as server:
        if retried:
            assert await ask(client, server) == "ok"
        else:
            with pytest.raises(WorkflowFailureError, match=f"HTTP {status}: .*status {status}"):
                await ask(client, server)
    assert len(server.requests) == (2 if retried else 1)


async def test_retry_after_as_an_http_date_is_honoured(client: Client) -> None:
    # The date has second resolution: the retry must not come before the whole second it
    # names. (Checked against the wall clock, not as a gap after the first request, which
    # a loaded machine can deliver late enough to use up the wait.)
    not_before = int(time.time()) + 2
    when = email.utils.formatdate(not_before, usegmt=True)
    plan = [Reply.failure(503, "Overloaded", {"retry-after": when}), Reply.message("ok")]
    with FakeOpenAI(plan) as server:
        assert await ask(client, server) == "ok"
    assert len(server.requests) == 2
    assert server.requests[1].wall >= not_before - 0.05  # clock granularity only


async def test_a_malformed_retry_after_does_not_hide_the_providers_error(client: Client) -> None:
    plan = [Reply.failure(400, "Unknown parameter 'foo'", {"retry-after": "soon"})]
    with (
        FakeOpenAI(plan) as server,
        pytest.raises(WorkflowFailureError, match=r"HTTP 400: .*Unknown parameter 'foo'"),
    ):
        await ask(client, server)
    assert len(server.requests) == 1


def test_the_default_provider_says_which_endpoint_serves_the_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    caplog.set_level(logging.INFO, logger="duragent.openai_agents")
    default_model_provider()
    lines = [r.getMessage() for r in caplog.records if r.name == "duragent.openai_agents"]
    assert lines == [
        "model calls go to the OpenAI-compatible endpoint http://127.0.0.1:9/v1 "
        "(from OPENAI_BASE_URL)"
    ]


def test_the_fallback_to_the_local_model_is_logged_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    caplog.set_level(logging.INFO, logger="duragent.openai_agents")
    provider = default_model_provider()
    assert type(provider).__name__ == "LocalModelProvider"
    [record] = [r for r in caplog.records if r.name == "duragent.openai_agents"]
    assert record.levelno == logging.WARNING
    assert "offline local model" in record.getMessage()
    assert "neither OPENAI_API_KEY nor OPENAI_BASE_URL is set" in record.getMessage()
