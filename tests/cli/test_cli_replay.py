"""``duragent replay``: histories exported from real runs, replayed against the same code
(ok) and against changed code (nondeterminism, exit status 1, the event named)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from duragent import Client, Worker
from duragent.cli.loading import load_app

from .conftest import Cli, db_url, spawn_worker, stop_worker

QUEUE = "replay-tests"

APP = textwrap.dedent(
    '''
    """An order workflow (version {version})."""

    from datetime import timedelta

    from duragent import activity, workflow

    T = timedelta(seconds=10)


    @activity.defn
    def reserve(item: str) -> str:
        return f"reserved {{item}}"


    @activity.defn
    def charge(item: str) -> str:
        return f"charged {{item}}"


    @activity.defn
    def ship(item: str) -> str:
        return f"shipped {{item}}"


    @workflow.defn(name="Order")
    class Order:
        def __init__(self) -> None:
            self.note = ""

        @workflow.run
        async def run(self, item: str) -> list[str]:
            first = await workflow.execute_activity(reserve, item, start_to_close_timeout=T)
            await workflow.sleep(0.01)
            second = await workflow.execute_activity({second}, item, start_to_close_timeout=T)
            return [first, second]


    @workflow.defn(name="Greeting")
    class Greeting:
        @workflow.run
        async def run(self, name: str) -> str:
            return await workflow.execute_activity(reserve, name, start_to_close_timeout=T)
    '''
)


def write_app(directory: Path, name: str, *, second: str = "charge") -> Path:
    path = directory / f"{name}.py"
    path.write_text(APP.format(version=name, second=second))
    return path


async def _run_workflows(db: Path, app_path: Path) -> None:
    app = load_app(str(app_path))
    client = await Client.connect(db_url(db))
    try:
        async with Worker(
            client, task_queue=QUEUE, workflows=app.workflows, activities=app.activities
        ):
            for i in range(2):
                await client.execute_workflow(
                    "Order", f"book-{i}", id=f"order-{i}", task_queue=QUEUE
                )
            await client.execute_workflow("Greeting", "ann", id="greeting", task_queue=QUEUE)
    finally:
        await client.close()


def export_runs(cli: Cli, db: Path, app_path: Path, out_dir: Path) -> dict[str, Path]:
    """Run two Order workflows and a Greeting with ``app_path``'s code and export each."""
    asyncio.run(_run_workflows(db, app_path))
    out_dir.mkdir()
    files: dict[str, Path] = {}
    for workflow_id in ("order-0", "order-1", "greeting"):
        files[workflow_id] = out_dir / f"{workflow_id}.json"
        cli.ok("export", workflow_id, "-o", str(files[workflow_id]))
    return files


def event_ids(path: Path, event_type: str) -> list[int]:
    data = json.loads(path.read_text())
    return [e["event_id"] for e in data["events"] if e["type"] == event_type]


def test_replay_of_a_real_run_against_the_same_code(
    run_cli: Cli, cli_db: Path, tmp_path: Path
) -> None:
    app = write_app(tmp_path, "shop_v1")
    files = export_runs(run_cli, cli_db, app, tmp_path / "histories")
    n_events = len(json.loads(files["order-0"].read_text())["events"])

    result = run_cli.ok("replay", str(files["order-0"]), "--module", str(app))
    assert result.stdout.startswith(f"ok: {n_events} events replayed")
    assert "order-0" in result.stdout
    assert result.stderr == ""


def test_replay_against_changed_code_names_the_event(
    run_cli: Cli, cli_db: Path, tmp_path: Path
) -> None:
    files = export_runs(run_cli, cli_db, write_app(tmp_path, "shop_v1"), tmp_path / "histories")
    changed = write_app(tmp_path, "shop_v2", second="ship")  # charge -> ship: incompatible
    diverged_at = event_ids(files["order-0"], "ActivityTaskScheduled")[1]

    result = run_cli.fail("replay", str(files["order-0"]), "-m", str(changed))
    assert "nondeterminism:" in result.stderr
    assert f"at history event {diverged_at}" in result.stderr
    assert "charge" in result.stderr
    assert "ship" in result.stderr
    assert "ok:" not in result.stdout
    assert "Traceback" not in result.stderr


