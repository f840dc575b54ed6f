"""``duragent server``: the web UI and HTTP API."""

from __future__ import annotations

import click

from ..errors import ConfigurationError
from ._common import CliState, connect_options, require_database


@click.command("server", short_help="Serve the web UI and HTTP API.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port (0: a free one).",
)
@click.option(
    "--token",
    envvar="DURAGENT_TOKEN",
    metavar="TOKEN",
    help="The secret every request needs (env DURAGENT_TOKEN; default: a fresh random one). "
    "Required to listen on a non-loopback address.",
)
@click.option("--read-only", is_flag=True, help="Refuse every action (approve, signal, cancel...).")
@click.option(
    "--address",
    metavar="URL",
    help="Store or cluster to serve (default: the global --address / --db).",
)
@click.option(
    "--alert-webhook",
    "alert_webhooks",
    multiple=True,
    metavar="URL",
    help="POST a JSON alert here when a run fails, a workflow task keeps failing, or an "
    "approval waits too long (repeatable).",
)
@click.option(
    "--approval-alert-after",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    metavar="SECONDS",
    help="Alert when an approval has waited this long.",
)
@click.pass_obj
def server_command(
    state: CliState,
    host: str,
    port: int,
    token: str | None,
    read_only: bool,
    address: str | None,
    alert_webhooks: tuple[str, ...],
    approval_alert_after: float,
) -> None:
    """Serve a web UI and a JSON API for the runs at the address (an embedded store, or a
    Temporal namespace with --address temporal://HOST:PORT/NS).

    Prints one line, `Duragent UI: http://HOST:PORT/?token=TOKEN`: open it in a browser
    (the token becomes a session cookie and leaves the URL). API clients send
    `Authorization: Bearer TOKEN`; the API is described at /api. The page shows each run as
    a conversation (model turns with tokens and latency, tool cards with every attempt,
    what was served from history after a crash), approvals with Approve/Reject, the usage
    ledger and the raw history, updated live. /metrics serves Prometheus metrics.

    Listens on 127.0.0.1 by default; any other address needs an explicit --token (and a
    TLS proxy in front). Needs `pip install 'duragent[server]'`.
    """
    from ..server.app import check_bind

    check_bind(host, token_given=bool(token))
    try:
        from ..server import ServerConfig, serve
        from ..server.security import new_token
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            f"duragent server needs the server extra: pip install 'duragent[server]' ({err})"
        ) from err
    target = address or state.db
    require_database(target, "server --address" if address else state.source)
    config = ServerConfig(
        target=target,
        token=token or new_token(),
        read_only=read_only,
        alert_webhooks=alert_webhooks,
        approval_alert_after_s=approval_alert_after,
        connect_options=connect_options(state, target),
    )
    serve(config, host=host, port=port, announce=click.echo)
