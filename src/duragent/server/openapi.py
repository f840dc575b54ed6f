"""The API's OpenAPI 3.1 description (served at ``/api/v1/openapi.json``, rendered at
``/api``). A test checks that every route the server has is described here."""

from __future__ import annotations

from typing import Any, Final

_RUN: Final = "/api/v1/runs/{workflow_id}"
_ID: Final = {
    "name": "workflow_id",
    "in": "path",
    "required": True,
    "description": "The workflow id (URL-encoded).",
    "schema": {"type": "string"},
}
_RUN_ID: Final = {
    "name": "run_id",
    "in": "query",
    "description": "A specific run (default: the latest run of the workflow).",
    "schema": {"type": "string"},
}
_ERRORS: Final = {
    "400": {"description": 'Bad input: `{"error": "what was wrong", "status": 400}`.'},
    "401": {"description": "No or wrong token."},
    "404": {"description": "No such workflow."},
}
_ACTION_ERRORS: Final = {
    **_ERRORS,
    "403": {"description": "Missing CSRF token, cross-origin request, or a --read-only server."},
    "409": {"description": "The run is not running, or the decision/update was rejected."},
}


def _q(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": kind}}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": properties, "required": required}
            }
        },
    }


def _get(summary: str, *params: dict[str, Any], description: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": list(params),
        "responses": {"200": {"description": "OK (JSON)"}, **_ERRORS},
    }
    if description:
        op["description"] = description
    return {"get": op}


def _post(summary: str, body: dict[str, Any] | None, description: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [_ID, _RUN_ID],
        "responses": {
            "200": {"description": "Done (JSON)."},
            "202": {"description": "Queued: no worker has taken it yet; applied when one runs."},
            **_ACTION_ERRORS,
        },
    }
    if body is not None:
        op["requestBody"] = body
    if description:
        op["description"] = description
    return {"post": op}


_FILTERS: Final = (
    _q("status", "running, completed, failed, canceled, terminated or continued_as_new"),
    _q("type", "Workflow type."),
    _q("agent", "Runs whose first model call was made by this agent."),
    _q("prefix", "Workflow ids starting with this text."),
    _q("waiting", "1: only runs with a tool call waiting for approval."),
    _q("failing", "1: only runs whose workflow task keeps failing."),
    _q(
        "search_attribute",
        "NAME=VALUE: only runs whose search attribute NAME equals VALUE (repeat to combine; "
        "a list attribute matches when it contains VALUE). VALUE is true/false, an int, a "
        'float, an ISO-8601 time with a zone, or else a string ("42" in quotes: a string).',
    ),
    _q(
        "query",
        "A Temporal list filter: WorkflowType = 'Order' AND ExecutionStatus = 'Running' AND "
        "StartTime > '2026-01-01T00:00:00Z' (= != > >= < <=, IN, BETWEEN, STARTS_WITH, "
        "IS [NOT] NULL, AND, OR, parentheses; system attributes and custom search attributes).",
    ),
)


