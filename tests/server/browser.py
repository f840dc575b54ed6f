"""Playwright driving Debian's chromium-headless-shell (installed by scripts/test.py), with
every request outside the server refused and recorded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

BROWSER_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(
    os.environ.get("DURAGENT_SCREENSHOTS") or ROOT / ".test-artifacts" / "screenshots"
)
"""Where the browser tests save screenshots (test artifacts). The README's pictures are
these, refreshed with ``DURAGENT_SCREENSHOTS=docs/screenshots``."""
ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-pings",
    "--metrics-recording-only",
]


def browser_executable() -> str | None:
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_browser() -> str:
    """The browser to drive. In CI a missing browser fails the test; locally
    DURAGENT_SKIP_BROWSER=1 skips it."""
    if os.environ.get("DURAGENT_SKIP_BROWSER") and not os.environ.get("CI"):
        pytest.skip("DURAGENT_SKIP_BROWSER is set")
    path = browser_executable()
    if path is None:
        pytest.fail(
            "no Chromium found: scripts/test.py installs Debian's chromium-headless-shell "
            "(apt-get install -y --no-install-recommends chromium-headless-shell)"
        )
    return path


@dataclass
class Session:
    page: Any
    base: str
    foreign: list[str] = field(default_factory=lambda: [])
    """Requests to any other host (refused)."""
    dialogs: list[str] = field(default_factory=lambda: [])
    console_errors: list[str] = field(default_factory=lambda: [])


@contextmanager
def browser_session(base_url: str, token: str) -> Iterator[Session]:
    """A page logged in to the server at ``base_url``."""
    from playwright.sync_api import sync_playwright

    executable = require_browser()
    allowed = urlsplit(base_url).netloc
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            session = Session(page, base_url)

            def route(r: Any) -> None:
                url = r.request.url
                if urlsplit(url).netloc == allowed or url.startswith("data:"):
                    r.continue_()
                else:
                    session.foreign.append(url)
                    r.abort()

            context.route("**/*", route)

            def on_dialog(dialog: Any) -> None:
                session.dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on(
                "console",
                lambda m: session.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.goto(f"{base_url}/?token={token}")
            yield session
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
