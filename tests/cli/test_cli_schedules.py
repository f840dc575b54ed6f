"""``duragent schedule``: create, list, describe, pause, unpause, trigger and delete, and
their errors (a real worker process takes the actions in ``test_worker_takes_actions``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Cli, db_url, spawn_worker, stop_worker


def test_schedule_commands(run_cli: Cli) -> None:
    created = run_cli.ok(
        "schedule", "create", "nightly", "Greeter", "world", "-q", "q",
        "--cron", "0 2 * * mon-fri", "--every", "6h+5m", "--overlap", "buffer_one",
        "--catchup-window", "1h", "--note", "from the CLI",
    )  # fmt: skip
    assert created.stdout.strip() == "nightly"
    assert "created schedule nightly" in created.stderr
    listed = run_cli.ok("schedule", "list")
    assert "nightly" in listed.stdout and "Greeter" in listed.stdout
    assert "cron 0 2 * * mon-fri; every 6:00:00 +0:05:00" in listed.stdout
    data = run_cli.json("schedule", "describe", "nightly", "--json")
    assert data["workflow_type"] == "Greeter" and data["args"] == ["world"]
    assert data["workflow_id"] == "nightly" and data["task_queue"] == "q"
    assert data["intervals"] == [{"every_s": 21600.0, "offset_s": 300.0}]
    assert data["overlap"] == "BUFFER_ONE" and data["catchup_window_s"] == 3600.0
    assert data["note"] == "from the CLI" and not data["paused"]
    assert len(data["next_action_times"]) == 10

    assert (
        "paused schedule nightly"
        in run_cli.ok("schedule", "pause", "nightly", "--note", "x").stderr
    )
    data = run_cli.json("schedule", "describe", "nightly", "--json")
    assert data["paused"] and data["note"] == "x" and data["next_action_times"] == []
    run_cli.ok("schedule", "trigger", "nightly", "--overlap", "allow_all")
    data = run_cli.json("schedule", "describe", "nightly", "--json")
    assert data["num_actions"] == 1
    started = data["recent_actions"][0]["workflow_id"]
    assert started.startswith("nightly-20") and started.endswith("Z")
    assert [r["workflow_id"] for r in data["running"]] == [started]
    text = run_cli.ok("schedule", "describe", "nightly").stdout
    assert "paused (x)" in text and f"running  {started}" in text
    run_cli.ok("schedule", "unpause", "nightly")
    lines = [
        json.loads(line) for line in run_cli.ok("schedule", "list", "--json").stdout.splitlines()
    ]
    assert [(s["id"], s["paused"], s["recent_actions"]) for s in lines] == [("nightly", False, 1)]
    assert "deleted schedule nightly" in run_cli.ok("schedule", "delete", "nightly").stderr
    assert "no schedules" in run_cli.ok("schedule", "list").stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "s", "W", "-q", "q"), "give at least one --cron or --every"),
        (("create", "s", "W", "-q", "q", "--cron", "61 * * * *"), "outside 0-59"),
        (("create", "s", "W", "-q", "q", "--every", "soon"), "not a duration"),
        (("create", "s", "W", "-q", "q", "--every", "1m", "--catchup-window", "1s"), "10 seconds"),
        (("create", "s", "W", "-q", "q", "--every", "1m", "--overlap", "never"), "never"),
        (("describe", "missing"), "schedule 'missing' not found"),
        (("pause", "missing"), "schedule 'missing' not found"),
        (("trigger", "missing"), "schedule 'missing' not found"),
        (("delete", "missing"), "schedule 'missing' not found"),
    ],
)
def test_schedule_errors(run_cli: Cli, args: tuple[str, ...], message: str) -> None:
    run_cli.ok("schedule", "create", "other", "W", "-q", "q", "--every", "1h")  # makes the db
    result = run_cli("schedule", *args)
    assert result.exit_code in (1, 2), result.stdout
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_id(run_cli: Cli) -> None:
    run_cli.ok("schedule", "create", "s", "W", "-q", "q", "--every", "1h")
    assert (
        "'s' already exists"
        in run_cli.fail("schedule", "create", "s", "W", "-q", "q", "--every", "1h").stderr
    )


def test_worker_takes_actions(tmp_path: Path) -> None:
    cli = Cli(db_url(tmp_path / "w.db"))
    cli.ok(
        "schedule", "create", "greet", "Greeter", "you", "-q", "cli-tests",
        "--every", "1s", "--paused",
    )  # fmt: skip
    with (tmp_path / "worker.log").open("wb") as log:
        proc = spawn_worker(cli.url, "tests.fixtures.cli_app", log)
        try:
            cli.ok("schedule", "unpause", "greet")

            def two() -> bool:
                return cli.json("schedule", "describe", "greet", "--json")["num_actions"] >= 2

            cli.wait_for(two, "two actions", timeout=60)
            data = cli.json("schedule", "describe", "greet", "--json")
            first = data["recent_actions"][0]["workflow_id"]

            def done() -> bool:
                return cli.json("show", first, "--json")["execution"]["status"] == "completed"

            cli.wait_for(done, "the first started workflow to complete", timeout=60)
        finally:
            assert stop_worker(proc) == 0
    assert cli.json("result", first) == "Hello, you!"


def test_start_with_cron_schedule(run_cli: Cli) -> None:
    run_cli.ok("start", "Greeter", "x", "--id", "cron-1", "-q", "q", "--cron-schedule", "@daily")
    assert run_cli.json("show", "cron-1", "--json")["execution"]["status"] == "running"
    bad = run_cli.fail("start", "Greeter", "--id", "cron-2", "-q", "q", "--cron-schedule", "daily")
    assert "cron_schedule: cron expression 'daily' has 1 fields" in bad.stderr