def spec() -> dict[str, Any]:
    """The OpenAPI document."""
    string = {"type": "string"}
    paths: dict[str, Any] = {
        "/api/v1/runs": _get(
            "List runs, newest first, with their agent, model calls, tokens, tokens served "
            "from history and last error.",
            *_FILTERS,
            _q("limit", "Page size (1-500, default 50).", "integer"),
            _q("cursor", "next_cursor of the previous page (keyset pagination)."),
        ),
        "/api/v1/runs/events": _get(
            "Server-Sent Events: changes of runs (`event: run`). Resume with Last-Event-ID; "
            "`event: reset` when the resume point is unknown.",
        ),
        "/api/v1/approvals": _get("Tool calls waiting for approval, across running runs."),
        "/api/v1/agents/start": {
            "post": {
                "summary": "Start the built-in agent workflow (`duragent.Agent`).",
                "requestBody": _body(
                    {
                        "agent": {"type": "string", "description": "module:attribute"},
                        "input": {"description": "The user's message (or input items)."},
                        "id": string,
                        "task_queue": {"type": "string", "default": "agents"},
                        "max_turns": {"type": "integer", "default": 10},
                    },
                    ["agent", "input"],
                ),
                "responses": {"201": {"description": "Started."}, **_ACTION_ERRORS},
            }
        },
        _RUN: _get("One run: facts, summary, task failure, its runs.", _ID, _RUN_ID),
        _RUN + "/conversation": _get(
            "The agent conversation: messages, model turns, tool cards, approvals, outcome.",
            _ID,
            _RUN_ID,
            _q(
                "from",
                "Page: the items of model calls from this one (numbered from 1; the first "
                "page also has what came before call 1).",
                "integer",
            ),
            _q("limit", "Page: at most this many model calls (1-500, default 500).", "integer"),
            description="Without `from` and `limit`: the whole conversation `{workflow_id, "
            "run_id, is_agent, items, pending_approvals}`. With either: the page's items, "
            "and `model_calls` (the run's), `from`, `to` and `next_from` (null on the last "
            "page). A running run's last model call may still change (its tool results): "
            "poll again from it. A page costs what it shows and what is new since the "
            "server last read the run; the whole conversation still costs its size.",
        ),
        _RUN + "/timeline": _get(
            "The run's timeline steps (as `duragent show`).",
            _ID,
            _RUN_ID,
            _q("after", "Page: steps that began after this event id.", "integer"),
            _q("limit", "Page: at most this many steps (1-500, default 500).", "integer"),
            description="Without `after` and `limit`: `{steps}`, every step. With either: "
            "the page's steps and `next_after` (the `after` of the next page; null on the "
            "last).",
        ),
        _RUN + "/history": _get(
            "History events in the export format, paged.",
            _ID,
            _RUN_ID,
            _q("after", "Events after this event id.", "integer"),
            _q("limit", "At most this many events (1-1000, default 200).", "integer"),
        ),
        _RUN + "/events": _get(
            "Server-Sent Events: the run's history as it grows (`id:` = event id); "
            "`event: run` with the run's row after each batch, `event: closed` at the end. "
            "Resume with Last-Event-ID (or ?after=N).",
            _ID,
            _RUN_ID,
        ),
        _RUN + "/stream": _get(
            "Server-Sent Events: the run's durable token stream (`id:` = offset; `event:` "
            "text, reasoning, reset, committed, tool_call, tool_result, approval, closed). "
            "Resume with Last-Event-ID (or ?after=OFFSET): deltas of the attempt that "
            "counted arrive once; a retried model call shows as `event: reset`.",
            _ID,
            _RUN_ID,
            _q("after", "Events after this stream offset.", "integer"),
        ),
        _RUN + "/export": _get(
            "The history as a file, byte for byte what `duragent export` writes.", _ID, _RUN_ID
        ),
        _RUN + "/usage": _get(
            "The usage ledger (all runs and child workflows); null without model calls.", _ID
        ),
        _RUN + "/approvals/{call_id}": _post(
            "Approve or reject a tool call waiting for approval.",
            _body(
                {
                    "approve": {"type": "boolean"},
                    "message": {
                        "type": "string",
                        "description": "For a rejection: what the model is told instead.",
                    },
                },
                ["approve"],
            ),
        ),
        _RUN + "/signal": _post(
            "Send a signal.",
            _body({"name": string, "args": {"type": "array"}}, ["name"]),
        ),
        _RUN + "/update": _post(
            "Send an update; with wait (default true) the result is returned.",
            _body(
                {"name": string, "args": {"type": "array"}, "wait": {"type": "boolean"}},
                ["name"],
            ),
        ),
        _RUN + "/cancel": _post("Request cancellation.", _body({"reason": string}, [])),
        _RUN + "/terminate": _post("Terminate at once.", _body({"reason": string}, [])),
        _RUN + "/fork": {
            "post": {
                "summary": "Fork an agent run at a model call: a new run that takes calls "
                "before it (and the tool calls between them) from this run's history and goes "
                "on live from it with the overrides. This run is not changed.",
                "parameters": [_ID, _RUN_ID],
                "requestBody": _body(
                    {
                        "at_model_call": {"type": "integer", "description": "k, from 1."},
                        "model": string,
                        "instructions": string,
                        "model_settings": {"type": "object"},
                        "agent": {"type": "string", "description": "Override only this agent."},
                        "tools": {"enum": ["live", "recorded"], "default": "live"},
                        "models": {"enum": ["live", "recorded"], "default": "live"},
                        "unmatched_tools": {
                            "enum": ["live", "dry_run", "fail"],
                            "default": "live",
                        },
                        "allow_side_effects": {"type": "boolean", "default": False},
                        "id": {"type": "string", "description": "The fork's workflow id."},
                    },
                    ["at_model_call"],
                ),
                "responses": {
                    "201": {"description": "Forked: `{workflow_id, run_id, url}`."},
                    **_ACTION_ERRORS,
                },
            }
        },
        "/api/v1/diff": _get(
            "Compare two agent runs: aligned conversations, first divergence, per-item "
            "differences, final outputs, usage.",
            _q("a", "Workflow id of run A."),
            _q("b", "Workflow id of run B."),
            _q("run_a", "A specific run of A."),
            _q("run_b", "A specific run of B."),
        ),
        "/metrics": _get("Prometheus text format metrics."),
    }
    for path, ops in paths.items():
        if "{call_id}" in path:
            ops["post"]["parameters"] = [
                _ID,
                _RUN_ID,
                {"name": "call_id", "in": "path", "required": True, "schema": string},
            ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Duragent API",
            "version": "1",
            "description": "Runs, agent conversations, approvals and actions. Authenticate "
            "with `Authorization: Bearer TOKEN` (the token `duragent server` printed). "
            "Browsers use the session cookie; their POSTs need the page's X-CSRF-Token.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
