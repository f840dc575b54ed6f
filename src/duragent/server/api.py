"""The JSON API under ``/api/v1`` (documented in :mod:`.openapi`; the pages use it too).

Reads are GET; every action is a POST with a JSON body. A request the server refuses gets
a 4xx with ``{"error": "...", "status": N}`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._search_attributes import parse_filter
from ..errors import ConfigurationError, UpdateRejectedError, WorkflowNotFoundError
from ..views.conversation import Conversation
from ..views.runs import execution_dict, report_dict
from ..views.summary import RunSummary
from ..views.timeline import Step
from .source import BadRequest, RunFilter, RunSource

DECIDE_UPDATE: Final = "duragent_decide_approval"
ACCEPT_WAIT_S: Final = 10.0
"""How long an action waits for a worker to accept an update before answering 202."""
MAX_LIMIT: Final = 500


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=str)
    return Response(body, status, headers=headers, media_type="application/json")


def error(message: str, status: int) -> Response:
    return json_response({"error": message, "status": status}, status)


def source_of(request: Request) -> RunSource:
    return request.app.state.source  # type: ignore[no-any-return]


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "")
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise BadRequest(f"{name} must be 1 or 0, got {value!r}")


def _int(request: Request, name: str, default: int, lo: int = 0, hi: int = 1 << 62) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def run_filter(request: Request) -> RunFilter:
    """The list filter from the query string (unknown parameters are refused)."""
    known = {
        "status",
        "type",
        "agent",
        "prefix",
        "waiting",
        "failing",
        "search_attribute",
        "query",
        "limit",
        "cursor",
    }
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
    q = request.query_params
    texts = tuple(t for t in q.getlist("search_attribute") if t.strip())
    try:
        search_attributes = tuple(parse_filter(t) for t in texts)
    except ConfigurationError as err:
        raise BadRequest(str(err)) from None
    return RunFilter(
        status=q.get("status") or None,
        workflow_type=q.get("type") or None,
        agent=q.get("agent") or None,
        prefix=q.get("prefix") or None,
        waiting=_flag(request, "waiting"),
        failing=_flag(request, "failing"),
        search_attributes=search_attributes,
        search_attribute_text=texts,
        list_filter=q.get("query") or None,
    )


def summary_dict(s: RunSummary) -> dict[str, Any]:
    data = dataclasses.asdict(s)
    data["total_tokens"] = s.total_tokens
    return data


def run_row_dict(execution: Any, summary: RunSummary) -> dict[str, Any]:
    return {**execution_dict(execution), "summary": summary_dict(summary)}


async def list_runs(request: Request) -> Response:
    f = run_filter(request)
    limit = _int(request, "limit", 50, 1, MAX_LIMIT)
    page = await source_of(request).list_runs(
        f, limit=limit, cursor=request.query_params.get("cursor") or None
    )
    return json_response(
        {
            "runs": [run_row_dict(r.execution, r.summary) for r in page.rows],
            "next_cursor": page.next_cursor,
        }
    )


def _ids(request: Request) -> tuple[str, str | None]:
    return request.path_params["workflow_id"], request.query_params.get("run_id") or None


async def describe_run(request: Request) -> Response:
    workflow_id, run_id = _ids(request)
    execution, summary, task_failure, runs = await source_of(request).facts(workflow_id, run_id)
    data = run_row_dict(execution, summary)
    data["task_failure_detail"] = task_failure.to_dict() if task_failure is not None else None
    data["runs"] = runs
    return json_response(data)


def _paged(request: Request, *names: str) -> bool:
    """Whether the request asks for a page (any of ``names`` given)."""
    return any(request.query_params.get(name) for name in names)


def conversation_body(
    workflow_id: str, run_id: str, conv: Conversation, window: tuple[int, int] | None
) -> dict[str, Any]:
    """``GET .../conversation``: the whole conversation (``window`` None: the body API v1
    always gave), or the items of the model calls of ``window`` and where the next starts."""
    items = conv.items if window is None else conv.items_for(*window)
    data: dict[str, Any] = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "is_agent": conv.is_agent,
        "items": [dataclasses.asdict(i) for i in items],
        "pending_approvals": [dataclasses.asdict(c) for c in conv.pending_approvals],
    }
    if window is not None:
        first, last = window
        data["model_calls"] = conv.model_calls
        data["from"] = first
        data["to"] = min(last, conv.model_calls)
        data["next_from"] = last + 1 if last < conv.model_calls else None
    return data


def timeline_body(
    steps: Sequence[Step], after: int = 0, limit: int | None = None
) -> dict[str, Any]:
    """``GET .../timeline``: every step (``limit`` None: the body API v1 always gave), or
    at most ``limit`` of those that began after event ``after``, and where the next starts."""
    if limit is None:
        return {"steps": [dataclasses.asdict(s) for s in steps]}
    later = [s for s in steps if s.event_id > after]
    page = later[:limit]
    return {
        "steps": [dataclasses.asdict(s) for s in page],
        "next_after": page[-1].event_id if len(later) > limit else None,
    }


async def conversation(request: Request) -> Response:
    workflow_id, run_id = _ids(request)
    page = None
    if _paged(request, "from", "limit"):
        first = _int(request, "from", 1, 1)
        page = (_int(request, "limit", MAX_LIMIT, 1, MAX_LIMIT), first)
    execution, conv, window = await source_of(request).conversation(workflow_id, run_id, page=page)
    return json_response(conversation_body(workflow_id, execution.run_id, conv, window))


async def timeline(request: Request) -> Response:
    workflow_id, run_id = _ids(request)
    after = _int(request, "after", 0)
    limit = _int(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    _, steps = await source_of(request).timeline(workflow_id, run_id, after=after)
    paged = _paged(request, "after", "limit")
    return json_response(timeline_body(steps, after, limit if paged else None))


async def history(request: Request) -> Response:
    from ..history import WorkflowHistory

    workflow_id, run_id = _ids(request)
    after = _int(request, "after", 0)
    limit = _int(request, "limit", 200, 1, 1000)
    execution, events = await source_of(request).history(workflow_id, run_id, after)
    page = events[:limit]
    data = WorkflowHistory(workflow_id, execution.run_id, page).to_dict()
    data["next_after"] = page[-1].event_id if len(events) > limit else None
    return json_response(data)


async def export(request: Request) -> Response:
    workflow_id, run_id = _ids(request)
    text = await source_of(request).export(workflow_id, run_id)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in workflow_id)
    return Response(
        text,
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{safe}.history.json"'},
    )


async def usage(request: Request) -> Response:
    workflow_id, _ = _ids(request)
    source = source_of(request)
    await source.describe(workflow_id)  # 404 for an unknown id
    report = await source.usage(workflow_id)
    return json_response(report_dict(report) if report is not None else None)


async def approvals(request: Request) -> Response:
    pending = await source_of(request).pending_approvals()
    return json_response(
        {
            "approvals": [
                {
                    "workflow_id": e.id,
                    "run_id": e.run_id,
                    "workflow_type": e.workflow_type,
                    **dataclasses.asdict(p),
                }
                for e, p in pending
            ]
        }
    )


# -- actions -------------------------------------------------------------------------------


def _writable(request: Request) -> None:
    if request.app.state.read_only:
        raise BadRequest("this server is read-only (--read-only): actions are refused", 403)


async def _body(request: Request, required: tuple[str, ...] = ()) -> dict[str, Any]:
    _writable(request)
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as err:
        raise BadRequest(f"the body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    for key in required:
        if key not in data:
            raise BadRequest(f"missing field {key!r}")
    return data  # pyright: ignore[reportUnknownVariableType]


def _str(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _args(data: dict[str, Any]) -> list[Any]:
    args = data.get("args", [])
    if not isinstance(args, list):
        raise BadRequest("args must be a JSON array")
    return args  # pyright: ignore[reportUnknownVariableType]


async def _running(request: Request) -> tuple[str, str | None]:
    workflow_id, run_id = _ids(request)
    execution = await source_of(request).describe(workflow_id, run_id)
    if execution.status != "running":
        raise BadRequest(f"workflow {workflow_id!r} is not running ({execution.status})", 409)
    return workflow_id, execution.run_id


async def _send_update(
    request: Request, name: str, args: list[Any], wait_for_result: bool
) -> Response:
    workflow_id, run_id = await _running(request)
    handle = source_of(request).handle(workflow_id, run_id)
    update_id = uuid.uuid4().hex
    try:
        accepted = await handle.start_update(name, args=args, id=update_id, timeout=ACCEPT_WAIT_S)
    except TimeoutError:
        return json_response(
            {
                "status": "queued",
                "update_id": update_id,
                "message": "no worker accepted it yet; it is applied when a worker for the "
                "run's task queue runs",
            },
            202,
        )
    if not wait_for_result:
        return json_response({"status": "accepted", "update_id": update_id})
    try:
        result = await accepted.result(timeout=ACCEPT_WAIT_S)
    except TimeoutError:
        return json_response({"status": "accepted", "update_id": update_id}, 202)
    return json_response({"status": "completed", "update_id": update_id, "result": result})


async def decide(request: Request) -> Response:
    data = await _body(request, ("approve",))
    approve = data["approve"]
    if not isinstance(approve, bool):
        raise BadRequest("approve must be true or false")
    message = _str(data, "message") or None
    call_id = request.path_params["call_id"]
    workflow_id, run_id = await _running(request)
    _, summary = await source_of(request).summary(workflow_id, run_id)
    pending = {p.call_id for p in summary.pending_approvals}
    if call_id not in pending:
        known = ", ".join(sorted(pending)) or "none"
        raise BadRequest(
            f"no tool call {call_id!r} of workflow {workflow_id!r} is waiting for approval "
            f"(pending: {known})",
            409,
        )
    decision = {"call_id": call_id, "approve": approve, "message": message}
    return await _send_update(request, DECIDE_UPDATE, [decision], wait_for_result=False)


async def signal(request: Request) -> Response:
    data = await _body(request, ("name",))
    name = _str(data, "name")
    args = _args(data)
    workflow_id, run_id = await _running(request)
    await source_of(request).handle(workflow_id, run_id).signal(name, args=args)
    return json_response({"status": "sent"})


async def update(request: Request) -> Response:
    data = await _body(request, ("name",))
    wait = data.get("wait", True)
    if not isinstance(wait, bool):
        raise BadRequest("wait must be true or false")
    return await _send_update(request, _str(data, "name"), _args(data), wait)


async def cancel(request: Request) -> Response:
    data = await _body(request)
    workflow_id, run_id = await _running(request)
    await source_of(request).handle(workflow_id, run_id).cancel(_str(data, "reason"))
    return json_response({"status": "cancel requested"})


async def terminate(request: Request) -> Response:
    data = await _body(request)
    workflow_id, run_id = await _running(request)
    await source_of(request).handle(workflow_id, run_id).terminate(_str(data, "reason"))
    return json_response({"status": "terminated"})


async def start_agent(request: Request) -> Response:
    data = await _body(request, ("agent", "input"))
    agent = _str(data, "agent")
    if ":" not in agent:
        raise BadRequest("agent must be 'module:attribute' of an Agent (or a function making one)")
    user_input = data["input"]
    if not isinstance(user_input, str | list):
        raise BadRequest("input must be a string or a list of input items")
    max_turns = data.get("max_turns", 10)
    if not isinstance(max_turns, int) or isinstance(max_turns, bool) or max_turns < 1:
        raise BadRequest("max_turns must be a positive integer")
    workflow_id = _str(data, "id") or f"agent-{uuid.uuid4().hex[:12]}"
    handle = await source_of(request).start_agent(
        agent,
        user_input,
        workflow_id=workflow_id,
        task_queue=_str(data, "task_queue", "agents") or "agents",
        max_turns=max_turns,
    )
    return json_response({"workflow_id": handle.id, "run_id": handle.run_id}, 201)


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    """An optional text field: absent or empty means "keep the source's"."""
    return _str(data, key) or None


async def fork(request: Request) -> Response:
    data = await _body(request, ("at_model_call",))
    raw = data["at_model_call"]
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)  # a form's hidden field
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise BadRequest("at_model_call must be a positive integer")
    allow = data.get("allow_side_effects", False)
    if not isinstance(allow, bool):
        raise BadRequest("allow_side_effects must be true or false")
    settings = data.get("model_settings")
    if settings is not None and not isinstance(settings, dict):
        raise BadRequest("model_settings must be a JSON object")
    workflow_id, run_id = _ids(request)
    handle = await source_of(request).fork(
        workflow_id,
        raw,
        run_id=run_id,
        id=_opt_str(data, "id"),
        model=_opt_str(data, "model"),
        instructions=_opt_str(data, "instructions"),
        model_settings=settings,
        agent=_opt_str(data, "agent"),
        tools=_str(data, "tools", "live") or "live",
        models=_str(data, "models", "live") or "live",
        unmatched_tools=_str(data, "unmatched_tools", "live") or "live",
        allow_side_effects=allow,
    )
    return json_response(
        {
            "workflow_id": handle.id,
            "run_id": handle.run_id,
            "url": "/runs/" + quote(handle.id, safe=""),
        },
        201,
    )


async def diff(request: Request) -> Response:
    q = request.query_params
    unknown = sorted(set(q) - {"a", "b", "run_a", "run_b"})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}; known: a, b, run_a, run_b")
    if not q.get("a") or not q.get("b"):
        raise BadRequest("give the two runs to compare as ?a=ID&b=ID")
    result = await source_of(request).diff(
        q["a"], q["b"], q.get("run_a") or None, q.get("run_b") or None
    )
    return json_response(result.to_dict())


async def not_found(request: Request) -> Response:
    return error(f"no API endpoint {request.method} {request.url.path}", 404)


def _guard(handler: Any) -> Any:
    """Map the errors a handler may raise to 4xx JSON responses."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except BadRequest as err:
            return error(str(err), err.status)
        except WorkflowNotFoundError as err:
            return error(str(err), 404)
        except UpdateRejectedError as err:
            return error(str(err), 409)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            from ..errors import DuragentError

            if isinstance(err, DuragentError):
                status = 409 if "not running" in str(err) else 400
                return error(str(err), status)
            raise

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


