"""The HTML pages: runs list, run page (conversation, timeline, usage, raw history),
approvals inbox and the API reference. Server-rendered with Jinja2, autoescaped: nothing
from a payload is ever marked safe. Each page has a fragment route (``/fragments/...``)
that app.js fetches again when a live update arrives."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .._engine import events as ev
from .._search_attributes import filter_texts
from ..errors import ConfigurationError, SerializationError, WorkflowNotFoundError
from ..views.fork_rows import fork_facts
from ..views.format import fmt_bytes, fmt_duration
from ..views.runs import run_duration_ms
from ..views.timeline import Step
from .api import run_filter
from .openapi import spec
from .source import STATUSES, BadRequest, RunDetail, RunSource

HERE: Final = Path(__file__).parent
TABS: Final = ("conversation", "timeline", "usage", "history")
HISTORY_PAGE: Final = 200
CALLS_PAGE: Final = 25
"""Model calls per page of the conversation (a page costs what it shows)."""


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _clock(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _dt_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _tokens(n: int) -> str:
    return f"{n:,}"


def _pretty(text: str | None) -> str:
    """JSON text indented for reading; other text as is."""
    if text is None:
        return ""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, ensure_ascii=False)
    return text


def _args_line(text: str) -> str:
    """``{"state": "CA"}`` as ``state="CA"`` (what a tool call looks like in a sentence)."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return text
    if not isinstance(value, dict):
        return text
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in value.items())  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]


def _budget(events: Sequence[ev.Event]) -> dict[str, Any] | None:
    """The budget a built-in agent workflow was started with, if any."""
    first = events[0] if events else None
    if not isinstance(first, ev.WorkflowExecutionStarted) or not first.input:
        return None
    try:
        value = first.input[0].to_json_value()
    except (SerializationError, ValueError):
        return None
    budget = value.get("budget") if isinstance(value, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return budget if isinstance(budget, dict) and budget else None  # pyright: ignore[reportUnknownVariableType]


def _run_url(workflow_id: str, run_id: str | None = None, **params: str) -> str:
    query = {k: v for k, v in {"run_id": run_id or "", **params}.items() if v}
    return f"/runs/{quote(workflow_id, safe='')}" + (f"?{urlencode(query)}" if query else "")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=fmt_duration,
        bytes=fmt_bytes,
        iso=_iso,
        clock=_clock,
        dt_ms=_dt_ms,
        tokens=_tokens,
        pretty=_pretty,
        args_line=_args_line,
        urlq=lambda s: quote(str(s), safe=""),  # pyright: ignore[reportUnknownLambdaType, reportUnknownArgumentType]
    )
    env.globals.update(
        run_url=_run_url,
        run_duration_ms=run_duration_ms,
        statuses=STATUSES,
        search_attribute_filters=filter_texts,
    )
    return env


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    env: Environment = request.app.state.templates
    state = request.scope.get("state", {})
    html = env.get_template(template).render(
        csrf=state.get("csrf", ""),
        read_only=request.app.state.read_only,
        backend=request.app.state.backend_label,
        now_ms=int(time.time() * 1000),
        **context,
    )
    return HTMLResponse(html, status)


def _source(request: Request) -> RunSource:
    return request.app.state.source  # type: ignore[no-any-return]


def _error_page(request: Request, message: str, status: int) -> HTMLResponse:
    return _render(request, "error.html", status, message=message, title="Error")


async def _list_context(request: Request) -> dict[str, Any]:
    f = run_filter(request)
    raw_limit = request.query_params.get("limit") or "50"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        raise BadRequest(f"limit must be between 1 and 500, got {raw_limit!r}")
    limit = int(raw_limit)
    cursor = request.query_params.get("cursor") or None
    source = _source(request)
    page = await source.list_runs(f, limit=limit, cursor=cursor)
    counts = await source.counts()
    query = f.query()
    next_url = "/?" + urlencode([*query, ("cursor", page.next_cursor)]) if page.next_cursor else ""
    return {
        "page": page,
        "filter": f,
        "counts": counts,
        "next_url": next_url,
        "query": urlencode(query),
        "first_page": cursor is None,
        "page_query": request.url.query,
    }


async def runs_page(request: Request) -> Response:
    try:
        context = await _list_context(request)
    except BadRequest as err:
        return _error_page(request, str(err), err.status)
    except ConfigurationError as err:  # e.g. Temporal refused a search attribute filter
        return _error_page(request, str(err), 400)
    return _render(request, "runs.html", title="Runs", nav="runs", **context)


async def runs_fragment(request: Request) -> Response:
    try:
        context = await _list_context(request)
    except BadRequest as err:
        return _error_page(request, str(err), err.status)
    except ConfigurationError as err:  # e.g. Temporal refused a search attribute filter
        return _error_page(request, str(err), 400)
    return _render(request, "_runs_table.html", **context)


