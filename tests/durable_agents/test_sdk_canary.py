"""Canary: the Agents SDK internals the integration relies on are all still there.

The SDK has no public API for a few things a durable runner needs (``_sdk.py`` lists them
and why). An SDK upgrade that renames one must fail here, one test per internal, naming it
— and a worker must refuse to start rather than run agents differently. Moving the
``openai-agents`` pin is then a one-line change whose breakage these tests name at once
(with the golden histories of ``golden/vN`` for what was recorded).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from agents import Agent, FunctionTool, function_tool

from duragent.errors import ConfigurationError
from duragent.openai_agents import OpenAIAgentsPlugin, _sdk
from duragent.openai_agents.plugin import NOOP_NEVER_AWAITED
from duragent.testing import Replayer


@pytest.mark.parametrize("name", list(_sdk.PROBES), ids=str)
def test_the_sdk_still_has(name: str) -> None:
    probe: Callable[[], None] = _sdk.PROBES[name]
    try:
        probe()
    except ConfigurationError as err:
        pytest.fail(f"openai-agents {_sdk.SDK_VERSION} changed {name}: {err}")


def test_every_reliance_has_a_probe() -> None:
    assert {r.name for r in _sdk.RELIANCES} == set(_sdk.PROBES)


@function_tool
def _city(city: str) -> str:
    """Echo a city."""
    return city


def _without_field(monkeypatch: pytest.MonkeyPatch, tool: FunctionTool, attr: str) -> None:
    """Make ``tool`` look as if the SDK had no such field (class default and instance)."""
    monkeypatch.delattr(FunctionTool, attr)
    monkeypatch.delitem(tool.__dict__, attr)


def test_a_vanished_agent_tool_flag_is_named_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the flag an agent used as a tool would silently become one tool activity
    running the whole nested agent: the accessor refuses instead."""
    tool = Agent(name="inner").as_tool(tool_name="inner", tool_description="d")
    _without_field(monkeypatch, tool, "_is_agent_tool")
    with pytest.raises(ConfigurationError, match=r"FunctionTool\._is_agent_tool is missing"):
        _sdk.agent_of_tool(tool)


def test_a_vanished_namespace_field_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    tool = function_tool(_city.__wrapped__)
    _without_field(monkeypatch, tool, "_tool_namespace")
    with pytest.raises(ConfigurationError, match=r"FunctionTool\._tool_namespace is missing"):
        _sdk.tool_namespace(tool)


def test_problems_lists_every_missing_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(FunctionTool, "_tool_namespace_description")
    original: Any = _sdk.function_tool

    def stripped(fn: Any) -> Any:
        tool = original(fn)
        tool.__dict__.pop("_tool_namespace_description", None)
        return tool

    monkeypatch.setattr(_sdk, "function_tool", stripped)
    messages = [str(e) for e in _sdk.problems()]
    assert any("FunctionTool._tool_namespace_description is missing" in m for m in messages)
    assert all(f"openai-agents {_sdk.SDK_VERSION}" in m for m in messages)


def test_a_worker_or_replayer_refuses_an_incompatible_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def gone() -> None:
        raise _sdk._missing("Handoff._agent_ref")  # pyright: ignore[reportPrivateUsage]

    monkeypatch.setattr(_sdk, "_checked", False)
    monkeypatch.setitem(_sdk.PROBES, "Handoff._agent_ref", gone)
    with pytest.raises(ConfigurationError, match=r"Handoff\._agent_ref is missing.*handoff"):
        Replayer(workflows=[], plugins=[OpenAIAgentsPlugin()])


async def _placeholder_of_ours() -> None:
    """A coroutine of ours, dropped unstarted below."""


def test_the_placeholder_an_eviction_drops_unstarted_warns_nothing() -> None:
    # (See plugin.quiet_evicted_noop_coroutines: temporalio's evictions drop the SDK's
    # placeholder coroutine.) Once a plugin configured a worker or replayer, dropping that
    # placeholder unstarted says nothing; any other coroutine dropped so is still reported.
    from agents.util import _coro  # pyright: ignore[reportPrivateUsage]

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        Replayer(workflows=[], plugins=[OpenAIAgentsPlugin()])
        _coro.noop_coroutine()  # pyright: ignore[reportUnusedCoroutine]
        _placeholder_of_ours()  # pyright: ignore[reportUnusedCoroutine]
    messages = [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)]
    assert NOOP_NEVER_AWAITED not in messages
    assert "coroutine '_placeholder_of_ours' was never awaited" in messages
