"""Shared plumbing of the agent commands: the optional SDK, approval notices, usage lines.

The agent commands import :mod:`duragent.openai_agents` lazily, so the rest of the CLI works
without the OpenAI Agents SDK installed.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click
from click.core import ParameterSource
from rich.markup import escape

from ..client import WorkflowHandle
from ..errors import ConfigurationError
from ..views.format import truncate
from ._common import err

if TYPE_CHECKING:
    from ..openai_agents import UsageSummary

T = TypeVar("T")

POLL_S = 0.3
"""How often a waiting command looks for new approval requests."""
NO_WORKER_HINT_S = 3.0
"""After this long without a single workflow task, suggest starting a worker."""


def require_agents_sdk() -> None:
    """Fail with an install hint when the OpenAI Agents SDK is missing.

    Raises:
        ConfigurationError: ``import duragent.openai_agents`` fails.
    """
    try:
        import duragent.openai_agents  # noqa: F401
    except ImportError as error:
        raise ConfigurationError(
            f"agent commands need the OpenAI Agents SDK: pip install 'duragent[agents]' ({error})"
        ) from error


def duragent_command(*args: str) -> str:
    """The shell command ``duragent ARGS``, with ``--db`` when it was given on the command
    line (so the printed command acts on the same database when pasted)."""
    words = ["duragent"]
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        root = ctx.find_root()
        if root.get_parameter_source("db") == ParameterSource.COMMANDLINE:
            words += ["--db", str(root.params["db"])]
    words += args
    return " ".join(shlex.quote(w) for w in words)


class PendingCall(Protocol):
    """A tool call waiting for approval (an ``ApprovalRequest``, or the stream's
    ``ApprovalRequested``)."""

    @property
    def call_id(self) -> str: ...
    @property
    def tool(self) -> str: ...
    @property
    def arguments(self) -> str: ...
    @property
    def agent(self) -> str: ...


def approval_notice(workflow_id: str, request: PendingCall) -> str:
    """Rich markup telling a human which tool call waits and how to decide on it."""
    call = f"{request.tool}({truncate(request.arguments, 200)})"
    approve = duragent_command("approve", workflow_id, request.call_id)
    reject = duragent_command("reject", workflow_id, request.call_id, "--message", "TEXT")
    return (
        f"[bold yellow]approval needed:[/] agent [bold]{escape(request.agent)}[/] wants to call "
        f"[bold]{escape(call)}[/] [dim](call {escape(request.call_id)})[/]\n"
        f"  approve: [cyan]{escape(approve)}[/]\n"
        f"  reject:  [cyan]{escape(reject)}[/]"
    )


@dataclass
class RunWatcher:
    """Keeps a human informed while a command waits on a workflow.

    Prints each new approval request once (with the commands that decide it), a failing
    workflow task (a bug, or a worker missing code), and a hint when no worker has picked
    the run up.

    Attributes:
        handle: The workflow (its latest run; approvals are read from its history).
        shown: Call ids already printed.
    """

    handle: WorkflowHandle[Any]
    quiet_approvals: bool = False
    """Leave approval requests to another printer (a stream shows them itself)."""
    shown: set[str] = field(default_factory=set[str])
    started: float = field(default_factory=time.monotonic)
    hinted: bool = False
    failure: str | None = None

    async def check(self) -> None:
        """Print what is new: approval requests, a task failure, the no-worker hint."""
        from ..openai_agents import pending_approvals

        for request in [] if self.quiet_approvals else await pending_approvals(self.handle):
            if request.call_id not in self.shown:
                self.shown.add(request.call_id)
                err().print(approval_notice(self.handle.id, request))
        execution = await self.handle.describe()
        if execution.task_failure and execution.task_failure != self.failure:
            self.failure = execution.task_failure
            show = duragent_command("show", self.handle.id)
            err().print(
                f"[bold red]workflow task failing[/] [red](attempt {execution.task_attempts}): "
                f"{escape(truncate(execution.task_failure, 300))}[/]\n"
                f"  [dim]it is retried; details: {escape(show)}[/]"
            )
        waited = time.monotonic() - self.started
        quiet = execution.status == "running" and not execution.task_failure
        if not self.hinted and waited > NO_WORKER_HINT_S and quiet:
            self.hinted = await first_task_done(self.handle)
            if not self.hinted:
                self.hinted = True
                err().print(
                    f"[yellow]no worker has picked up {escape(self.handle.id)} yet; is one "
                    f"running on task queue {escape(execution.task_queue)}? "
                    "(duragent worker MODULE)[/]"
                )

    async def wait(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        """Await ``awaitable``, printing what happens meanwhile.

        Raises:
            TimeoutError: ``timeout`` seconds passed first (``awaitable`` is cancelled).
        """
        task = asyncio.ensure_future(awaitable)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                poll = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
                done, _ = await asyncio.wait({task}, timeout=max(0.0, poll))
                if done:
                    return task.result()
                if deadline is not None and time.monotonic() >= deadline:
                    show = duragent_command("show", self.handle.id)
                    raise TimeoutError(
                        f"gave up waiting for {self.handle.id!r} after {timeout}s; it goes on "
                        f"(see: {show})"
                    )
                await self.check()
        finally:
            if not task.done():
                task.cancel()


async def first_task_done(handle: WorkflowHandle[Any]) -> bool:
    """Whether a worker has completed the run's first workflow task (its ``run`` method has
    started, so its handlers can rely on what ``run`` set up)."""
    history = await handle.fetch_history()
    return any(e.TYPE == "WorkflowTaskCompleted" for e in history.events)


def usage_line(usage: UsageSummary) -> str:
    """One line: model calls, tokens, and what was served from history."""
    calls = usage.model_calls
    tokens = usage.input_tokens + usage.output_tokens
    return (
        f"{calls} model call{'' if calls == 1 else 's'}, {tokens} tokens "
        f"({usage.input_tokens} in / {usage.output_tokens} out, {usage.cached_tokens} cached); "
        f"served from history: {usage.served_from_history} calls / "
        f"{usage.tokens_served_from_history} tokens"
    )


def check_agent_reference(reference: str) -> None:
    """Check the form ``package.module:attribute`` (workers import it, not the CLI).

    Raises:
        ConfigurationError: The reference has another form.
    """
    module, sep, attribute = reference.partition(":")
    if not sep or not module or not attribute:
        raise ConfigurationError(
            f"agent reference {reference!r} must look like 'package.module:attribute' "
            "(an Agent, or a function returning one, importable by the worker)"
        )
