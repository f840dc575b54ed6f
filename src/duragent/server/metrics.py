"""``GET /metrics`` in the Prometheus text format (version 0.0.4).

Run counts by status are exact. Activity, model and token figures are summed over the
running runs and the newest :data:`WINDOW` runs (the server keeps each run's summary and
re-reads a history only when it grew), so they are gauges over that window, not counters
since the beginning of time; ``duragent_metrics_window_runs`` says how many runs they cover.
"""

from __future__ import annotations

import time
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from .._backend import RunStatus
from .source import RunFilter, RunSource

WINDOW: Final = 1000


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, kind: str, help: str, samples: list[tuple[dict[str, str], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            number = int(value) if float(value).is_integer() else value
            self.lines.append(
                f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}"
            )

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


async def render(source: RunSource) -> str:
    """The metrics text."""
    counts = await source.counts()
    recent = await source.list_runs(RunFilter(), limit=WINDOW)
    running = await source.list_runs(RunFilter(status=RunStatus.RUNNING), limit=WINDOW)
    rows = {r.execution.run_id: r for r in [*recent.rows, *running.rows]}
    now = time.time() * 1000
    models: dict[str, list[int]] = {}
    activities = attempts = failures = served_calls = served_tokens = 0
    approvals_pending = 0
    oldest_ms = 0.0
    failing = await source.count_failing()
    for row in rows.values():
        s = row.summary
        activities += s.activities
        attempts += s.activity_attempts
        failures += s.activity_failures
        served_calls += s.served_calls
        served_tokens += s.served_tokens
        for model, (calls, inp, out, cached) in s.models.items():
            m = models.setdefault(model or "unknown", [0, 0, 0, 0])
            m[0] += calls
            m[1] += inp
            m[2] += out
            m[3] += cached
        if row.execution.status == RunStatus.RUNNING:
            approvals_pending += len(s.pending_approvals)
            for p in s.pending_approvals:
                oldest_ms = max(oldest_ms, now - p.requested_at)
    w = _Writer()
    w.metric(
        "duragent_runs",
        "gauge",
        "Workflow runs by status.",
        [({"status": status}, n) for status, n in counts.items()],
    )
    w.metric(
        "duragent_workflow_tasks_failing",
        "gauge",
        "Running runs whose workflow task keeps failing (a bug or a non-deterministic change).",
        [({}, failing)],
    )
    w.metric("duragent_activities", "gauge", "Activities scheduled (window).", [({}, activities)])
    w.metric(
        "duragent_activity_attempts",
        "gauge",
        "Attempts of finished activities, retries included (window).",
        [({}, attempts)],
    )
    w.metric(
        "duragent_activity_failures",
        "gauge",
        "Failed activity attempts (window).",
        [({}, failures)],
    )
    w.metric(
        "duragent_model_calls",
        "gauge",
        "Recorded model calls by model (window).",
        [({"model": m}, v[0]) for m, v in sorted(models.items())],
    )
    w.metric(
        "duragent_model_tokens",
        "gauge",
        "Tokens of recorded model calls by model and kind (window).",
        [
            ({"model": m, "kind": kind}, v[i])
            for m, v in sorted(models.items())
            for i, kind in ((1, "input"), (2, "output"), (3, "cached"))
        ],
    )
    w.metric(
        "duragent_model_calls_served_from_history",
        "gauge",
        "Model calls a recovering worker took from history instead of paying again (window).",
        [({}, served_calls)],
    )
    w.metric(
        "duragent_tokens_served_from_history",
        "gauge",
        "Tokens of those calls (window).",
        [({}, served_tokens)],
    )
    w.metric(
        "duragent_approvals_pending",
        "gauge",
        "Tool calls waiting for a human decision.",
        [({}, approvals_pending)],
    )
    w.metric(
        "duragent_approval_oldest_age_seconds",
        "gauge",
        "How long the oldest pending approval has waited.",
        [({}, round(oldest_ms / 1000, 3))],
    )
    w.metric(
        "duragent_metrics_window_runs",
        "gauge",
        "Runs the windowed figures cover (running runs and the newest ones).",
        [({}, len(rows))],
    )
    return w.text()


async def metrics(request: Request) -> Response:
    text = await render(request.app.state.source)
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
