"""start_server: the llama.cpp server either answers or says why it did not start."""

from __future__ import annotations

from pathlib import Path

import pytest

from duragent.models.local import start_server
from tests.models.conftest import requires_local_model

pytestmark = [pytest.mark.local_model, requires_local_model]


def test_a_server_that_cannot_start_reports_its_output(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(RuntimeError, match="exited with code") as caught:
        start_server(model_path=bad, startup_timeout=30)
    assert "log:" in str(caught.value)
