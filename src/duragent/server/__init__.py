"""``duragent server``: a web UI and an HTTP API for the runs in a store.

Pages (runs list, agent-aware run page, approvals inbox), a JSON API under ``/api/v1``
(described at ``/api`` and ``/api/v1/openapi.json``), live updates over Server-Sent Events,
``/metrics`` for Prometheus, and optional alert webhooks. Templates, CSS and JavaScript
ship in the package: no CDN, no build step. Needs ``pip install 'duragent[server]'``.

    from duragent.server import ServerConfig, serve
    serve(ServerConfig(target="sqlite:///agents.db", token="..."), host="127.0.0.1", port=0)
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError

try:
    import jinja2 as _jinja2  # noqa: F401
    import starlette as _starlette  # noqa: F401
    import uvicorn as _uvicorn  # noqa: F401
except ImportError as _missing:  # pragma: no cover - depends on the installed extras
    raise ConfigurationError(
        f"duragent server needs the server extra ({_missing.name} is missing): "
        "pip install 'duragent[server]'"
    ) from _missing

from .app import ServerConfig, check_bind, create_app, is_loopback

__all__ = ["ServerConfig", "check_bind", "create_app", "is_loopback", "serve", "url_of"]


def url_of(host: str, port: int) -> str:
    """``http://host:port`` (IPv6 addresses bracketed)."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {err.strerror}") from err
    sock.listen(128)
    sock.setblocking(False)
    return sock


def serve(
    config: ServerConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    announce: Callable[[str], Any] = print,
) -> None:
    """Run the server until interrupted; ``announce`` gets the one line with the URL."""
    import uvicorn

    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    base = url_of(host, bound_port)
    config.base_url = config.base_url or base
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
        )
    )
    announce(f"Duragent UI: {base}/?token={config.token}")
    sys.stdout.flush()
    server.run(sockets=[sock])
