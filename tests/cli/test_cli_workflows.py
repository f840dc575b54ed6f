"""The CLI against a real worker process: start, list, show, result, signal, cancel,
terminate and export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from duragent import WorkflowHistory

from .conftest import QUEUE, Cli

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _start(cli: Cli, *args: str) -> str:
    result = cli.ok("start", *args, "--task-queue", QUEUE)
    run_id = result.stdout.strip().splitlines()[0]
    assert RUN_ID.match(run_id), result.stdout
    return run_id


def _execution(cli: Cli, workflow_id: str) -> dict[str, Any]:
    return cli.json("show", workflow_id, "--json")["execution"]


def test_start_wait_prints_run_id_then_result(app_cli: Cli) -> None:
    result = app_cli.ok(
        "start", "Greeter", "world", "--id", "greet-1", "-q", QUEUE, "--wait", "--timeout", "10"
    )
    lines = result.stdout.strip().splitlines()
    assert RUN_ID.match(lines[0])
    assert json.loads(lines[1]) == "Hello, world!"
    assert "started Greeter" in result.stderr


def test_start_json_wait(app_cli: Cli) -> None:
    data = app_cli.json(
        "start", "Greeter", '"json"', "--id", "greet-json", "-q", QUEUE, "--wait", "--json"
    )
    assert data["workflow_id"] == "greet-json"
    assert RUN_ID.match(data["run_id"])
    assert data["result"] == "Hello, json!"


def test_result_prints_json_and_list_shows_the_run(app_cli: Cli) -> None:
    _start(app_cli, "Greeter", "listed", "--id", "greet-list")
    assert json.loads(app_cli.ok("result", "greet-list", "--timeout", "10").stdout) == (
        "Hello, listed!"
    )

    table = app_cli.ok("list").stdout
    row = next(line for line in table.splitlines() if "greet-list" in line)
    assert "Greeter" in row
    assert "completed" in row

    runs = app_cli.json("list", "--json", "--type", "Greeter")
    mine = next(r for r in runs if r["workflow_id"] == "greet-list")
    assert mine["status"] == "completed"
    assert mine["history_length"] >= 5
    assert all(r["workflow_type"] == "Greeter" for r in runs)
    running = app_cli.json("list", "--json", "--status", "running")
    assert all(r["workflow_id"] != "greet-list" for r in running)


def test_show_lists_failed_attempts_of_an_activity(app_cli: Cli) -> None:
    _start(app_cli, "Flaky", "k", "--id", "flaky-1")
    app_cli.ok("result", "flaky-1", "--timeout", "10")

    text = app_cli.ok("show", "flaky-1").stdout
    assert "flaky-1" in text
    assert "completed" in text
    assert "activity flaky #1" in text
    assert "attempt 1 failed" in text
    assert "transient failure #1 for k" in text
    assert "attempt 2 failed" in text
    assert "transient failure #2 for k" in text
    assert "attempt 3 completed" in text
    assert text.index("attempt 1 failed") < text.index("attempt 2 failed")
    assert text.index("attempt 2 failed") < text.index("attempt 3 completed")
    assert "timer 10ms" in text
    assert "workflow completed" in text
    assert '"k ok after 3 attempts"' in text

    data = app_cli.json("show", "flaky-1", "--json")
    assert [a["attempt"] for a in data["attempts"]] == [1, 2]
    assert data["attempts"][0]["failure"]["message"] == "transient failure #1 for k"
    assert data["execution"]["status"] == "completed"
    history = WorkflowHistory.from_dict(data)  # the export format, plus extra keys
    assert history.workflow_type == "Flaky"


def test_show_of_a_run_stuck_on_a_task_failure(app_cli: Cli) -> None:
    _start(app_cli, "Buggy", "--id", "buggy-1")
    try:
        app_cli.wait_for(
            lambda: _execution(app_cli, "buggy-1")["task_failure"] is not None,
            "the workflow task to fail",
        )
        text = app_cli.ok("show", "buggy-1").stdout
        assert "workflow task failing" in text
        assert "RuntimeError: bug in workflow code: division by zero in step 3" in text
        assert "cli_app.py" in text  # where the bug is
        assert "running" in text
        row = next(line for line in app_cli.ok("list").stdout.splitlines() if "buggy-1" in line)
        assert "task failing" in row
    finally:
        app_cli.ok("terminate", "buggy-1")


def test_show_of_an_activity_waiting_for_its_next_attempt(app_cli: Cli) -> None:
    _start(app_cli, "Stubborn", "billing-api", "--id", "stubborn-1")
    try:

        def failed_once() -> bool:
            pending = app_cli.json("show", "stubborn-1", "--json")["pending_activities"]
            return bool(pending) and pending[0]["last_failure"] is not None

        app_cli.wait_for(failed_once, "the first attempt to fail")
        text = app_cli.ok("show", "stubborn-1").stdout
        assert "activity always_fails #1" in text
        assert "attempt 1 failed" in text
        assert "billing-api is down (attempt 1)" in text
        assert "attempt 2 due at" in text
        assert "last failure" in text
        assert "1 pending activity" in text
    finally:
        app_cli.ok("terminate", "stubborn-1")


def test_signal_delivers_in_order(app_cli: Cli) -> None:
    _start(app_cli, "Waiter", "2", "--id", "waiter-signal")
    assert "sent signal finish" in app_cli.ok("signal", "waiter-signal", "finish", "first").stdout
    app_cli.ok("signal", "waiter-signal", "finish", '"second"')
    result = app_cli.ok("result", "waiter-signal", "--timeout", "10")
    assert json.loads(result.stdout) == ["first", "second"]
    text = app_cli.ok("show", "waiter-signal").stdout
    assert text.count("signal finish") == 2


def test_cancel_closes_the_run_as_cancelled(app_cli: Cli) -> None:
    _start(app_cli, "Waiter", "5", "--id", "waiter-cancel")
    out = app_cli.ok("cancel", "waiter-cancel", "--reason", "not needed").stdout
    assert "cancellation requested" in out
    result = app_cli("result", "waiter-cancel", "--timeout", "10")
    assert result.exit_code == 1
    assert "cancelled" in result.stderr
    assert _execution(app_cli, "waiter-cancel")["status"] == "canceled"
    text = app_cli.ok("show", "waiter-cancel").stdout
    assert "cancel requested" in text
    assert "not needed" in text
    assert "workflow cancelled" in text


def test_terminate_closes_the_run_at_once(app_cli: Cli) -> None:
    _start(app_cli, "Waiter", "5", "--id", "waiter-terminate")
    app_cli.ok("terminate", "waiter-terminate", "--reason", "operator said so")
    assert _execution(app_cli, "waiter-terminate")["status"] == "terminated"
    result = app_cli("result", "waiter-terminate", "--timeout", "5")
    assert result.exit_code == 1
    assert "terminated" in result.stderr
    assert "operator said so" in app_cli.ok("show", "waiter-terminate").stdout
    # A closed run takes no more signals.
    late = app_cli("signal", "waiter-terminate", "finish", "late")
    assert late.exit_code == 1
    assert "not running" in late.stderr


def test_result_of_a_failed_workflow_exits_1(app_cli: Cli) -> None:
    _start(app_cli, "Failing", "out of budget", "--id", "failing-1")
    result = app_cli("result", "failing-1", "--timeout", "10")
    assert result.exit_code == 1
    assert result.stderr.startswith("error:")
    assert "out of budget" in result.stderr
    assert "Traceback" not in result.stderr
    assert "workflow failed" in app_cli.ok("show", "failing-1").stdout


def test_export_writes_history_that_reads_back(app_cli: Cli, tmp_path: Path) -> None:
    run_id = _start(app_cli, "Greeter", "export", "--id", "greet-export")
    app_cli.ok("result", "greet-export", "--timeout", "10")
    target = tmp_path / "history.json"
    result = app_cli.ok("export", "greet-export", "-o", str(target))
    assert "wrote" in result.stderr
    history = WorkflowHistory.from_json(target.read_text())
    assert history.workflow_id == "greet-export"
    assert history.run_id == run_id
    assert history.workflow_type == "Greeter"
    types = [e.TYPE for e in history.events]
    assert types[0] == "WorkflowExecutionStarted"
    assert "ActivityTaskScheduled" in types
    assert types[-1] == "WorkflowExecutionCompleted"
    stdout = app_cli.ok("export", "greet-export", "--run", run_id).stdout
    assert WorkflowHistory.from_json(stdout).to_dict() == history.to_dict()


def test_query_and_update(app_cli: Cli) -> None:
    _start(app_cli, "Waiter", "3", "--id", "msg-1")
    assert json.loads(app_cli.ok("update", "msg-1", "add", "one", "--timeout", "10").stdout) == 1
    assert app_cli.json("query", "msg-1", "received") == ["one"]
    rejected = app_cli.fail("update", "msg-1", "add", '""', "--timeout", "10")
    assert "empty message" in rejected.stderr
    missing = app_cli.fail("query", "msg-1", "nope")
    assert "no query 'nope'" in missing.stderr


def test_start_with_search_attributes_then_list_and_show_by_them(app_cli: Cli) -> None:
    _start(
        app_cli,
        "Greeter",
        "sa",
        "--id",
        "greet-sa-1",
        "--search-attribute",
        "CustomerId=c-9",
        "--search-attribute",
        "Priority=3",
        "--search-attribute",
        'Code="007"',
    )
    _start(app_cli, "Greeter", "sa", "--id", "greet-sa-2", "--search-attribute", "Priority=3")

    def ids(*filters: str) -> list[str]:
        args = [a for f in filters for a in ("--search-attribute", f)]
        return sorted(r["workflow_id"] for r in app_cli.json("list", "--json", *args))

    assert ids("CustomerId=c-9") == ["greet-sa-1"]
    assert ids("Priority=3") == ["greet-sa-1", "greet-sa-2"]
    assert ids("Priority=3", 'Code="007"') == ["greet-sa-1"]
    assert ids("Code=7") == []  # the int 7, not the string "007"
    execution = _execution(app_cli, "greet-sa-1")
    assert execution["search_attributes"] == {"CustomerId": "c-9", "Priority": 3, "Code": "007"}
    app_cli.ok("result", "greet-sa-1", "--timeout", "10")  # a worker ran it
    shown = app_cli.ok("show", "greet-sa-1").stdout
    line = next(x for x in shown.splitlines() if "search attributes" in x)
    assert line.split() == ["search", "attributes", 'Code="007"', 'CustomerId="c-9"', "Priority=3"]
    table = app_cli.ok("list", "--search-attribute", "CustomerId=c-9").stdout
    assert "greet-sa-1" in table and "greet-sa-2" not in table

    def queried(list_filter: str) -> list[str]:
        found = app_cli.json("list", "--json", "--query", list_filter)
        return sorted(r["workflow_id"] for r in found)

    assert queried("Priority = 3 AND CustomerId = 'c-9'") == ["greet-sa-1"]
    assert queried("Priority >= 3 AND WorkflowId STARTS_WITH 'greet-sa-'") == [
        "greet-sa-1",
        "greet-sa-2",
    ]
    assert queried("Code IN ('007', 'x') OR CustomerId = 'nobody'") == ["greet-sa-1"]
    bad = app_cli("list", "--query", "Priority = 3 AND")
    assert bad.exit_code == 1 and "list filter" in bad.stderr and "position 17" in bad.stderr
    bad = app_cli("list", "--search-attribute", "nope")
    assert bad.exit_code == 2 and "is not NAME=VALUE" in bad.stderr
    bad = app_cli("start", "Greeter", "-q", QUEUE, "--search-attribute", "x y=1")
    assert bad.exit_code == 2 and "not valid" in bad.stderr


def test_cancel_and_terminate_every_run_a_list_filter_selects(app_cli: Cli) -> None:
    for i in range(3):
        _start(app_cli, "Waiter", "5", "--id", f"batch-t-{i}")
    for i in range(2):
        _start(app_cli, "Waiter", "5", "--id", f"batch-c-{i}")
    _start(app_cli, "Waiter", "5", "--id", "batch-keep")
    terminate = "WorkflowId STARTS_WITH 'batch-t-'"

    listed = app_cli.ok("terminate", "--query", terminate, "--dry-run")
    assert sorted(listed.stdout.split()) == ["batch-t-0", "batch-t-1", "batch-t-2"]
    assert "3 running workflows would be terminated" in listed.stderr
    asked = app_cli("terminate", "--query", terminate)  # no terminal to ask on
    assert asked.exit_code == 2 and "pass --yes to terminate them" in asked.stderr
    assert _execution(app_cli, "batch-t-0")["status"] == "running"

    done = app_cli.ok("terminate", "--query", terminate, "--yes", "--reason", "cleanup")
    assert "terminated 3 workflows" in done.stdout
    for i in range(3):
        assert _execution(app_cli, f"batch-t-{i}")["status"] == "terminated"
    again = app_cli.ok("terminate", "--query", terminate, "--yes")
    assert "no running workflow matches" in again.stderr

    cancelled = app_cli.json(
        "cancel", "--query", "WorkflowId IN ('batch-c-0', 'batch-c-1')", "--yes", "--json"
    )
    assert sorted(cancelled["cancel"]) == ["batch-c-0", "batch-c-1"]
    assert cancelled["already_closed"] == []
    for i in range(2):
        app_cli("result", f"batch-c-{i}", "--timeout", "10")
        assert _execution(app_cli, f"batch-c-{i}")["status"] == "canceled"
    assert _execution(app_cli, "batch-keep")["status"] == "running"

    both = app_cli("terminate", "batch-keep", "--query", terminate)
    assert both.exit_code == 2 and "one of them" in both.stderr
    neither = app_cli("cancel")
    assert neither.exit_code == 2 and "give a WORKFLOW_ID or --query" in neither.stderr
    stray = app_cli("terminate", "batch-keep", "--yes")
    assert stray.exit_code == 2 and "go with --query" in stray.stderr
    bad = app_cli("terminate", "--query", "WorkflowId STARTS_WITH", "--yes")
    assert bad.exit_code == 1 and "list filter" in bad.stderr
    app_cli.ok("terminate", "batch-keep")
