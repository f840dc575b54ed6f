#!/usr/bin/env python3
"""The main job: set up the environment, then run the crash-survival demo.

Usage: python3 scripts/demo.py
"""

from __future__ import annotations

import subprocess
import sys

from _venv import ROOT, ensure, ensure_local_model


def main() -> None:
    python = ensure("dev,agents")
    ensure_local_model(python)
    result = subprocess.run([str(python), "-m", "examples.crash_demo"], cwd=ROOT, check=False)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
