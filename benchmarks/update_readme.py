"""Rewrite the README's figure tables from the benchmark scripts that measure them.

Usage::

    python benchmarks/update_readme.py                 # every table
    python benchmarks/update_readme.py agent_bench     # only the tables of these scripts

Each table in ``README.md`` sits between two markers that name the command writing it::

    <!-- table: python benchmarks/agent_bench.py --markdown -->
    | ... |
    <!-- end table -->

The command is run (from the repository root, with this interpreter) and its output, plus a
line saying when and under which load it was measured, replaces what is between the markers.
Tables are never edited by hand: run this instead, and commit what it wrote.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- table: (?P<command>.+?) -->$")
END = "<!-- end table -->"


def run(command: str) -> str:
    argv = shlex.split(command)
    if argv[0] == "python":
        argv[0] = sys.executable
    load_before = os.getloadavg()[0]
    out = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    load_after = os.getloadavg()[0]
    day = datetime.date.today().isoformat()
    note = (
        f"<sub>Written by `{command}` on {day}; load average {load_before:.1f} before, "
        f"{load_after:.1f} after, on {os.cpu_count()} cores.</sub>"
    )
    return out.strip() + "\n\n" + note


def main(only: list[str]) -> int:
    lines = README.read_text().splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        match = MARKER.match(line)
        i += 1
        if match is None:
            continue
        end = lines.index(END, i)
        command = match.group("command")
        if only and not any(name in command for name in only):
            out.extend(lines[i:end])
        else:
            print(f"running {command} ...", file=sys.stderr, flush=True)
            out.extend(run(command).splitlines())
        out.append(END)
        i = end + 1
    README.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
