"""What history records of MCP results: Duragent's own shapes, not the ``mcp`` package's.

The ``mcp`` package's pydantic models change between majors (2.x renamed ``inputSchema`` to
``input_schema``, ``isError`` to ``is_error``, moved the types to ``mcp_types``), so recording
them would tie a history to the ``mcp`` version that wrote it. Instead every result crosses
the activity boundary as plain JSON in the shapes below, each carrying its format version
``v``; the workflow side rebuilds the installed package's models from them. The conversion
goes through the MCP *wire* format (the protocol's camelCase JSON), which every ``mcp``
version reads and writes, so this module uses no version-specific attribute names.

Format 1 (frozen samples in ``tests/fixtures/formats/mcp_v1.json``)::

    tool list     {"v": 1, "tools": [tool, ...]}
    tool          {"name", "description"?, "title"?, "input_schema", "output_schema"?,
                   "annotations"?, "meta"?}
    call result   {"v": 1, "content": [block, ...], "structured"?, "is_error", "meta"?}
    block         {"type": "text", "text"}
                  {"type": "image" | "audio", "data", "mime_type"}
                  {"type": "resource", "uri", "mime_type"?, "text"? | "blob"?}
                  {"type": "resource_link", "uri", "name", "title"?, "description"?,
                   "mime_type"?}
                  {"type": "other", "wire": {...}}   (a block type this format does not name)
    prompt list   {"v": 1, "prompts": [{"name", "title"?, "description"?,
                   "arguments": [{"name", "description"?, "required"}]}]}
    prompt        {"v": 1, "description"?, "messages": [{"role", "content": block}]}

A reader accepts every version up to :data:`FORMAT` and refuses a newer one with a clear
error (a history written by a newer Duragent). The activities' inputs (``MCPCallRequest``
and the others, in ``_activities``) carry the same ``v``. This format is versioned apart
from the agent wire format (``duragent.openai_agents._wire``), following its conventions.
"""

from __future__ import annotations

from typing import Any, Final

from ...errors import SerializationError

FORMAT: Final = 1
"""The MCP result format this code writes."""

_RESERVED_META: Final = "io.modelcontextprotocol/"
"""Meta keys the protocol reserves (server info, protocol version): not worth recording."""


def _wire(model: Any) -> dict[str, Any]:
    """An ``mcp`` model as protocol JSON (camelCase names, no nulls)."""
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _meta(wire: dict[str, Any]) -> dict[str, Any] | None:
    raw = wire.get("_meta")
    if not isinstance(raw, dict):
        return None
    kept = {k: v for k, v in raw.items() if not str(k).startswith(_RESERVED_META)}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return kept or None


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def check_version(version: Any, what: str) -> None:
    """Refuse a payload of an MCP format this code does not know (the same rule as the
    agent wire format, ``duragent.openai_agents._wire``: in a workflow the task fails and is
    retried, so the run waits for an upgraded worker)."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SerializationError(f"{what} has an invalid MCP format version {version!r}")
    if version > FORMAT:
        raise SerializationError(
            f"{what} is in MCP format version {version}, but this Duragent reads versions 1 "
            f"to {FORMAT}: it was recorded by a newer Duragent; upgrade this worker to run or "
            "replay it"
        )


def _check(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict) or "v" not in data:
        raise SerializationError(f"not a recorded MCP {what}: {str(data)[:200]}")
    check_version(data["v"], f"a recorded MCP {what}")  # pyright: ignore[reportUnknownArgumentType]
    return data  # pyright: ignore[reportUnknownVariableType]


# -------------------------------------------------------------------------------- content


def block_from_wire(wire: dict[str, Any]) -> dict[str, Any]:
    """One content block, from protocol JSON."""
    kind = wire.get("type")
    if kind == "text":
        return {"type": "text", "text": str(wire.get("text", ""))}
    if kind in ("image", "audio"):
        return {"type": kind, "data": wire.get("data", ""), "mime_type": wire.get("mimeType", "")}
    if kind == "resource":
        res: dict[str, Any] = wire.get("resource") or {}
        out: dict[str, Any] = {"type": "resource", "uri": str(res.get("uri", ""))}
        _put(out, "mime_type", res.get("mimeType"))
        _put(out, "text", res.get("text"))
        _put(out, "blob", res.get("blob"))
        return out
    if kind == "resource_link":
        out = {"type": "resource_link", "uri": str(wire.get("uri", "")), "name": wire.get("name")}
        _put(out, "title", wire.get("title"))
        _put(out, "description", wire.get("description"))
        _put(out, "mime_type", wire.get("mimeType"))
        return out
    return {"type": "other", "wire": wire}


def block_to_wire(block: dict[str, Any]) -> dict[str, Any]:
    """One recorded content block, as protocol JSON."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind in ("image", "audio"):
        return {"type": kind, "data": block.get("data", ""), "mimeType": block.get("mime_type")}
    if kind == "resource":
        res: dict[str, Any] = {"uri": block.get("uri", "")}
        _put(res, "mimeType", block.get("mime_type"))
        _put(res, "text", block.get("text"))
        _put(res, "blob", block.get("blob"))
        if "text" not in res and "blob" not in res:
            res["text"] = ""
        return {"type": "resource", "resource": res}
    if kind == "resource_link":
        out: dict[str, Any] = {
            "type": "resource_link",
            "uri": block.get("uri", ""),
            "name": block.get("name") or "",
        }
        _put(out, "title", block.get("title"))
        _put(out, "description", block.get("description"))
        _put(out, "mimeType", block.get("mime_type"))
        return out
    wire = block.get("wire")
    if isinstance(wire, dict):
        return wire  # pyright: ignore[reportUnknownVariableType]
    return {"type": "text", "text": str(block)}


