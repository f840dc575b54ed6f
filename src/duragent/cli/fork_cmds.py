"""``duragent fork``, ``duragent diff`` and ``duragent rerun``: re-run a recorded agent run
from model call k on another model or prompt, compare two runs, and evaluate a change
against past runs (forks of each, with recorded tools, compared with their sources).

Forks run on the workers of their source's task queue, like any run (``duragent worker``).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..client import Client
from ..errors import ConfigurationError
from ..views.diff import RunDiff
from ..views.format import to_json, truncate
from ._agents import RunWatcher, duragent_command
from ._common import CliState, err, out, run, session

_MODES = click.Choice(["live", "recorded"])
_UNMATCHED = click.Choice(["live", "dry_run", "fail"])


def _override_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--model", metavar="MODEL", help="Model for calls from the fork point on."
            ),
            click.option(
                "--instructions",
                metavar="TEXT",
                help="System instructions for calls from the fork point on.",
            ),
            click.option(
                "--instructions-file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                metavar="FILE",
                help="Read the instructions from FILE.",
            ),
            click.option(
                "--agent",
                metavar="NAME",
                help="Apply the overrides only to this agent's model calls.",
            ),
            click.option(
                "--unmatched-tools",
                type=_UNMATCHED,
                default="live",
                show_default=True,
                help="With recorded tools: what a call no recording matches does.",
            ),
            click.option(
                "--allow-side-effects",
                is_flag=True,
                help="Let at-most-once tools run live in the fork.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _instructions(text: str | None, path: Path | None) -> str | None:
    if text is not None and path is not None:
        raise ConfigurationError("give --instructions or --instructions-file, not both")
    return path.read_text() if path is not None else text


async def _fork(
    state: CliState,
    source: str,
    k: int,
    run_id: str | None,
    new_id: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    **options: Any,
) -> None:
    async with session(state) as client:
        handle = await client.fork(source, k, id=new_id, run_id=run_id, **options)
        facts = {"workflow_id": handle.id, "run_id": handle.run_id, "reused_model_calls": k - 1}
        if not wait:
            if as_json:
                click.echo(to_json(facts))
                return
            click.echo(handle.id)
            calls = "model call 1" if k == 2 else f"model calls 1-{k - 1}"
            reused = f"{calls} reused from {source}; " if k > 1 else ""
            err().print(
                f"[dim]{escape(reused)}see it with [cyan]"
                f"{escape(duragent_command('show', handle.id))}[/cyan], compare with "
                f"[cyan]{escape(duragent_command('diff', source, handle.id))}[/cyan][/]"
            )
            return
        result = await RunWatcher(handle).wait(handle.result(), timeout)
        if as_json:
            click.echo(to_json({**facts, "result": result}, indent=2))
        else:
            click.echo(to_json(result, indent=2) if not isinstance(result, str) else result)


@click.command("fork", short_help="Re-run an agent run from model call K, with overrides.")
@click.argument("source", metavar="ID")
@click.option(
    "--at-turn",
    "k",
    type=click.IntRange(min=1),
    required=True,
    metavar="K",
    help="Model call to fork at (1 = the first, as `duragent show` numbers them).",
)
@_override_options
@click.option("--tools", type=_MODES, default="live", show_default=True, help="Tool calls after K.")
@click.option(
    "--models", type=_MODES, default="live", show_default=True, help="Model calls after K."
)
@click.option("--run", "run_id", metavar="RUN_ID", help="Fork this run of ID (default: latest).")
@click.option("--id", "new_id", metavar="NEW", help="Workflow id of the fork.")
@click.option("--wait", is_flag=True, help="Wait for the fork to finish and print its result.")
@click.option(
    "--timeout", type=click.FloatRange(min=0), metavar="SECONDS", help="Give up waiting after this."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def fork_command(
    state: CliState,
    source: str,
    k: int,
    model: str | None,
    instructions: str | None,
    instructions_file: Path | None,
    agent: str | None,
    unmatched_tools: str,
    allow_side_effects: bool,
    tools: str,
    models: str,
    run_id: str | None,
    new_id: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Fork agent run ID at model call K: a new run takes calls 1..K-1 and the tool calls
    between them from ID's history (no model call made, no token paid, no tool run again)
    and goes on live from call K with the overrides. ID is not changed.

    --tools recorded serves tool calls after K from ID's recording when the tool and its
    arguments match (--unmatched-tools says what the others do); --models recorded serves
    model requests identical to recorded ones. At-most-once tools never run live in a fork
    unless --allow-side-effects. A worker for ID's task queue runs the fork; `duragent
    show NEW` marks what it reused.
    """
    run(
        _fork(
            state,
            source,
            k,
            run_id,
            new_id,
            wait,
            timeout,
            as_json,
            model=model,
            instructions=_instructions(instructions, instructions_file),
            agent=agent,
            tools=tools,
            models=models,
            unmatched_tools=unmatched_tools,
            allow_side_effects=allow_side_effects,
        )
    )


