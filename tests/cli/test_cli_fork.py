"""``duragent fork``, ``show`` of a fork, ``diff`` (golden output) and ``rerun``, against a
real worker process playing the fork tests' scripted models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Cli, db_url, spawn_worker, stop_worker

HELPER = "tests.durable_agents.fork_app:helper"
GOLDEN = Path(__file__).parent / "golden" / "diff_fork.txt"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    directory = tmp_path_factory.mktemp("cli-fork")
    url = db_url(directory / "fork.db")
    log_path = directory / "worker.log"
    with log_path.open("wb") as log:
        proc = spawn_worker(url, "tests.fixtures.cli_fork_app", log)
        try:
            cli = Cli(url)
            cli.wait_for(lambda: "Ctrl+C" in log_path.read_text(), "the worker banner", 120)
            cli.ok("agent", "run", HELPER, "weather?", "--id", "src")
            yield cli
            assert proc.poll() is None, f"worker died:\n{log_path.read_text()}"
        finally:
            status = stop_worker(proc)
    assert status == 0, f"worker exit status {status}:\n{log_path.read_text()}"


def masked(text: str) -> str:
    """Run ids and latencies vary from run to run."""
    text = re.sub(r"run [0-9a-f]{12}", "run RUN", text)
    return re.sub(r"latency .*", "latency ...", text)


def test_fork_show_and_diff(cli: Cli) -> None:
    forked = cli.ok("fork", "src", "--at-turn", "3", "--model", "v2", "--id", "f1", "--wait")
    assert '"final_output": "v2: sunny and 69.8F."' in forked.stdout
    shown = cli.ok("show", "f1").stdout
    assert "forked from" in shown and "src (run" in shown and "at model call 3; model v2" in shown
    assert shown.count("reused from src") == 4  # model calls 1-2 and the two tools between
    assert "reused from the fork's source: 2 calls" in shown
    diff = masked(cli.ok("diff", "src", "f1").stdout)
    assert diff == GOLDEN.read_text()
    data = cli.json("diff", "src", "f1", "--json")
    assert data["identical_turns"] == 2
    assert data["first_call_change"] == ["model: v1 -> v2", "answer: differs"]
    assert data["b"]["usage"]["reused_calls"] == 2


def test_rerun_reports_each_run(cli: Cli) -> None:
    cli.ok("agent", "run", HELPER, "weather?", "--id", "src2")
    rows = cli.json(
        "rerun", "src", "src2", "--model", "v3", "--unmatched-tools", "dry_run", "--json"
    )
    assert [r["source"] for r in rows] == ["src", "src2"]
    for row in rows:
        assert row["status"] == "completed" and not row["same_output"]
        assert row["first_divergence"]["turn"] == 1
        assert row["unrecorded_tools"] == ['get_weather({"city": "Berlin"})']
        assert row["tokens_spent"] > 0 and row["tokens_reused"] == 0
    same = cli.json("rerun", "src", "--models", "recorded", "--json")
    assert same[0]["same_output"] and same[0]["first_divergence"] is None
    assert same[0]["tokens_spent"] == 0
    table = cli.ok("rerun", "src", "--at-turn", "4", "--instructions", "Be brief.").stdout
    assert "src-rerun-" in table and "same" in table


def test_fork_errors(cli: Cli) -> None:
    result = cli.fail("fork", "src", "--at-turn", "9")
    assert "made 4 model calls; at_model_call must be 1..4, not 9" in result.stderr
    result = cli.fail("fork", "nope", "--at-turn", "1")
    assert "nope" in result.stderr
