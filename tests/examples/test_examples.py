"""Every example runs end to end (as a user would run it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import check_interceptors_output, check_operations_output

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE`` from the repository's root, as a user runs an example."""
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_crash_demo_survives_sigkill() -> None:
    result = _run("examples.crash_demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "killed with SIGKILL" in out
    assert "completed steps and their attempts: [1, 2, 1, 1]" in out
    assert "interrupted" in out  # the timeline shows the attempt the crash cut short


def test_operations_example_filters_counts_and_terminates() -> None:
    result = _run("examples.operations")
    assert result.returncode == 0, result.stdout + result.stderr
    check_operations_output(result.stdout)
    assert result.stderr == ""  # no warning: the embedded worker applies the retention


def test_interceptors_example_audits_and_applies_house_rules() -> None:
    result = _run("examples.interceptors")
    assert result.returncode == 0, result.stdout + result.stderr
    check_interceptors_output(result.stdout)