# ----------------------------------------------------------------------------------- tools


def tools_from_mcp(tools: list[Any]) -> dict[str, Any]:
    """A tool list, from the installed package's ``Tool`` models."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        wire = _wire(tool)
        entry: dict[str, Any] = {
            "name": wire.get("name", ""),
            "input_schema": wire.get("inputSchema") or {"type": "object"},
        }
        _put(entry, "title", wire.get("title"))
        _put(entry, "description", wire.get("description"))
        _put(entry, "output_schema", wire.get("outputSchema"))
        _put(entry, "annotations", wire.get("annotations"))
        _put(entry, "meta", _meta(wire))
        out.append(entry)
    return {"v": FORMAT, "tools": out}


def tools_to_wire(recorded: Any) -> list[dict[str, Any]]:
    """A recorded tool list, as protocol JSON (one dict per tool)."""
    data = _check(recorded, "tool list")
    wires: list[dict[str, Any]] = []
    for tool in data.get("tools") or []:
        wire: dict[str, Any] = {"name": tool["name"], "inputSchema": tool["input_schema"]}
        _put(wire, "title", tool.get("title"))
        _put(wire, "description", tool.get("description"))
        _put(wire, "outputSchema", tool.get("output_schema"))
        _put(wire, "annotations", tool.get("annotations"))
        _put(wire, "_meta", tool.get("meta"))
        wires.append(wire)
    return wires


# ----------------------------------------------------------------------------- tool calls


def result_from_mcp(result: Any) -> dict[str, Any]:
    """A tool call result, from the installed package's ``CallToolResult``."""
    wire = _wire(result)
    out: dict[str, Any] = {
        "v": FORMAT,
        "content": [block_from_wire(b) for b in wire.get("content") or []],
        "is_error": bool(wire.get("isError", False)),
    }
    _put(out, "structured", wire.get("structuredContent"))
    _put(out, "meta", _meta(wire))
    return out


def error_result(text: str) -> dict[str, Any]:
    """A result the workflow makes up for a call that failed for good (the model reads
    ``text`` as the tool's output)."""
    return {"v": FORMAT, "content": [{"type": "text", "text": text}], "is_error": True}


def result_to_wire(recorded: Any) -> dict[str, Any]:
    """A recorded call result, as protocol JSON."""
    data = _check(recorded, "tool result")
    wire: dict[str, Any] = {
        "content": [block_to_wire(b) for b in data.get("content") or []],
        "isError": bool(data.get("is_error", False)),
    }
    _put(wire, "structuredContent", data.get("structured"))
    _put(wire, "_meta", data.get("meta"))
    return wire


# -------------------------------------------------------------------------------- prompts


def prompts_from_mcp(result: Any) -> dict[str, Any]:
    """A prompt list, from the installed package's ``ListPromptsResult``."""
    prompts: list[dict[str, Any]] = []
    for wire in _wire(result).get("prompts") or []:
        entry: dict[str, Any] = {"name": wire.get("name", "")}
        _put(entry, "title", wire.get("title"))
        _put(entry, "description", wire.get("description"))
        arguments: list[dict[str, Any]] = []
        for arg in wire.get("arguments") or []:
            a: dict[str, Any] = {"name": arg.get("name", ""), "required": bool(arg.get("required"))}
            _put(a, "description", arg.get("description"))
            arguments.append(a)
        entry["arguments"] = arguments
        prompts.append(entry)
    return {"v": FORMAT, "prompts": prompts}


def prompts_to_wire(recorded: Any) -> dict[str, Any]:
    """A recorded prompt list, as protocol JSON."""
    data = _check(recorded, "prompt list")
    prompts: list[dict[str, Any]] = []
    for p in data.get("prompts") or []:
        wire: dict[str, Any] = {"name": p["name"]}
        _put(wire, "title", p.get("title"))
        _put(wire, "description", p.get("description"))
        wire["arguments"] = [
            {
                "name": a["name"],
                "required": bool(a.get("required")),
                **({"description": a["description"]} if "description" in a else {}),
            }
            for a in p.get("arguments") or []
        ]
        prompts.append(wire)
    return {"prompts": prompts}


def prompt_from_mcp(result: Any) -> dict[str, Any]:
    """A prompt, from the installed package's ``GetPromptResult``."""
    wire = _wire(result)
    out: dict[str, Any] = {
        "v": FORMAT,
        "messages": [
            {"role": m.get("role", "user"), "content": block_from_wire(m.get("content") or {})}
            for m in wire.get("messages") or []
        ],
    }
    _put(out, "description", wire.get("description"))
    return out


def prompt_to_wire(recorded: Any) -> dict[str, Any]:
    """A recorded prompt, as protocol JSON."""
    data = _check(recorded, "prompt")
    wire: dict[str, Any] = {
        "messages": [
            {"role": m.get("role", "user"), "content": block_to_wire(m.get("content") or {})}
            for m in data.get("messages") or []
        ]
    }
    _put(wire, "description", data.get("description"))
    return wire
