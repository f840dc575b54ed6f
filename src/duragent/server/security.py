"""Who may see and do what: the token, sessions, CSRF, same-origin checks, security headers.

An Approve button authorizes a side effect, and model and tool output is hostile input, so:

* Every request needs the server's token: API clients send ``Authorization: Bearer TOKEN``;
  a browser opens the printed ``/?token=TOKEN`` once, which is exchanged for an HttpOnly,
  SameSite=Strict session cookie and redirected to the same URL without the token (so it
  stays out of history, bookmarks and Referer headers).
* GET never changes anything. Every other method, when authorized by the cookie, also needs
  the session's CSRF token in ``X-CSRF-Token`` and a same-origin request (``Origin`` equal to
  the server's, or ``Sec-Fetch-Site: same-origin``). Bearer requests carry no ambient
  credential, so they need neither.
* Every response carries a strict Content-Security-Policy (no inline scripts or styles, no
  other hosts), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and
  ``frame-ancestors 'none'``.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE: Final = "duragent_session"
CSRF_HEADER: Final = "x-csrf-token"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES: Final = ("/static/", "/favicon.ico")
"""Served without a token: stylesheet, script and icon (nothing about any run)."""
_MAX_SESSIONS: Final = 1000


def new_token() -> str:
    """A fresh random token (URL-safe)."""
    return secrets.token_urlsafe(24)


class Sessions:
    """Browser sessions of this server process: session id -> CSRF token."""

    def __init__(self) -> None:
        self._csrf: OrderedDict[str, str] = OrderedDict()

    def create(self) -> str:
        session = secrets.token_urlsafe(32)
        self._csrf[session] = secrets.token_urlsafe(32)
        if len(self._csrf) > _MAX_SESSIONS:
            self._csrf.popitem(last=False)
        return session

    def csrf(self, session: str | None) -> str | None:
        return self._csrf.get(session) if session else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header authorizes nothing
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _equal(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def _origin_of(scope: Scope) -> str:
    host = _header(scope, b"host") or ""
    return f"{scope.get('scheme', 'http')}://{host}"


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


def _wants_html(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return not path.startswith(("/api/", "/metrics"))


class SecurityMiddleware:
    """Authenticates every request and adds the security headers to every response.

    Sets ``scope["state"]["auth"]`` to ``"cookie"`` or ``"bearer"`` and
    ``scope["state"]["csrf"]`` to the session's CSRF token (for pages to embed).

    Args:
        app: The application.
        token: The server's token.
        sessions: Where browser sessions live.
        unauthorized_page: HTML shown to a browser without a session.
    """

    def __init__(
        self, app: ASGIApp, *, token: str, sessions: Sessions, unauthorized_page: bytes
    ) -> None:
        self.app = app
        self.token = token
        self.sessions = sessions
        self.unauthorized_page = unauthorized_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        path = str(scope.get("path", ""))
        if path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send_with_headers)
            return
        method = str(scope.get("method", "GET")).upper()
        query = dict(parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1")))
        if "token" in query and method in SAFE_METHODS:
            await self._exchange(scope, query, send_with_headers)
            return
        state = scope.setdefault("state", {})
        authorization = _header(scope, b"authorization") or ""
        session = _cookie(scope, COOKIE)
        csrf = self.sessions.csrf(session)
        if authorization.lower().startswith("bearer ") and _equal(
            authorization[7:].strip(), self.token
        ):
            state["auth"] = "bearer"
        elif csrf is not None:
            state["auth"] = "cookie"
            state["csrf"] = csrf
            if method not in SAFE_METHODS:
                problem = self._cross_site(scope, csrf)
                if problem:
                    await _respond(
                        send_with_headers,
                        403,
                        json.dumps({"error": problem, "status": 403}).encode(),
                        b"application/json",
                        [],
                    )
                    return
        else:
            await self._unauthorized(scope, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _cross_site(self, scope: Scope, csrf: str) -> str | None:
        """Why a cookie-authorized state change is refused (None: it is fine)."""
        if not _equal(_header(scope, CSRF_HEADER.encode()), csrf):
            return "missing or wrong CSRF token (send the page's X-CSRF-Token header)"
        origin = _header(scope, b"origin")
        fetch_site = _header(scope, b"sec-fetch-site")
        if origin is not None and origin != _origin_of(scope):
            return f"cross-origin request from {origin} refused"
        if fetch_site is not None and fetch_site != "same-origin":
            return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
        if origin is None and fetch_site is None:
            return "request without Origin or Sec-Fetch-Site refused"
        return None

    async def _exchange(self, scope: Scope, query: dict[str, str], send: Send) -> None:
        """``?token=...``: set the session cookie and redirect to the URL without it."""
        if not _equal(query.get("token"), self.token):
            await self._unauthorized(scope, send, wrong_token=True)
            return
        session = self.sessions.create()
        rest = {k: v for k, v in query.items() if k != "token"}
        location = str(scope.get("path", "/")) + (f"?{urlencode(rest)}" if rest else "")
        cookie = f"{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/"
        await _respond(
            send,
            303,
            b"",
            b"text/plain",
            [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode())],
        )

    async def _unauthorized(self, scope: Scope, send: Send, *, wrong_token: bool = False) -> None:
        if _wants_html(scope):
            await _respond(send, 401, self.unauthorized_page, b"text/html; charset=utf-8", [])
            return
        message = (
            "wrong token"
            if wrong_token
            else "authentication required: send Authorization: Bearer TOKEN (the token "
            "duragent server printed)"
        )
        body = json.dumps({"error": message, "status": 401}).encode()
        await _respond(send, 401, body, b"application/json", [(b"www-authenticate", b"Bearer")])
