"""Wake-ups: tell waiting workers and clients that something changed.

Correctness never depends on a wake-up (everybody also polls, with a bounded interval);
wake-ups only make reactions immediate. Within a process they are asyncio futures. Across
processes on Linux each process that waits binds an abstract Unix datagram socket
(no file on disk) and registers its address in the database; a process that commits a
change sends the changed topics to the other registered addresses.

Topics are short strings: ``wf:<queue>`` (workflow task available), ``act:<queue>``
(activity task available), ``run:<run id>`` (a run changed: closed, update or query
answered), ``timer`` (a timer or deadline moved earlier), and for live views
``hist:<run id>`` (a new event, a failed attempt or a failing workflow task) and ``runs``
(the same, for any run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Final

_MAX_DATAGRAM: Final = 8192


class Notifier:
    """Process-local topic wake-ups, optionally bridged to other processes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._socket: socket.socket | None = None
        self._reader_loop: asyncio.AbstractEventLoop | None = None
        self.address: str | None = None
        # Every open store on this file can list the peers; a closed one is dropped.
        self._peer_sources: list[Callable[[], list[str]]] = []

    # -- local ---------------------------------------------------------------------------

    def notify(self, topics: Iterable[str], *, remote: bool = True) -> None:
        """Wake everybody waiting on any of ``topics`` (here, and in other processes)."""
        topics = tuple(topics)
        if not topics:
            return
        woken: list[asyncio.Future[None]] = []
        with self._lock:
            for topic in topics:
                waiters = self._waiters.pop(topic, None)
                if waiters:
                    woken.extend(waiters)
        for fut in woken:
            _wake(fut)
        if remote and self._socket is not None:
            self._send_remote(topics)

    def listen(self, topics: Iterable[str]) -> Listener:
        """Start listening now (before checking for work, so no wake-up is missed)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        topics = tuple(topics)
        with self._lock:
            for topic in topics:
                self._waiters.setdefault(topic, set()).add(fut)
        return Listener(self, topics, fut)

    def _unlisten(self, topics: tuple[str, ...], fut: asyncio.Future[None]) -> None:
        with self._lock:
            for topic in topics:
                waiters = self._waiters.get(topic)
                if waiters is not None:
                    waiters.discard(fut)
                    if not waiters:
                        del self._waiters[topic]

    async def wait(self, topics: Iterable[str], timeout: float) -> bool:
        """Wait until one of ``topics`` is notified or ``timeout`` seconds pass.

        Returns True if woken by a notification.
        """
        return await self.listen(topics).wait(timeout)

    # -- cross-process -------------------------------------------------------------------

    def enable_remote(self, namespace: str, peers: Callable[[], list[str]]) -> str | None:
        """Listen for wake-ups from other processes; returns this process's address.

        ``peers`` returns the addresses of the other listening processes. Only Linux has
        abstract sockets; elsewhere this is a no-op and polling does the work.
        """
        if not sys.platform.startswith("linux"):
            return None
        if peers not in self._peer_sources:
            self._peer_sources.append(peers)
        if self._socket is not None:
            return self.address
        address = f"duragent-{namespace}-{os.getpid()}-{id(self):x}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind("\0" + address)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        self._socket = sock
        self.address = address
        return address

    def remove_peer_source(self, peers: Callable[[], list[str]]) -> None:
        """Forget a peer source (its store is closing)."""
        with contextlib.suppress(ValueError):
            self._peer_sources.remove(peers)

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read remote wake-ups on ``loop`` (the newest loop wins: a process normally has
        one, but test runners start a fresh loop per test)."""
        if self._socket is None or self._reader_loop is loop:
            return
        self.detach_loop()
        self._reader_loop = loop
        loop.add_reader(self._socket.fileno(), self._on_readable)

    def detach_loop(self) -> None:
        old = self._reader_loop
        if self._socket is not None and old is not None and not old.is_closed():
            with contextlib.suppress(Exception):
                old.remove_reader(self._socket.fileno())
        self._reader_loop = None

    def _on_readable(self) -> None:
        sock = self._socket
        if sock is None:
            return
        topics: set[str] = set()
        while True:
            try:
                data = sock.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            topics.update(t for t in data.decode("utf-8", "replace").split("\n") if t)
        if topics:
            self.notify(topics, remote=False)

    def _send_remote(self, topics: tuple[str, ...]) -> None:
        sock = self._socket
        if sock is None:
            return
        addresses: list[str] = []
        for source in list(self._peer_sources):
            try:
                addresses = source()
                break
            except Exception:  # a store that is closing: try the next one
                continue
        payload: bytes | None = None
        for address in addresses:
            if address == self.address:
                continue  # (often the only one: then nothing is encoded)
            if payload is None:
                payload = "\n".join(topics).encode()[:_MAX_DATAGRAM]
            # Non-blocking: a full or vanished peer misses a wake-up and polls instead.
            with contextlib.suppress(OSError):
                sock.sendto(payload, "\0" + address)

    def close(self) -> None:
        self.detach_loop()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
            self.address = None


class Listener:
    """A registered interest in topics; :meth:`wait` once, then it is closed."""

    def __init__(
        self, notifier: Notifier, topics: tuple[str, ...], fut: asyncio.Future[None]
    ) -> None:
        self._notifier = notifier
        self._topics = topics
        self._fut = fut

    async def wait(self, timeout: float) -> bool:
        """Wait for a notification (True) or the timeout (False)."""
        try:
            if timeout > 0 and not self._fut.done():
                # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that
                # races with the future completing, and the caller would never stop.
                await asyncio.wait((self._fut,), timeout=timeout)
            return self._fut.done()
        finally:
            self.close()

    def close(self) -> None:
        self._notifier._unlisten(self._topics, self._fut)  # pyright: ignore[reportPrivateUsage]


def _wake(fut: asyncio.Future[None]) -> None:
    loop = fut.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        if not fut.done():
            fut.set_result(None)
    else:
        with contextlib.suppress(RuntimeError):  # loop closed
            loop.call_soon_threadsafe(_set_if_pending, fut)


def _set_if_pending(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
