"""Every example runs end to end (as a user would run it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import check_operations_output

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_crash_demo_survives_sigkill() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.crash_demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "killed with SIGKILL" in out
    assert "completed steps and their attempts: [1, 2, 1, 1]" in out
    assert "interrupted" in out  # the timeline shows the attempt the crash cut short


def test_operations_example_filters_counts_and_terminates() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.operations"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check_operations_output(result.stdout)
    assert result.stderr == ""  # no warning: the embedded worker applies the retention


def test_interceptors_example_audits_and_applies_house_rules() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.interceptors"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "charged" in out  # the house retry policy retried the failed first call
    assert "workflow Checkout got signal confirm" in out
    assert "activity charge attempt 1 failed: the payment API timed out" in out
    assert "activity charge attempt 2 ok" in out
