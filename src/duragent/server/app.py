"""The server application: routes, security, lifespan (client, live watcher, alerts)."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..client import Client
from ..errors import ConfigurationError
from . import api, live, metrics, pages, stream
from .alerts import AlertConfig, Alerts
from .openapi import spec
from .security import SecurityMiddleware, Sessions
from .source import RunSource

HERE: Final = Path(__file__).parent


@dataclass
class ServerConfig:
    """How ``duragent server`` runs.

    Attributes:
        target: Store URL the client connects to (``sqlite:///...``).
        token: The secret every request needs.
        read_only: Refuse every action (approve, signal, cancel, ...).
        alert_webhooks: URLs alerts are posted to.
        approval_alert_after_s: Alert when an approval has waited this long.
        base_url: The server's public URL (links in alerts); set once bound.
    """

    target: str
    token: str
    read_only: bool = False
    alert_webhooks: Sequence[str] = ()
    approval_alert_after_s: float = 3600.0
    base_url: str = ""
    alert_task_failure_attempts: int = 3
    client: Client | None = field(default=None, repr=False)
    """An already connected client to use instead of connecting to ``target``."""
    connect_options: Mapping[str, Any] = field(default_factory=lambda: {}, repr=False)
    """More ``Client.connect`` keywords (a Temporal address's ``tls``, ``api_key``)."""


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token_given: bool) -> None:
    """Refuse a non-loopback bind without an explicit token.

    Raises:
        ConfigurationError: ``host`` is reachable from other machines and no token was given.
    """
    if not is_loopback(host) and not token_given:
        raise ConfigurationError(
            f"refusing to listen on {host} (reachable from other machines) with a random "
            "token: pass --token (or DURAGENT_TOKEN) explicitly, and put TLS in front of it"
        )


async def openapi_json(request: Request) -> Response:
    return api.json_response(spec())


async def favicon(request: Request) -> Response:
    return RedirectResponse("/static/favicon.svg", 301)


def _backend_label(target: str) -> str:
    return "Temporal" if target.startswith("temporal://") else "embedded SQLite"


def create_app(config: ServerConfig) -> Any:
    """The ASGI application (Starlette, wrapped by the security middleware)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = config.client is None
        client = config.client or await Client.connect(config.target, **config.connect_options)
        source = RunSource(client)
        app.state.source = source
        app.state.watcher = live.RunsWatcher(source)
        alerts = Alerts(
            source,
            AlertConfig(config.alert_webhooks, config.approval_alert_after_s, config.base_url),
        )
        app.state.alerts = alerts
        alerts.start()
        try:
            yield
        finally:
            await alerts.stop()
            await app.state.watcher.stop()
            if own:
                await client.close()

    routes = [
        Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
        Route("/api/v1/runs/events", live.runs_events, methods=["GET"]),
        Route(api.RUN + "/events", live.run_events, methods=["GET"]),
        Route(api.RUN + "/stream", stream.run_stream, methods=["GET"]),
        *api.routes,
        Route("/api/{rest:path}", api.not_found),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        *pages.routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.read_only = config.read_only
    app.state.templates = pages.environment()
    app.state.backend_label = _backend_label(config.target)
    app.state.config = config
    unauthorized = app.state.templates.get_template("unauthorized.html").render().encode()
    return SecurityMiddleware(
        app, token=config.token, sessions=Sessions(), unauthorized_page=unauthorized
    )
