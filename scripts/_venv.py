"""Create or update the project's virtual environment (shared by demo.py and test.py).

Only Python and pip are assumed. The environment lives in ``.venv`` next to the repository
and is reinstalled only when ``pyproject.toml`` (or this file) changes, so repeated runs start
in seconds.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


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
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-e",
                target,
            ],
            cwd=ROOT,
            check=True,
        )
        stamp.write_text(want)
    return PYTHON
