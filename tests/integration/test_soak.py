"""The soak benchmark's short mode, as a test (issue 17): a mixed workload (step chains with
durable timers, child workflows, signals, agents with the scripted model) across worker
processes SIGKILLed at random moments loses and duplicates nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_short_soak_with_random_kills_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--short", "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines and lines[-1].startswith("{"), done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(lines[-1])
    report = "\n".join(lines[-12:])
    assert done.returncode == 0, report
    assert summary["kills"] > 0 and summary["workflows_completed"] > 0, report
    assert summary["lost_results"] == 0 and summary["wrong_results"] == 0, report
    assert summary["duplicated_results"] == 0, report
    assert summary["reruns_outside_window"] == 0, report
    assert summary["integrity"] == "ok", report
    assert set(summary["by_kind"]) == {"chain", "family", "mailbox", "agent"}, report
