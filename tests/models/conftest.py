"""Fixtures for the local-model tests: the real SmolLM2 model, in-process and over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from duragent.models.local import is_available, start_server

requires_local_model = pytest.mark.skipif(
    not is_available(),
    reason="the local model is not installed (scripts/_venv.py: ensure_local_model)",
)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A llama.cpp server on a free port for the whole session, stopped at the end."""
    if not is_available():
        pytest.skip("the local model is not installed")
    process, base_url = start_server()
    try:
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except Exception:
            process.kill()
            process.wait()