async def _run_context(request: Request) -> dict[str, Any]:
    workflow_id = request.path_params["workflow_id"]
    run_id = request.query_params.get("run_id") or None
    tab = request.query_params.get("tab") or "conversation"
    if tab not in TABS:
        raise BadRequest(f"unknown tab {tab!r}; use one of {', '.join(TABS)}")
    raw_first = request.query_params.get("from") or ""
    if raw_first and not raw_first.isdigit():
        raise BadRequest(f"from must be a model call number, got {raw_first!r}")
    source = _source(request)
    detail = await source.detail(
        workflow_id,
        run_id,
        page_calls=CALLS_PAGE,
        first_call=int(raw_first) if raw_first else None,
        whole_timeline=False,
    )
    usage = None  # a plain workflow has no ledger
    if detail.summary.model_calls:
        # Reading the usage after the detail lets it reuse this run's events (and the
        # results the conversation decoded) instead of reading and decoding them again.
        usage = await source.usage(workflow_id, {detail.execution.run_id: detail.events})
    if tab == "conversation" and not detail.conversation.is_agent:
        tab = "timeline"  # a plain workflow reads best as its timeline
    history_after = 0
    raw_after = request.query_params.get("after") or "0"
    if raw_after.isdigit():
        history_after = int(raw_after)
    history_events: list[ev.Event] = []
    if tab == "history":  # exporting events decodes their payloads: only for this tab
        history_events = [e for e in detail.events if e.event_id > history_after][:HISTORY_PAGE]
    from ..history import WorkflowHistory

    exported = WorkflowHistory(workflow_id, detail.execution.run_id, history_events).to_dict()

    def history_of(event: Any) -> str:
        attrs = WorkflowHistory(workflow_id, detail.execution.run_id, [event]).to_dict()
        return json.dumps(attrs["events"][0]["attrs"], ensure_ascii=False)

    return {
        "fork": fork_facts(detail.events),
        "history_of": history_of,
        "budget": _budget(detail.events),
        "d": detail,
        "e": detail.execution,
        "s": detail.summary,
        "conv": detail.conversation,
        "conv_items": detail.items,
        "calls_pager": _calls_pager(detail, workflow_id, run_id, tab),
        "timeline_steps": _timeline_steps(detail),
        "calls_from": raw_first,
        "usage": usage,
        "tab": tab,
        "tabs": TABS,
        "history": exported["events"],
        "history_next": (
            history_events[-1].event_id
            if history_events and history_events[-1].event_id < detail.execution.history_length
            else None
        ),
        "workflow_id": workflow_id,
        "pinned_run": run_id,
    }


def _timeline_steps(detail: RunDetail) -> list[Step]:
    """The Timeline tab's steps: those of the page's model calls (all when they fit on one
    page: a plain workflow's too)."""
    if detail.page_events is None or detail.conversation.model_calls <= CALLS_PAGE:
        return detail.steps
    low, high = detail.page_events
    return [s for s in detail.steps if low <= s.event_id <= high]


def _calls_pager(
    detail: RunDetail, workflow_id: str, run_id: str | None, tab: str
) -> dict[str, Any] | None:
    """Links to the other pages of a long conversation or timeline (None: it fits on one)."""
    total = detail.conversation.model_calls
    if detail.window is None or total <= CALLS_PAGE:
        return None
    first, last = detail.window

    def url(start: int) -> str:
        return _run_url(workflow_id, run_id, tab=tab, **{"from": str(start)})

    last_first = max(1, total - CALLS_PAGE + 1)
    return {
        "first": first,
        "last": min(last, total),
        "total": total,
        "start_url": url(1) if first > 1 else "",
        "earlier_url": url(max(1, first - CALLS_PAGE)) if first > 1 else "",
        "later_url": url(last + 1) if last < total else "",
        "end_url": url(last_first) if last < total else "",
    }


async def run_page(request: Request) -> Response:
    try:
        context = await _run_context(request)
    except BadRequest as err:
        return _error_page(request, str(err), err.status)
    except WorkflowNotFoundError as err:
        return _error_page(request, str(err), 404)
    return _render(request, "run.html", title=context["workflow_id"], nav="runs", **context)


async def run_fragment(request: Request) -> Response:
    try:
        context = await _run_context(request)
    except BadRequest as err:
        return _error_page(request, str(err), err.status)
    except WorkflowNotFoundError as err:
        return _error_page(request, str(err), 404)
    return _render(request, "_run_body.html", **context)


async def _approvals_context(request: Request) -> dict[str, Any]:
    pending = await _source(request).pending_approvals()
    return {"pending": pending}


async def approvals_page(request: Request) -> Response:
    context = await _approvals_context(request)
    return _render(request, "approvals.html", title="Approvals", nav="approvals", **context)


async def approvals_fragment(request: Request) -> Response:
    return _render(request, "_approvals_list.html", **await _approvals_context(request))


async def diff_page(request: Request) -> Response:
    q = request.query_params
    a, b = q.get("a") or "", q.get("b") or ""
    if not a or not b:
        return _render(request, "diff.html", title="Compare runs", nav="runs", diff=None, a=a, b=b)
    try:
        diff = await _source(request).diff(a, b, q.get("run_a") or None, q.get("run_b") or None)
    except WorkflowNotFoundError as err:
        return _error_page(request, str(err), 404)
    title = f"{a} vs {b}"
    return _render(request, "diff.html", title=title, nav="runs", diff=diff, a=a, b=b)


async def api_page(request: Request) -> Response:
    return _render(request, "api.html", title="API", nav="api", spec=spec())


routes: list[Route] = [
    Route("/", runs_page, methods=["GET"]),
    Route("/approvals", approvals_page, methods=["GET"]),
    Route("/api", api_page, methods=["GET"]),
    Route("/diff", diff_page, methods=["GET"]),
    Route("/fragments/runs", runs_fragment, methods=["GET"]),
    Route("/fragments/approvals", approvals_fragment, methods=["GET"]),
    Route("/fragments/runs/{workflow_id:path}", run_fragment, methods=["GET"]),
    Route("/runs/{workflow_id:path}", run_page, methods=["GET"]),
]
