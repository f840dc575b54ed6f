#!/usr/bin/env python3
"""Run every check: lint (ruff), types (pyright) and the whole test suite (pytest).

Usage: python3 scripts/test.py [extra pytest arguments]
Creates/updates .venv first; exits non-zero on any failure.
"""

from __future__ import annotations

import glob
import os
import shutil
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


BROWSERS = ("chromium-headless-shell", "chromium")


def ensure_browser() -> None:
    """Install Debian's chromium-headless-shell for the web UI's browser tests when no
    Chromium is on PATH (about 20 s, once per machine). DURAGENT_SKIP_BROWSER=1 skips it
    locally; in CI (CI=true) the browser is always required, so its tests never skip."""
    if os.environ.get("DURAGENT_SKIP_BROWSER") and not os.environ.get("CI"):
        print("DURAGENT_SKIP_BROWSER is set: not installing Chromium", flush=True)
        return
    if any(shutil.which(name) for name in BROWSERS):
        return
    apt_install("chromium-headless-shell", "the browser tests")


def apt_install(package: str, needed_by: str) -> None:
    """``apt-get install`` one Debian package (updating the package lists only if the
    first attempt fails); says so and returns where there is no apt-get."""
    apt = shutil.which("apt-get")
    if apt is None:
        print(f"no apt-get: install {package} yourself for {needed_by}", flush=True)
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-qq", "--no-install-recommends", package]
    print(f"installing {package} for {needed_by}", flush=True)
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run([apt, "update", "-qq"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


FAKETIME_LIBRARY = "/usr/lib/*/faketime/libfaketime.so.1"


def ensure_faketime() -> None:
    """Install Debian's faketime (libfaketime) for the clock-step tests, which step a
    worker process's system clock for real, when it is missing (a few seconds, once per
    machine); its tests fail, never skip, without it."""
    if glob.glob(FAKETIME_LIBRARY) or not sys.platform.startswith("linux"):
        return
    apt_install("faketime", "the clock-step tests")


def main() -> None:
    python = ensure("dev,agents,temporal,server")
    ensure_local_model(python)
    ensure_browser()
    ensure_faketime()
    code = [d for d in ("src", "tests", "benchmarks", "examples", "scripts") if (ROOT / d).is_dir()]
    step("ruff", [str(BIN / "ruff"), "check", *code])
    step("ruff format", [str(BIN / "ruff"), "format", "--check", *code])
    step("pyright", [str(BIN / "pyright")])
    # CI must never skip the Temporal backend silently: a missing dev server fails the run.
    # The slowest tests are listed so that a growing suite shows where its time goes.
    pytest = [str(python), "-m", "pytest", "--require-temporal", "--durations=25"]
    step("pytest", [*pytest, *sys.argv[1:]])


if __name__ == "__main__":
    main()
