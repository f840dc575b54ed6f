"""Bad input gets one clear line on stderr and a non-zero exit, and loses nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from duragent import Client
from duragent.cli import cli

from .conftest import QUEUE, Cli, db_url


def _make_db(path: Path) -> None:
    async def create() -> None:
        client = await Client.connect(db_url(path))
        await client.close()

    asyncio.run(create())


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["show", "w"],
        ["result", "w"],
        ["cancel", "w"],
        ["terminate", "w"],
        ["signal", "w", "go"],
        ["export", "w"],
    ],
    ids=lambda c: c[0],
)
def test_read_commands_never_create_a_missing_database(
    run_cli: Cli, cli_db: Path, command: list[str]
) -> None:
    result = run_cli(*command)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no database at")
    assert str(cli_db) in result.stderr
    assert "Traceback" not in result.stderr
    assert not cli_db.exists()
    assert list(cli_db.parent.iterdir()) == []


def test_db_comes_from_the_environment(tmp_path: Path) -> None:
    from_env = tmp_path / "env.db"
    result = CliRunner().invoke(cli, ["list"], env={"DURAGENT_DB": db_url(from_env)})
    assert result.exit_code == 1
    assert str(from_env) in result.stderr
    # --db on the command line wins over the environment.
    from_flag = tmp_path / "flag.db"
    result = Cli(db_url(from_flag))("list", env={"DURAGENT_DB": db_url(from_env)})
    assert str(from_flag) in result.stderr


@pytest.mark.parametrize(
    "command",
    [["show", "nope"], ["result", "nope"], ["cancel", "nope"], ["export", "nope"]],
    ids=lambda c: c[0],
)
def test_unknown_workflow_id(run_cli: Cli, cli_db: Path, command: list[str]) -> None:
    _make_db(cli_db)
    result = run_cli(*command)
    assert result.exit_code == 1
    assert result.stderr.startswith("error:")
    assert "'nope' not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_list_of_an_empty_database(run_cli: Cli, cli_db: Path) -> None:
    _make_db(cli_db)
    assert "no workflows" in run_cli.ok("list").stdout
    assert run_cli.json("list", "--json") == []


def test_not_a_duragent_database_is_left_alone(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes\n" * 100)
    result = Cli(str(notes))("list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error:")
    assert notes.read_text() == "my precious notes\n" * 100


def test_start_twice_with_the_same_id(run_cli: Cli) -> None:
    run_cli.ok("start", "Greeter", "a", "--id", "dup", "-q", QUEUE)
    result = run_cli("start", "Greeter", "b", "--id", "dup", "-q", QUEUE)
    assert result.exit_code == 1
    assert "already running" in result.stderr


def test_start_without_a_task_queue_is_a_usage_error(run_cli: Cli, cli_db: Path) -> None:
    result = run_cli("start", "Greeter", "a")
    assert result.exit_code == 2
    assert "--task-queue" in result.stderr
    assert not cli_db.exists()


def test_start_wait_timeout(run_cli: Cli) -> None:
    # No worker serves this database, so the result never comes.
    result = run_cli(
        "start", "Greeter", "a", "--id", "slow", "-q", QUEUE, "--wait", "--timeout", "0.1"
    )
    assert result.exit_code == 1
    assert "did not close within" in result.stderr


def test_terminate_without_a_worker_and_signal_after(run_cli: Cli) -> None:
    run_cli.ok("start", "Waiter", "1", "--id", "t", "-q", QUEUE)
    run_cli.ok("terminate", "t", "--reason", "stop")
    assert run_cli.json("list", "--json")[0]["status"] == "terminated"
    result = run_cli("cancel", "t")
    assert result.exit_code == 1
    assert "not running" in result.stderr


def test_worker_with_an_unknown_module(run_cli: Cli, cli_db: Path) -> None:
    result = run_cli("worker", "no_such_package.workflows")
    assert result.exit_code == 1
    assert "no module named 'no_such_package.workflows'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not cli_db.exists()


def test_worker_with_a_missing_file(run_cli: Cli, tmp_path: Path) -> None:
    result = run_cli("worker", str(tmp_path / "absent.py"))
    assert result.exit_code == 1
    assert "no such file" in result.stderr


def test_worker_with_a_module_that_raises(run_cli: Cli, tmp_path: Path) -> None:
    app = tmp_path / "broken_app.py"
    app.write_text("import duragent\n\nraise RuntimeError('config missing')\n")
    result = run_cli("worker", str(app))
    assert result.exit_code == 1
    assert "error while importing" in result.stderr
    assert "RuntimeError: config missing" in result.stderr
    assert "broken_app.py:3" in result.stderr


def test_worker_with_a_syntax_error(run_cli: Cli, tmp_path: Path) -> None:
    app = tmp_path / "syntax_app.py"
    app.write_text("def broken(:\n")
    result = run_cli("worker", str(app))
    assert result.exit_code == 1
    assert "SyntaxError" in result.stderr
    assert "syntax_app.py:1" in result.stderr


def test_worker_with_a_module_without_workflows(run_cli: Cli, tmp_path: Path) -> None:
    app = tmp_path / "empty_app.py"
    app.write_text("TASK_QUEUE = 'q'\n")
    result = run_cli("worker", str(app))
    assert result.exit_code == 1
    assert "defines no @workflow.defn classes, @activity.defn functions or PLUGINS" in result.stderr


def test_worker_without_a_task_queue(run_cli: Cli, tmp_path: Path) -> None:
    app = tmp_path / "queueless_app.py"
    app.write_text(
        "from duragent import activity\n\n@activity.defn\ndef ping() -> str:\n    return 'pong'\n"
    )
    result = run_cli("worker", str(app))
    assert result.exit_code == 1
    assert "no task queue" in result.stderr
