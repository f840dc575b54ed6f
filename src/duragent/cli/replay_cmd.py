"""``duragent replay``: replay exported histories against a module's workflow code.

Run it in CI over histories exported from production (``duragent export ID -o FILE``)
before deploying changed workflow code: a change that running workflows could not replay
fails the build with the event where replay diverged, instead of failing in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from rich.markup import escape

from ..errors import ConfigurationError, DuragentError
from ..testing import Replayer
from ._common import err, out, run
from .loading import load_app
from .worker_cmd import agents_plugin


def history_files(paths: Sequence[Path]) -> list[Path]:
    """The files to replay: each FILE as given, and the ``*.json`` files of each
    directory (recursively, sorted).

    Raises:
        ConfigurationError: A directory holds no ``.json`` file.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                raise ConfigurationError(f"no .json history files in directory {path}")
            files.extend(found)
        else:
            files.append(path)
    return files


def make_replayer(module: str, *, agents: bool) -> Replayer:
    """A replayer for the workflows of ``module``, including those its plugins add.

    Raises:
        ConfigurationError: The module cannot be imported or defines no workflows.
    """
    app = load_app(module, require_definitions=not agents)
    plugins = list(app.plugins)
    if agents and not any(type(p).__name__ == "OpenAIAgentsPlugin" for p in plugins):
        plugins.append(agents_plugin())
    replayer = Replayer(workflows=list(app.workflows), plugins=plugins)
    if not replayer.workflows:
        raise ConfigurationError(f"module {module!r} defines no @workflow.defn classes")
    return replayer


async def _replay(files: list[Path], replayer: Replayer) -> int:
    """Replay each file; print one line per file. Returns the number of failures."""
    failures = 0
    several = len(files) > 1
    for path in files:
        where = f"{path}: " if several else ""
        try:
            result = await replayer.replay_workflow(path, raise_on_replay_failure=False)
        except (DuragentError, OSError) as error:  # not a history, unknown workflow type
            failures += 1
            err().print(f"[bold red]error:[/] [red]{escape(where)}{escape(str(error))}[/]")
            continue
        if result.replay_failure is not None:
            failures += 1
            err().print(
                f"[bold red]nondeterminism:[/] [red]{escape(where)}"
                f"{escape(str(result.replay_failure))}[/]"
            )
            continue
        history = result.history
        out().print(
            f"[green]ok:[/] {len(history.events)} events replayed "
            f"[dim]({escape(where)}workflow {escape(history.workflow_id)}, "
            f"run {history.run_id})[/]"
        )
    if several:
        passed = len(files) - failures
        summary = f"{passed} of {len(files)} histories replayed"
        out().print(f"[bold]{summary}[/]" + (f", [red]{failures} failed[/]" if failures else ""))
    return failures


@click.command("replay", short_help="Replay exported histories against workflow code.")
@click.argument(
    "paths",
    metavar="FILE...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
@click.option(
    "--module",
    "-m",
    "module",
    required=True,
    metavar="MODULE",
    help="Module whose workflows to replay against (dotted name or .py path).",
)
@click.option(
    "--agents",
    is_flag=True,
    help="Add OpenAIAgentsPlugin() (its built-in agent workflows) unless the module's "
    "PLUGINS has one.",
)
@click.pass_context
def replay_command(ctx: click.Context, paths: tuple[Path, ...], module: str, agents: bool) -> None:
    """Replay exported workflow histories (FILE... from `duragent export`, or directories
    of them) against the current code of MODULE's workflows.

    Prints `ok: N events replayed` per history. If the code no longer reproduces a
    history, prints the NondeterminismError (naming the history event where replay
    diverged, what history recorded and what the code asked for) and exits with status 1.
    Needs no database: the histories alone drive the code.
    """
    replayer = make_replayer(module, agents=agents)
    if run(_replay(history_files(paths), replayer)):
        ctx.exit(1)