def test_replay_a_directory_and_several_files(run_cli: Cli, cli_db: Path, tmp_path: Path) -> None:
    app = write_app(tmp_path, "shop_v1")
    files = export_runs(run_cli, cli_db, app, tmp_path / "histories")

    result = run_cli.ok("replay", str(tmp_path / "histories"), "--module", str(app))
    assert result.stdout.count("ok: ") == 3
    assert "3 of 3 histories replayed" in result.stdout

    result = run_cli.ok(
        "replay", str(files["order-1"]), str(files["greeting"]), "--module", str(app)
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("ok: ")]
    assert len(lines) == 2
    assert "order-1.json" in lines[0]
    assert "greeting.json" in lines[1]


def test_replay_reports_each_failure_and_exits_1(
    run_cli: Cli, cli_db: Path, tmp_path: Path
) -> None:
    """Every file is replayed; the failures are reported one by one."""
    histories = tmp_path / "histories"
    export_runs(run_cli, cli_db, write_app(tmp_path, "shop_v1"), histories)
    (histories / "notes.json").write_text('{"hello": "world"}')
    changed = write_app(tmp_path, "shop_v2", second="ship")

    result = run_cli.fail("replay", str(histories), "--module", str(changed))
    # The Greeting history still replays; both Order histories diverge.
    assert result.stdout.count("ok: ") == 1
    assert "greeting.json" in result.stdout
    assert result.stderr.count("nondeterminism:") == 2
    assert "not a Duragent history export" in result.stderr
    assert "1 of 4 histories replayed, 3 failed" in result.stdout


def test_replay_with_a_module_that_lacks_the_workflow_type(
    run_cli: Cli, cli_db: Path, tmp_path: Path
) -> None:
    files = export_runs(run_cli, cli_db, write_app(tmp_path, "shop_v1"), tmp_path / "histories")
    other = tmp_path / "other_app.py"
    other.write_text(
        "from duragent import workflow\n\n\n@workflow.defn\nclass Unrelated:\n"
        "    @workflow.run\n    async def run(self) -> None:\n        return None\n"
    )
    result = run_cli.fail("replay", str(files["order-0"]), "--module", str(other))
    assert "'Order'" in result.stderr
    assert "'Unrelated'" in result.stderr


def test_replay_usage_errors(run_cli: Cli, tmp_path: Path) -> None:
    app = write_app(tmp_path, "shop_v1")
    missing = run_cli("replay", str(tmp_path / "absent.json"), "--module", str(app))
    assert missing.exit_code == 2
    no_module = run_cli("replay", str(app))
    assert no_module.exit_code == 2
    assert "--module" in no_module.stderr
    (tmp_path / "empty").mkdir()
    empty = run_cli.fail("replay", str(tmp_path / "empty"), "--module", str(app))
    assert "no .json history files" in empty.stderr
    broken = tmp_path / "broken_app.py"
    broken.write_text("raise RuntimeError('config missing')\n")
    history = tmp_path / "h.json"
    history.write_text("{}")
    result = run_cli.fail("replay", str(history), "--module", str(broken))
    assert "config missing" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_replay_of_an_agent_run_uses_the_modules_plugins(tmp_path: Path) -> None:
    """An agent run (the plugin's built-in ``duragent.Agent`` workflow, model and tool
    calls as activities) replays against a module that lists the plugin in PLUGINS."""
    app = "tests.fixtures.cli_agents_app"
    cli = Cli(db_url(tmp_path / "agents.db"))
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = spawn_worker(cli.url, app, log)
        try:
            cli.wait_for(lambda: "Ctrl+C" in log_path.read_text(), "the worker banner", 120)
            cli.ok("agent", "run", f"{app}:weather_agent", "Weather in Oslo?", "--id", "wx")
        finally:
            stop_worker(proc)
    history = tmp_path / "wx.json"
    cli.ok("export", "wx", "-o", str(history))
    n_events = len(json.loads(history.read_text())["events"])

    replayed = cli.ok("replay", str(history), "--module", app)
    assert replayed.stdout.startswith(f"ok: {n_events} events replayed")