RUN: Final = "/api/v1/runs/{workflow_id:path}"

routes: list[Route] = [
    Route("/api/v1/runs", _guard(list_runs), methods=["GET"]),
    Route("/api/v1/approvals", _guard(approvals), methods=["GET"]),
    Route("/api/v1/agents/start", _guard(start_agent), methods=["POST"]),
    Route("/api/v1/diff", _guard(diff), methods=["GET"]),
    Route(RUN + "/conversation", _guard(conversation), methods=["GET"]),
    Route(RUN + "/timeline", _guard(timeline), methods=["GET"]),
    Route(RUN + "/history", _guard(history), methods=["GET"]),
    Route(RUN + "/export", _guard(export), methods=["GET"]),
    Route(RUN + "/usage", _guard(usage), methods=["GET"]),
    Route(RUN + "/approvals/{call_id}", _guard(decide), methods=["POST"]),
    Route(RUN + "/signal", _guard(signal), methods=["POST"]),
    Route(RUN + "/update", _guard(update), methods=["POST"]),
    Route(RUN + "/cancel", _guard(cancel), methods=["POST"]),
    Route(RUN + "/terminate", _guard(terminate), methods=["POST"]),
    Route(RUN + "/fork", _guard(fork), methods=["POST"]),
    Route(RUN, _guard(describe_run), methods=["GET"]),
]
