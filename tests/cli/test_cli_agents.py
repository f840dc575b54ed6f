"""The agent commands against a real worker process running the OpenAI Agents plugin.

The worker serves ``tests.fixtures.cli_agents_app`` (scripted models, so every run is
deterministic); the commands run in-process on the same SQLite file: ``agent run``,
``agent chat``, ``approvals``, ``approve``, ``reject``, ``usage`` and ``show``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from duragent import Client
from duragent.openai_agents import decide, pending_approvals

from .conftest import Cli, db_url, spawn_worker, stop_worker

APP = "tests.fixtures.cli_agents_app"
WEATHER = f"{APP}:weather_agent"
BANKER = f"{APP}:banker"
CHAT_AGENT = f"{APP}:make_chat_agent"
CALL = "call-banker-0-0"
"""The call id the scripted banker model gives its send_money call."""


@dataclass
class AgentsApp:
    cli: Cli
    url: str
    worker_log: Path


@pytest.fixture(scope="module")
def agents_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentsApp]:
    """A worker process on ``tests.fixtures.cli_agents_app`` (plugins from its PLUGINS),
    shared by the tests of this module; it must stop cleanly on SIGTERM."""
    directory = tmp_path_factory.mktemp("cli-agents")
    url = db_url(directory / "agents.db")
    log_path = directory / "worker.log"
    with log_path.open("wb") as log:
        proc = spawn_worker(url, APP, log)
        try:
            app = AgentsApp(Cli(url), url, log_path)
            # Importing the Agents SDK takes the worker a few seconds; wait here, not in a test.
            app.cli.wait_for(lambda: "Ctrl+C" in log_path.read_text(), "the worker banner", 120)
            yield app
            assert proc.poll() is None, f"worker died:\n{log_path.read_text()}"
        finally:
            status = stop_worker(proc)
    assert status == 0, f"worker exit status {status}:\n{log_path.read_text()}"


@pytest.fixture
def agents_cli(agents_app: AgentsApp) -> Cli:
    return agents_app.cli


def _pending_calls(cli: Cli, workflow_id: str) -> list[str]:
    return [r["call_id"] for r in cli.json("approvals", workflow_id, "--json")]


def _wait_pending(cli: Cli, workflow_id: str) -> None:
    cli.wait_for(lambda: _pending_calls(cli, workflow_id) == [CALL], "the approval request", 10)


def test_worker_banner_shows_plugins_and_builtin_workflows(agents_app: AgentsApp) -> None:
    banner = agents_app.worker_log.read_text()
    assert "OpenAIAgentsPlugin (models: ScriptedModelProvider)" in banner
    assert "duragent.Agent, duragent.Chat" in banner
    assert "duragent.openai_agents.invoke_model" in banner


def test_agent_run_prints_final_output_and_usage(agents_cli: Cli) -> None:
    result = agents_cli.ok("agent", "run", WEATHER, "Weather in Paris?", "--id", "weather-1")
    assert result.stdout == "It is sunny in Paris (21C).\n"
    assert "weather · 2 model calls" in result.stderr
    assert "served from history: 0 calls / 0 tokens" in result.stderr

    data = agents_cli.json("agent", "run", WEATHER, "Again?", "--id", "weather-json", "--json")
    assert data["workflow_id"] == "weather-json"
    assert data["final_output"] == "It is sunny in Paris (21C)."
    assert data["last_agent"] == "weather"
    assert data["usage"]["model_calls"] == 2
    assert data["usage"]["input_tokens"] > 0


def test_agent_run_stream_prints_text_as_generated_and_watch_reattaches(agents_cli: Cli) -> None:
    result = agents_cli.ok(
        "agent", "run", WEATHER, "Weather in Paris?", "--id", "weather-stream", "--stream"
    )
    assert result.stdout == "It is sunny in Paris (21C).\n"  # the text, and only it
    assert '→ get_weather({"city": "Paris"})' in result.stderr
    assert "← get_weather: Sunny in Paris" in result.stderr
    assert "run completed" in result.stderr
    assert "weather · 2 model calls" in result.stderr

    events = [
        json.loads(line)
        for line in agents_cli.ok("watch", "weather-stream", "--json").stdout.splitlines()
    ]
    texts = [e for e in events if e["type"] == "text"]
    assert len(texts) > 1 and "".join(e["text"] for e in texts) == "It is sunny in Paris (21C)."
    assert events[-1]["type"] == "closed" and events[-1]["status"] == "completed"
    # Reattach behind the third text delta: the rest of the stream, nothing twice.
    rest = agents_cli.ok("watch", "weather-stream", "--after", str(texts[2]["offset"])).stdout
    assert rest == "".join(e["text"] for e in texts[3:]) + "\n"
    missing = agents_cli("watch", "no-such-run")
    assert missing.exit_code == 1 and "no-such-run" in missing.stderr


def test_usage_reports_calls_agents_and_recovery(agents_cli: Cli) -> None:
    agents_cli.ok("agent", "run", WEATHER, "Weather?", "--id", "weather-usage")
    text = agents_cli.ok("usage", "weather-usage").stdout
    assert "model calls: 2, tokens:" in text
    assert (
        "provider calls made: 2, recorded: 2, re-paid: 0 calls / 0 tokens; handovers: 0; "
        "served from history: 0 calls / 0 tokens"
    ) in text
    rows = [line.split() for line in text.splitlines() if "│" in line]
    assert any(row[0] == "weather" and row[2] == "2" for row in rows), text  # per agent
    calls = [row for row in rows if row[0] in ("1", "2", "3")]
    assert [row[0] for row in calls] == ["1", "2"], text  # each model call by its number

    report = agents_cli.json("usage", "weather-usage", "--json")
    assert report["model_calls"] == 2
    assert [c["seq"] for c in report["calls"]] == [1, 3]
    assert {c["agent"] for c in report["calls"]} == {"weather"}
    assert report["provider_calls"] == 2
    assert report["repaid_calls"] == 0
    assert report["total_tokens"] == report["input_tokens"] + report["output_tokens"]


def test_show_labels_model_and_tool_rows_and_appends_usage(agents_cli: Cli) -> None:
    agents_cli.ok("agent", "run", WEATHER, "Weather?", "--id", "weather-show")
    text = agents_cli.ok("show", "weather-show").stdout
    model_row = next(line for line in text.splitlines() if "model call 1: weather" in line)
    assert 'get_weather({"city": "Paris"})' in model_row
    assert "tokens" in model_row
    tool_row = next(line for line in text.splitlines() if "tool get_weather #2" in line)
    assert "Sunny in Paris, 21C" in tool_row
    assert "model call 2: weather" in text
    assert "invoke_model" not in text
    assert "provider calls made: 2, recorded: 2" in text

    data = agents_cli.json("show", "weather-show", "--json")
    assert data["usage"]["model_calls"] == 2


def test_approvals_lists_a_pending_call_and_approve_lets_the_run_finish(
    agents_cli: Cli,
) -> None:
    assert agents_cli.ok("agent", "run", BANKER, "Pay ada 5", "--id", "bank-ok", "--no-wait")
    _wait_pending(agents_cli, "bank-ok")

    table = agents_cli.ok("approvals").stdout  # all running workflows
    row = next(line for line in table.splitlines() if "bank-ok" in line)
    for cell in (CALL, "send_money", '{"to": "ada", "amount": 5}', "banker"):
        assert cell in row

    failed = agents_cli.fail("approve", "bank-ok", "call-nope")
    assert "not waiting for approval" in failed.stderr
    assert CALL in failed.stderr  # names the call that is pending

    done = agents_cli.ok("approve", "bank-ok", CALL)
    assert f"approved {CALL}: send_money" in done.stdout
    outcome = json.loads(agents_cli.ok("result", "bank-ok", "--timeout", "10").stdout)
    assert outcome["final_output"] == "Done: sent 5 to ada."
    assert _pending_calls(agents_cli, "bank-ok") == []

    again = agents_cli.fail("approve", "bank-ok", CALL)
    assert "workflow 'bank-ok' is completed" in again.stderr


def test_reject_tells_the_model(agents_cli: Cli) -> None:
    agents_cli.ok("agent", "run", BANKER, "Pay ada 5", "--id", "bank-no", "--no-wait")
    _wait_pending(agents_cli, "bank-no")
    result = agents_cli.ok("reject", "bank-no", CALL, "--message", "Ada is not a known payee")
    assert f"rejected {CALL}" in result.stdout
    outcome = json.loads(agents_cli.ok("result", "bank-no", "--timeout", "10").stdout)
    assert outcome["final_output"] == "Not sent: Ada is not a known payee"


def test_agent_run_prints_pending_approvals_while_it_waits(agents_app: AgentsApp) -> None:
    """Someone else approves (here: a thread using the library) while `agent run` waits."""

    async def approve_when_asked() -> None:
        client = await Client.connect(agents_app.url)
        try:
            handle = client.get_workflow_handle("bank-wait")
            for _ in range(200):
                try:
                    if await pending_approvals(handle):
                        break
                except Exception:  # not started yet
                    pass
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # time for the waiting command to print the request
            await decide(handle, CALL, approve=True)
        finally:
            await client.close()

    approver = threading.Thread(target=asyncio.run, args=(approve_when_asked(),))
    approver.start()
    try:
        result = agents_app.cli.ok("agent", "run", BANKER, "Pay ada 5", "--id", "bank-wait")
    finally:
        approver.join(15)
    assert result.stdout == "Done: sent 5 to ada.\n"
    assert "approval needed: agent banker wants to call send_money" in result.stderr
    # The exact commands, with the --db this command was given:
    assert f"duragent --db {agents_app.url} approve bank-wait {CALL}" in result.stderr
    assert f"reject bank-wait {CALL} --message TEXT" in result.stderr


def test_chat_with_piped_stdin_replies_and_ends(agents_cli: Cli) -> None:
    result = agents_cli.ok(
        "agent",
        "chat",
        "chat-1",
        "--agent",
        CHAT_AGENT,
        "--timeout",
        "3",
        input="hello\n/end\n",
    )
    assert result.stdout.splitlines() == [
        "you> hello",
        "agent> You said: hello",
        "you> /end",
    ]
    assert "conversation chat-1 ended after 1 message" in result.stderr
    execution = agents_cli.json("show", "chat-1", "--json")["execution"]
    assert execution["status"] == "completed"


def test_chat_left_running_with_eof_and_rejoined(agents_cli: Cli) -> None:
    first = agents_cli.ok(
        "agent", "chat", "chat-2", "--agent", CHAT_AGENT, "--timeout", "3", input="one\n"
    )
    assert "agent> You said: one" in first.stdout
    assert "left chat chat-2 running" in first.stderr
    assert agents_cli.json("show", "chat-2", "--json")["execution"]["status"] == "running"

    second = agents_cli.ok("agent", "chat", "chat-2", "--timeout", "5", input="two\n/end\n")
    assert "agent> You said: two" in second.stdout
    assert "ended after 2 messages" in second.stderr
    closed = agents_cli.fail("agent", "chat", "chat-2", input="three\n")
    assert "chat 'chat-2' is completed; pass --agent REF" in closed.stderr


def test_agent_commands_report_bad_input(agents_cli: Cli) -> None:
    bad_ref = agents_cli.fail("agent", "run", "no_colon_here", "hi")
    assert "must look like 'package.module:attribute'" in bad_ref.stderr
    assert "not found" in agents_cli.fail("agent", "chat", "no-such-chat", input="hi\n").stderr
    assert "not found" in agents_cli.fail("approvals", "no-such-run").stderr
    assert "not found" in agents_cli.fail("usage", "no-such-run").stderr
    agents_cli.ok("agent", "run", WEATHER, "Weather?", "--id", "weather-not-chat")
    not_chat = agents_cli.fail("agent", "chat", "weather-not-chat", input="hi\n")
    assert "is a duragent.Agent, not a chat" in not_chat.stderr


def test_agent_run_budget_stops_the_run(agents_cli: Cli) -> None:
    result = agents_cli.fail(
        "agent", "run", WEATHER, "Weather?", "--id", "weather-budget", "--max-model-calls", "1"
    )
    assert "budget exhausted: 1 model calls made, limit 1" in result.stderr
    assert agents_cli.json("usage", "weather-budget", "--json")["model_calls"] == 1
