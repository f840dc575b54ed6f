"""Reporting shared by the benchmark scripts: figures (median, min..max), targets expressed
as ratios to a baseline measured in the same run, plain-text and Markdown tables.

Every script prints its figures and the targets it checks; ``--check`` makes it exit 1 when
one is missed, and ``--markdown`` prints the table the README shows (the README says which
command wrote each table).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured quantity and its samples."""

    key: str
    label: str
    unit: str
    samples: list[float] = field(default_factory=lambda: [])
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def spread(self) -> str:
        if not self.samples:
            return "-"
        return f"{num(min(self.samples))}..{num(max(self.samples))}"


@dataclass
class Target:
    """A ratio of two figures measured in the same run, and the bound it must respect."""

    label: str
    value: float
    bound: float
    at_least: bool = False
    """True when the ratio must be at least ``bound`` (else at most)."""

    @property
    def met(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.bound if self.at_least else self.value <= self.bound

    def describe(self) -> str:
        sign = ">=" if self.at_least else "<="
        verdict = "PASS" if self.met else "MISS"
        return f"{verdict}  {self.label}: {self.value:.3f} (target {sign} {self.bound:g})"


def num(x: float) -> str:
    """A number with as many digits as it deserves."""
    if math.isnan(x):
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def text_table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def figures_table(figures: list[Figure]) -> str:
    rows = [[f.label, num(f.median), f.spread, f.unit, str(len(f.samples))] for f in figures]
    return text_table(["measurement", "median", "min..max", "unit", "n"], rows, right={1, 2, 4})


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def check_figures(targets: list[Target]) -> bool:
    """Print every target; True when one is missed."""
    for t in targets:
        print(t.describe())
    return any(not t.met for t in targets)


def report_targets(
    figures: list[Figure],
    targets: list[Target],
    load: tuple[float, float],
    *,
    check: bool,
    extra: dict[str, Any] | None = None,
) -> int:
    """Print the targets and a one-line JSON summary (each figure's median, ``extra``, the
    targets' values, the load average before and after); the exit status: 1 when ``check``
    and a target is missed."""
    print()
    failed = check_figures(targets)
    summary: dict[str, Any] = {f.key: round(f.median, 4) for f in figures}
    summary.update(extra or {})
    summary["targets"] = {t.label: round(t.value, 3) for t in targets}
    summary["load_avg"] = [round(load[0], 2), round(load[1], 2)]
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if check and failed else 0


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)
