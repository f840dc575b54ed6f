"""``duragent agent run|chat``: run an agent to its final output, or chat with one.

Both use the built-in workflows of :mod:`duragent.openai_agents` (``duragent.Agent`` and
``duragent.Chat``), so they need a worker with the OpenAI Agents plugin on the task queue
(``duragent worker MODULE`` with ``PLUGINS = [OpenAIAgentsPlugin(...)]``, or ``--agents``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from typing import Any

import click
from rich.markup import escape

from ..client import Client, WorkflowHandle, new_workflow_id
from ..errors import ConfigurationError, UpdateFailedError
from ..views.format import to_json
from ._agents import (
    RunWatcher,
    check_agent_reference,
    duragent_command,
    first_task_done,
    require_agents_sdk,
    usage_line,
)
from ._common import CliState, connect, err, run, session
from .stream_cmds import StreamPrinter

DEFAULT_QUEUE = "agents"
_END_WAIT_S = 10.0
_STARTED_POLL_S = 0.05

_QUEUE_OPTION = click.option(
    "--task-queue",
    "-q",
    default=DEFAULT_QUEUE,
    show_default=True,
    metavar="QUEUE",
    help="Queue of the workers running the agent plugin.",
)


@click.group("agent", short_help="Run an agent, or chat with one.")
def agent_group() -> None:
    """Run OpenAI Agents SDK agents durably (every model and tool call is recorded).

    REF names an Agent, or a function returning one, as 'package.module:attribute'; the
    worker imports it, so it must be importable there.
    """


def _print_outcome(workflow_id: str, run_id: str, outcome: Any, as_json: bool) -> None:
    usage = outcome.usage
    if as_json:
        data = {
            "workflow_id": workflow_id,
            "run_id": run_id,
            "final_output": outcome.final_output,
            "last_agent": outcome.last_agent,
            "usage": dataclasses.asdict(usage),
        }
        click.echo(to_json(data, indent=2))
        return
    output = outcome.final_output
    click.echo(output if isinstance(output, str) else to_json(output, indent=2))
    err().print(f"[dim]{escape(outcome.last_agent)} · {escape(usage_line(usage))}[/]")


async def _run(
    state: CliState,
    reference: str,
    text: str,
    workflow_id: str,
    queue: str,
    max_turns: int,
    budget: Any,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    stream: bool = False,
) -> None:
    from ..openai_agents import start_agent

    async with session(state, create=True) as client:
        handle = await start_agent(
            client,
            reference,
            text,
            id=workflow_id,
            task_queue=queue,
            max_turns=max_turns,
            budget=budget,
            stream=stream,
        )
        run_id = handle.run_id or ""
        if stream and wait:
            await _stream(handle, reference, queue, timeout, as_json)
            return
        if not wait:
            if as_json:
                click.echo(to_json({"workflow_id": workflow_id, "run_id": run_id}))
            else:
                click.echo(workflow_id)
            return
        if not as_json:
            err().print(
                f"[dim]agent {escape(reference)} running as workflow [cyan]"
                f"{escape(workflow_id)}[/cyan] (run {run_id}) on queue {escape(queue)}[/]"
            )
        outcome = await RunWatcher(handle).wait(handle.result(), timeout)
        _print_outcome(workflow_id, run_id, outcome, as_json)


async def _stream(
    handle: WorkflowHandle[Any], reference: str, queue: str, timeout: float | None, as_json: bool
) -> None:
    """Print the run's stream until it closes, then the usage line (or, with --json, the
    events as NDJSON)."""
    if not as_json:
        err().print(
            f"[dim]agent {escape(reference)} streaming as workflow [cyan]{escape(handle.id)}"
            f"[/cyan] (run {handle.run_id}) on queue {escape(queue)}[/]"
        )
    printer = StreamPrinter(handle.id, as_json=as_json)
    closed = await RunWatcher(handle, quiet_approvals=True).wait(
        printer.follow(handle.stream()), timeout
    )
    if closed is None or closed.status != "completed":
        await handle.result()  # raises the run's failure, as without --stream
    if not as_json:
        outcome = await handle.result()
        err().print(f"[dim]{escape(outcome.last_agent)} · {escape(usage_line(outcome.usage))}[/]")


@agent_group.command("run", short_help="Run an agent on an input to its final output.")
@click.argument("reference", metavar="REF")
@click.argument("text", metavar="INPUT")
@click.option("--id", "workflow_id", metavar="ID", help="Workflow id (default: a random one).")
@_QUEUE_OPTION
@click.option(
    "--max-turns",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    metavar="N",
    help="Turn limit.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    metavar="N",
    help="Budget: stop the run before a model call once it has used N tokens.",
)
@click.option(
    "--max-model-calls",
    type=click.IntRange(min=1),
    metavar="N",
    help="Budget: stop the run once it has made N model calls.",
)
@click.option("--no-wait", is_flag=True, help="Print the workflow id and exit at once.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up waiting (exit 1) after this long; the run goes on.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {workflow_id, run_id, final_output, last_agent, usage} as JSON "
    "(with --stream: each stream event as a JSON line).",
)
@click.option(
    "--stream",
    is_flag=True,
    help="Print the model's text as it is generated (tool calls, results and retries on "
    "stderr); reattach later with `duragent watch ID`.",
)
@click.pass_obj
def agent_run_command(
    state: CliState,
    reference: str,
    text: str,
    workflow_id: str | None,
    task_queue: str,
    max_turns: int,
    max_tokens: int | None,
    max_model_calls: int | None,
    no_wait: bool,
    timeout: float | None,
    as_json: bool,
    stream: bool,
) -> None:
    """Run the agent REF on INPUT durably and print its final output (with --stream, as
    the model writes it).

    INPUT is the user message ('-' reads it from stdin). While waiting, tool calls that
    need approval are printed with the `duragent approve` / `duragent reject` commands
    that decide them (from any terminal; the run waits durably, even if this command is
    stopped). A one-line usage summary follows the output on stderr.
    """
    require_agents_sdk()
    check_agent_reference(reference)
    from ..openai_agents import Budget

    if text == "-":
        text = sys.stdin.read().strip()
    if not text:
        raise ConfigurationError("the input is empty")
    budget = (
        Budget(max_tokens=max_tokens, max_model_calls=max_model_calls)
        if max_tokens is not None or max_model_calls is not None
        else None
    )
    run(
        _run(
            state,
            reference,
            text,
            workflow_id or new_workflow_id("agent"),
            task_queue,
            max_turns,
            budget,
            not no_wait,
            timeout,
            as_json,
            stream,
        )
    )


# ---------------------------------------------------------------------------------- chat

_CHAT_HELP = (
    "/end ends the conversation; /quit or Ctrl-D leaves it running "
    "(resume with `duragent agent chat ID`)"
)


async def _open_chat(
    client: Client, chat_id: str, reference: str | None, queue: str
) -> WorkflowHandle[Any]:
    from ..openai_agents import start_chat
    from ..openai_agents.workflows import CHAT_WORKFLOW

    if reference is not None:
        return await start_chat(client, reference, id=chat_id, task_queue=queue)
    handle = client.get_workflow_handle(chat_id)
    execution = await handle.describe()
    if execution.workflow_type != CHAT_WORKFLOW:
        raise ConfigurationError(
            f"workflow {chat_id!r} is a {execution.workflow_type}, not a chat ({CHAT_WORKFLOW})"
        )
    if execution.status != "running":
        raise ConfigurationError(
            f"chat {chat_id!r} is {execution.status.replace('_', ' ')}; "
            "pass --agent REF to start a new conversation with this id"
        )
    return handle


async def _started(handle: WorkflowHandle[Any]) -> None:
    while True:
        if await first_task_done(handle):
            return
        await asyncio.sleep(_STARTED_POLL_S)  # polled: nothing notifies "run started"


async def _send(
    client: Client, handle: WorkflowHandle[Any], text: str, timeout: float | None, first: bool
) -> str:
    from ..openai_agents import send_message

    watcher = RunWatcher(handle)
    if first:
        # Wait until the chat's run has started: an update delivered together with the
        # start would reach the chat before its run method set it up.
        await watcher.wait(_started(handle), timeout)
    return await watcher.wait(send_message(client, handle.id, text), timeout)


async def _end(handle: WorkflowHandle[Any]) -> None:
    await handle.signal("end")
    try:
        summary = await handle.result(timeout=_END_WAIT_S)
    except TimeoutError:
        err().print("[yellow]end requested; the conversation closes when a worker handles it[/]")
        return
    # A ChatSummary, or its JSON form when the handle was looked up by id (untyped).
    messages = summary.get("messages") if isinstance(summary, dict) else summary.messages
    plural = "" if messages == 1 else "s"
    err().print(f"[dim]conversation {escape(handle.id)} ended after {messages} message{plural}[/]")


def _read(interactive: bool) -> str | None:
    """The next line of input (None at end of input), echoed when stdin is not a terminal
    so that a piped session reads as a transcript."""
    if interactive:
        click.echo("you> ", nl=False)
    line = sys.stdin.readline()
    if not line:
        if interactive:
            click.echo()
        return None
    text = line.strip()
    if text and not interactive:
        click.echo(f"you> {text}")
    return text


def _chat_loop(
    state: CliState, chat_id: str, reference: str | None, queue: str, timeout: float | None
) -> None:
    # One event loop for the whole session, but stdin is read outside it, so Ctrl-C at
    # the prompt interrupts at once.
    with asyncio.Runner() as runner:
        client = runner.run(connect(state, create=reference is not None))
        try:
            handle = runner.run(_open_chat(client, chat_id, reference, queue))
            err().print(f"[dim]chat {escape(chat_id)}: {escape(_CHAT_HELP)}[/]")
            interactive = sys.stdin.isatty()
            sent = False
            while True:
                text = _read(interactive)
                if text is None or text in ("/quit", "/exit"):
                    err().print(
                        f"[dim]left chat {escape(chat_id)} running; continue with: "
                        f"{escape(duragent_command('agent', 'chat', chat_id))}[/]"
                    )
                    return
                if not text:
                    continue
                if text == "/end":
                    runner.run(_end(handle))
                    return
                if text.startswith("/"):
                    err().print(f"[yellow]unknown command {escape(text)}: {escape(_CHAT_HELP)}[/]")
                    continue
                try:
                    reply = runner.run(_send(client, handle, text, timeout, not sent))
                except UpdateFailedError as error:  # the turn failed; the chat goes on
                    err().print(f"[bold red]error:[/] [red]{escape(str(error))}[/]")
                    continue
                sent = True
                click.echo(f"agent> {reply}")
        finally:
            runner.run(client.close())


@agent_group.command("chat", short_help="Chat with an agent, one durable conversation.")
@click.argument("chat_id", metavar="ID")
@click.option(
    "--agent",
    "reference",
    metavar="REF",
    help="Agent to start the conversation with (not needed to rejoin a running one).",
)
@_QUEUE_OPTION
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up (exit 1) when a reply takes longer; the conversation goes on.",
)
@click.pass_obj
def agent_chat_command(
    state: CliState,
    chat_id: str,
    reference: str | None,
    task_queue: str,
    timeout: float | None,
) -> None:
    """Chat with an agent in the durable conversation ID.

    Starts the conversation with --agent REF, or rejoins it if it is running. Each line
    read from stdin is a user message; the agent's reply is printed as 'agent> ...'.
    Piped input works too: printf 'hello\\n/end\\n' | duragent agent chat c1 --agent REF

    \b
    /end     end the conversation (the workflow completes)
    /quit    leave it running and exit (so do Ctrl-D, end of input, and Ctrl-C)
    """
    require_agents_sdk()
    if reference is not None:
        check_agent_reference(reference)
    try:
        _chat_loop(state, chat_id, reference, task_queue, timeout)
    except KeyboardInterrupt:
        err().print(f"\n[dim]interrupted; chat {escape(chat_id)} is still running[/]")
        click.get_current_context().exit(130)
