"""Programs in the shape of Temporal's published hello samples (written for Duragent),
each run as a Temporal user runs them: ``python hello_x.py``, the address in
``DURAGENT_ADDRESS``. Only their imports and that address differ from Temporal code. Each
runs on the embedded engine and, unchanged, on the Temporal dev server
(``temporal://host:port/namespace``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..temporal_server import TemporalServerInfo

HERE = Path(__file__).resolve().parent

EXPECTED: dict[str, list[str]] = {
    "hello_activity": ["Result: Hello, World!"],
    "hello_signal": ["Result: ['Hello, user1', 'Hello, user2', 'Hello, user3']"],
    "hello_query": [
        "First greeting result: Hello, World!",
        "Second greeting result: Goodbye, World!",
    ],
    "hello_update": [
        "Update Result: Hello -> Ahoj",
        "Rejected: validator of update 'update_greeting' raised ValueError: the greeting must "
        "not be empty",
        "Workflow Result: Ahoj, World!",
    ],
    "hello_child_workflow": ["Result: Hello, World!"],
    "hello_local_activity": ["Result: Hello, World!"],
}


def run_sample(name: str, address: str) -> list[str]:
    env = {
        **os.environ,
        "DURAGENT_ADDRESS": address,
        "PYTHONUNBUFFERED": "1",
        # A crash while the program runs prints its Python stack (see the SIGSEGV case).
        "PYTHONFAULTHANDLER": "1",
    }
    result = subprocess.run(
        [sys.executable, str(HERE / f"{name}.py")],
        env=env,
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode == -signal.SIGABRT and address.startswith("temporal://"):
        # temporalio's known crash at interpreter exit (temporalio/sdk-python#300: its
        # Rust runtime's threads call into Python during finalization); everything before
        # it ran. Tolerated here only: each sample is the user's own program, which runs an
        # in-process Worker and exits through normal finalization, as Temporal's samples do
        # (`duragent worker` skips the finalization and must exit 0: test_cli_worker_exit).
        assert "PyGILState_Release" in result.stderr, result.stderr
        assert "finalizing" in result.stderr, result.stderr
    elif (
        result.returncode == -signal.SIGSEGV
        and address.startswith("temporal://")
        and result.stdout.splitlines() == EXPECTED[name]
    ):
        # The same crash seen as a segfault (once in a clean-clone run, 2026-12-04): the
        # program had printed its last line, so it had finished, and no stack of its own
        # code was dumped (faulthandler is uninstalled by then; a crash while it ran would
        # show the sample's frames).
        assert f"{name}.py" not in result.stderr, result.stderr
    else:
        assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hello_sample_on_the_embedded_engine(name: str, tmp_path: Path) -> None:
    assert run_sample(name, f"sqlite:///{tmp_path / 'hello.db'}") == EXPECTED[name]


@pytest.mark.temporal
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hello_sample_on_temporal(name: str, temporal_server: TemporalServerInfo) -> None:
    assert run_sample(name, temporal_server.url) == EXPECTED[name]