def print_diff(diff: RunDiff) -> None:
    """The diff in colour: removed lines red, added green, changed yellow."""
    console = out()
    for line in diff.render().splitlines():
        style = ""
        if line.startswith(("---", "- ")):
            style = "red"
        elif line.startswith(("+++", "+ ")):
            style = "green"
        elif line.startswith("~ ") or line.startswith("first divergence"):
            style = "yellow"
        elif line.startswith("= ") or line.startswith("conversations: identical"):
            style = "dim"
        console.print(Text(line, style=style))


async def _diff(
    state: CliState, a: str, b: str, run_a: str | None, run_b: str | None, as_json: bool
) -> None:
    async with session(state) as client:
        diff = await client.diff(a, b, run_a=run_a, run_b=run_b)
    if as_json:
        click.echo(to_json(diff.to_dict(), indent=2))
    else:
        print_diff(diff)


@click.command("diff", short_help="Compare two agent runs (e.g. a run and its fork).")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--run-a", metavar="RUN_ID", help="A specific run of A (default: its latest).")
@click.option("--run-b", metavar="RUN_ID", help="A specific run of B (default: its latest).")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@click.pass_obj
def diff_command(
    state: CliState, a: str, b: str, run_a: str | None, run_b: str | None, as_json: bool
) -> None:
    """Compare agent runs A and B: their conversations aligned item by item (the identical
    start collapsed), the first divergence, each differing message, tool call (argument
    by argument) and tool result, the final outputs, and usage (calls, tokens, latency; a
    fork's reused calls are shown apart from what it spent).
    """
    run(_diff(state, a, b, run_a, run_b, as_json))


async def _rerun_one(
    client: Client, source: str, k: int, timeout: float | None, options: dict[str, Any]
) -> dict[str, Any]:
    new_id = f"{source}-rerun-{uuid.uuid4().hex[:6]}"
    handle = await client.fork(source, k, id=new_id, **options)
    try:
        await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        pass  # compared as it stands
    except Exception:  # a failed fork is compared too (its failure is its output)
        pass
    diff = await client.diff(source, new_id)
    first = diff.first_divergence
    shown = first.a or first.b if first is not None else None
    return {
        "source": source,
        "fork": new_id,
        "status": diff.b.status,
        "same_output": diff.same_output,
        "first_divergence": None
        if first is None
        else {"turn": shown.turn if shown else 0, "item": shown.label() if shown else ""},
        "tokens_spent": diff.b.usage.spent_tokens,
        "tokens_reused": diff.b.usage.reused_tokens,
        "source_tokens": diff.a.usage.tokens,
        "unrecorded_tools": diff.b.unrecorded_tools,
    }


async def _rerun(
    state: CliState,
    sources: tuple[str, ...],
    k: int,
    timeout: float | None,
    as_json: bool,
    options: dict[str, Any],
) -> None:
    async with session(state) as client:
        rows = [await _rerun_one(client, s, k, timeout, options) for s in sources]
    if as_json:
        click.echo(to_json(rows, indent=2))
        return
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for name in ("RUN", "FORK", "OUTPUT", "FIRST DIVERGENCE", "TOKENS SPENT", "NO RECORDING"):
        table.add_column(name, justify="right" if name == "TOKENS SPENT" else "left")
    for r in rows:
        first = r["first_divergence"]
        same = r["same_output"]
        output = Text("same", "green") if same else Text("different", "yellow")
        if r["status"] != "completed":
            output = Text(r["status"], "red")
        table.add_row(
            r["source"],
            r["fork"],
            output,
            "none" if first is None else truncate(f"turn {first['turn']}: {first['item']}", 60),
            f"{r['tokens_spent']} (source {r['source_tokens']})",
            ", ".join(r["unrecorded_tools"]) or "-",
        )
    out().print(table)


@click.command("rerun", short_help="Re-run past agent runs with a changed model or prompt.")
@click.argument("sources", metavar="ID...", nargs=-1, required=True)
@_override_options
@click.option(
    "--at-turn",
    "k",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="K",
    help="Model call to fork each run at.",
)
@click.option(
    "--tools", type=_MODES, default="recorded", show_default=True, help="Tool calls after K."
)
@click.option(
    "--models", type=_MODES, default="live", show_default=True, help="Model calls after K."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for each fork before comparing it as it stands.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per run.")
@click.pass_obj
def rerun_command(
    state: CliState,
    sources: tuple[str, ...],
    model: str | None,
    instructions: str | None,
    instructions_file: Path | None,
    agent: str | None,
    unmatched_tools: str,
    allow_side_effects: bool,
    k: int,
    tools: str,
    models: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Evaluate a change against past runs: fork each agent run ID at model call K (the
    first by default) with the new --model / --instructions(-file), tools served from each
    run's recording, wait for the forks, and print per run whether the final output is
    the same, where the conversation first diverged, the tokens the fork spent, and the
    tool calls no recording matched. Production histories become a regression suite.
    A worker for the runs' task queue must be running.
    """
    options = {
        "model": model,
        "instructions": _instructions(instructions, instructions_file),
        "agent": agent,
        "tools": tools,
        "models": models,
        "unmatched_tools": unmatched_tools,
        "allow_side_effects": allow_side_effects,
    }
    run(_rerun(state, sources, k, timeout, as_json, options))
