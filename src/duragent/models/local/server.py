"""``start_server``: llama.cpp's OpenAI-compatible server with the bundled weights."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from duragent.models.local.backends import DEFAULT_THREADS, SERVED_MODEL_NAME
from duragent.models.local.weights import (
    INSTALL_HINT,
    LocalModelUnavailableError,
    require_llama_cpp,
    weights_path,
)

__all__ = ["start_server"]

_SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def start_server(
    port: int | None = None,
    *,
    n_ctx: int = 4096,
    n_threads: int = DEFAULT_THREADS,
    model_path: str | Path | None = None,
    startup_timeout: float = 60.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m llama_cpp.server`` on 127.0.0.1 and wait until it answers.

    The server serves the bundled SmolLM2 weights under the model name ``smollm2`` and is
    ready in about a second. Stop it with ``process.terminate()`` and ``process.wait()``.
    If it fails to start, the error includes the end of its output and the log file's path.

    Args:
        port: The port; default: a free one.
        n_ctx: The context window (fixed for the server's lifetime).
        n_threads: CPU threads.
        model_path: A GGUF file (default: the bundled SmolLM2).
        startup_timeout: Seconds to wait for the server to answer.

    Returns:
        The server process and its API root URL (``http://127.0.0.1:PORT/v1``), ready for
        ``LocalModel(base_url=...)``, ``chat(..., base_url=...)`` or any OpenAI client.
    """
    require_llama_cpp()
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise LocalModelUnavailableError(
            f"llama.cpp's server needs llama-cpp-python[server] ({', '.join(missing)} missing); "
            f"{INSTALL_HINT}"
        )
    path = Path(model_path) if model_path is not None else weights_path()
    port = port or _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the server keeps writing to it
        prefix="duragent-llama-server-", suffix=".log", delete=False
    )
    # Passive OpenMP waiting: spinning threads slow everything down on a busy machine.
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(path),
            "--model_alias",
            SERVED_MODEL_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            str(n_threads),
            "--n_threads_batch",
            str(n_threads),
            "--verbose",
            "False",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    log.close()
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama.cpp server exited with code {process.returncode} during start-up; "
                f"log: {log.name}\n{_tail(log.name)}"
            )
        if _ready(base_url):
            # The log is only kept for start-up failures (the server keeps its open handle).
            Path(log.name).unlink(missing_ok=True)
            return process, base_url
        if time.monotonic() > deadline:
            process.terminate()
            process.wait(10)
            raise RuntimeError(
                f"llama.cpp server did not answer within {startup_timeout:.0f}s; log: {log.name}"
                f"\n{_tail(log.name)}"
            )
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
