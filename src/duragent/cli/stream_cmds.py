"""``duragent watch ID`` and the printing behind ``duragent agent run --stream``: a run's
durable stream on the terminal, tokens as they arrive.

Text goes to stdout as the model writes it; everything else (tool calls and results,
approval requests with the commands that decide them, a retried model call, the close) to
stderr, so ``duragent watch ID > answer.txt`` keeps just the text. A terminal cannot take
text back: when a model call is retried, the words its failed attempt printed stay on the
screen and a notice says they are withdrawn (the final answer is the retry's). ``--json``
prints one JSON object per event instead (NDJSON), offsets included, for programs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Final

import click
from rich.markup import escape

from ..streaming import (
    ApprovalRequested,
    ReasoningDelta,
    Reset,
    RunClosed,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolResult,
)
from ..views.format import truncate
from ._agents import approval_notice, duragent_command
from ._common import CliState, err, run, session

_RESULT_CHARS: Final = 200


class StreamPrinter:
    """Prints stream events for a human (or as NDJSON)."""

    def __init__(self, workflow_id: str, *, as_json: bool) -> None:
        self.workflow_id = workflow_id
        self.as_json = as_json
        self.call: int | None = None
        self.mid_line = False
        self.last_offset = 0

    def _end_line(self) -> None:
        if self.mid_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.mid_line = False

    def show(self, event: StreamEvent) -> None:
        """Print one event."""
        if event.offset:
            self.last_offset = event.offset
        if self.as_json:
            click.echo(json.dumps(event.to_json(), ensure_ascii=False, default=str))
            return
        if isinstance(event, TextDelta):
            if self.call is not None and self.call != event.call:
                self._end_line()
            self.call = event.call
            sys.stdout.write(event.text)
            sys.stdout.flush()
            self.mid_line = not event.text.endswith("\n")
            return
        if isinstance(event, ReasoningDelta):
            return  # a model's reasoning is not part of its answer (--json shows it)
        self._end_line()
        if isinstance(event, Reset):
            err().print(
                f"[yellow]↺ model call {event.call}: attempt {event.attempt} failed; the "
                "text above is withdrawn, the retry follows[/]"
            )
        elif isinstance(event, ToolCall):
            err().print(f"[dim]→ {escape(event.name)}({escape(truncate(event.arguments, 200))})[/]")
        elif isinstance(event, ToolResult):
            if event.error:
                err().print(f"[red]← {escape(event.name)} failed: {escape(event.error)}[/]")
            else:
                output = truncate(event.output, _RESULT_CHARS)
                err().print(f"[dim]← {escape(event.name)}: {escape(output)}[/]")
        elif isinstance(event, ApprovalRequested):
            err().print(approval_notice(self.workflow_id, event))
        elif isinstance(event, RunClosed):
            style = "green" if event.status == "completed" else "red"
            detail = f": {event.failure}" if event.failure else ""
            err().print(f"[{style}]run {event.status.replace('_', ' ')}{escape(detail)}[/]")

    async def follow(self, events: AsyncIterator[StreamEvent]) -> RunClosed | None:
        """Print ``events`` until the run closes; returns the close (None if the stream
        ended without one, which it does only when resumed after it)."""
        try:
            async for event in events:
                self.show(event)
                if isinstance(event, RunClosed):
                    return event
            return None
        finally:
            self._end_line()


async def _watch(
    state: CliState, workflow_id: str, run_id: str | None, after: int, as_json: bool
) -> int:
    async with session(state) as client:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        execution = await handle.describe()  # fails clearly for an unknown workflow
        if not as_json:
            err().print(
                f"[dim]watching {escape(workflow_id)} (run {execution.run_id}); Ctrl-C stops "
                "watching, not the run[/]"
            )
        printer = StreamPrinter(workflow_id, as_json=as_json)
        try:
            closed = await printer.follow(handle.stream(after=after))
        except KeyboardInterrupt:  # pragma: no cover - interactive
            resume = duragent_command("watch", workflow_id, "--after", str(printer.last_offset))
            err().print(f"[dim]stopped watching; resume with: {escape(resume)}[/]")
            return 130
        return 0 if closed is None or closed.status in ("completed", "continued_as_new") else 1


@click.command("watch", short_help="Follow a run's stream: tokens as they are generated.")
@click.argument("workflow_id", metavar="ID")
@click.option("--run-id", metavar="RUN", help="A specific run (default: the latest).")
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="OFFSET",
    help="Resume behind this stream offset (each --json event carries its offset).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event (NDJSON).")
@click.pass_obj
def watch_command(
    state: CliState, workflow_id: str, run_id: str | None, after: int, as_json: bool
) -> None:
    """Attach to run ID and print its durable stream until it closes: the model's text as
    it is written (stdout), tool calls, results, approval requests and retries (stderr).

    A run that already closed is shown whole, from its stream or (once the stream expired,
    or for a run that did not stream) from its recorded responses. Exit status 0 when the
    run completed, 1 when it failed, was cancelled or terminated.
    """
    code = run(_watch(state, workflow_id, run_id, after, as_json))
    if code:
        sys.exit(code)
