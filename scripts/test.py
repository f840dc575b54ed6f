#!/usr/bin/env python3
"""Run every check: lint (ruff), types (pyright) and the whole test suite (pytest).

Usage: python3 scripts/test.py [extra pytest arguments]
Creates/updates .venv first; exits non-zero on any failure.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _venv import BIN, ROOT, ensure, ensure_local_model


def step(name: str, cmd: list[str]) -> None:
    print(f"\n=== {name}: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(cmd, check=False, cwd=ROOT)
    took = time.monotonic() - started
    if result.returncode != 0:
        print(f"=== {name} FAILED (exit {result.returncode}, {took:.0f}s)", flush=True)
        sys.exit(result.returncode)
    print(f"=== {name} ok ({took:.0f}s)", flush=True)


def main() -> None:
    python = ensure("dev,agents,temporal")
    ensure_local_model(python)
    code = [d for d in ("src", "tests", "benchmarks", "examples", "scripts") if (ROOT / d).is_dir()]
    step("ruff", [str(BIN / "ruff"), "check", *code])
    step("ruff format", [str(BIN / "ruff"), "format", "--check", *code])
    step("pyright", [str(BIN / "pyright")])
    # CI must never skip the Temporal backend silently: a missing dev server fails the run.
    step("pytest", [str(python), "-m", "pytest", "--require-temporal", *sys.argv[1:]])


if __name__ == "__main__":
    main()
