"""The ``duragent`` command group: the global ``--address`` / ``--db`` options and error
reporting."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from ..errors import DuragentError
from ._common import API_KEY_ENV, DEFAULT_DB, CliState, report_error
from .agent_cmds import agent_group
from .approval_cmds import approvals_command, approve_command, reject_command
from .fork_cmds import diff_command, fork_command, rerun_command
from .list_cmd import list_command
from .message_cmds import query_command, update_command
from .prune_cmd import prune_command
from .replay_cmd import replay_command
from .schedule_cmds import schedule_group
from .server_cmd import server_command
from .show_cmd import show_command
from .stream_cmds import watch_command
from .usage_cmd import usage_command
from .worker_cmd import worker_command
from .workflow_cmds import (
    cancel_command,
    export_command,
    result_command,
    signal_command,
    start_command,
    terminate_command,
)


class DuragentGroup(click.Group):
    """A click group that turns Duragent errors into one red line and exit status 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Commands in the order they were added (workers first, then a run's life)."""
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; a :class:`DuragentError` (or a timeout while waiting)
        becomes ``error: <message>`` on stderr and exit status 1."""
        try:
            return super().invoke(ctx)
        except DuragentError as error:
            report_error(str(error))
            ctx.exit(1)
        except TimeoutError as error:  # handle.result(timeout=...) ran out of time
            report_error(str(error) or "timed out")
            ctx.exit(1)
        except OSError as error:  # unreadable module file, unwritable export path, ...
            report_error(str(error))
            ctx.exit(1)


@click.group(cls=DuragentGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--address",
    envvar="DURAGENT_ADDRESS",
    metavar="URL",
    help="Where workflows live: sqlite:///relative.db, sqlite:////absolute.db, a file path, "
    "or temporal://HOST:PORT/NAMESPACE (needs duragent[temporal]) (env DURAGENT_ADDRESS). "
    f"Default: {DEFAULT_DB}.",
)
@click.option(
    "--db",
    envvar="DURAGENT_DB",
    metavar="URL",
    help="The store as a sqlite URL or file path: the same as --address (env DURAGENT_DB).",
)
@click.option(
    "--tls/--no-tls",
    default=None,
    envvar="DURAGENT_TEMPORAL_TLS",
    help="Temporal addresses: connect with TLS, or without (default: TLS when an API key is "
    f"set in {API_KEY_ENV}, the key of Temporal Cloud or a secured server) "
    "(env DURAGENT_TEMPORAL_TLS).",
)
@click.version_option(package_name="duragent", prog_name="duragent")
@click.pass_context
def cli(ctx: click.Context, address: str | None, db: str | None, tls: bool | None) -> None:
    """Duragent: durable AI agents on one SQLite file (or a Temporal cluster).

    Run workers, start and inspect workflows, and see every step they took. Run agents
    (`agent run`, `agent chat`), decide on tool calls waiting for approval (`approvals`,
    `approve`, `reject`) and see what they spent (`usage`). Re-run a recorded agent run
    from any model call on another model or prompt (`fork`), compare runs (`diff`) and
    evaluate a change against past runs (`rerun`). Start workflows on a cron or interval
    schedule (`schedule`). `server` opens a web UI; `prune` removes old closed runs.
    """
    state = CliState.resolve(
        address=address,
        address_from_env=_from_env(ctx, "address"),
        db=db,
        db_from_env=_from_env(ctx, "db"),
    )
    ctx.obj = dataclasses.replace(state, tls=tls)


def _from_env(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) == click.core.ParameterSource.ENVIRONMENT


cli.add_command(worker_command)
cli.add_command(start_command)
cli.add_command(list_command)
cli.add_command(show_command)
cli.add_command(watch_command)
cli.add_command(result_command)
cli.add_command(cancel_command)
cli.add_command(terminate_command)
cli.add_command(signal_command)
cli.add_command(export_command)
cli.add_command(replay_command)
cli.add_command(query_command)
cli.add_command(update_command)
cli.add_command(agent_group)
cli.add_command(approvals_command)
cli.add_command(approve_command)
cli.add_command(reject_command)
cli.add_command(usage_command)
cli.add_command(fork_command)
cli.add_command(diff_command)
cli.add_command(rerun_command)
cli.add_command(schedule_group)
cli.add_command(prune_command)
cli.add_command(server_command)
