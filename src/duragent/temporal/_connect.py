"""Opening the Temporal backend: ``temporal://host:port/namespace[?options]`` addresses."""

from __future__ import annotations

import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Final

import temporalio.client
from temporalio.converter import PayloadCodec

from ..errors import ConfigurationError
from .backend import TemporalBackend

__all__ = ["address_options", "connect_backend", "parse_address"]

DEFAULT_PORT: Final = 7233
ADDRESS_OPTIONS: Final = ("chunks", "stream_store")
"""What an address may set after ``?`` (what a CLI user, who has only ``--address``,
needs): the chunk store of the chunk-tree codec, the stream store of token streams."""


def address_options(target: str) -> dict[str, str]:
    """The options after ``?`` in a Temporal address (``?chunks=PATH``,
    ``?stream_store=PATH``).

    Raises:
        ConfigurationError: An option Duragent does not know, or one repeated or empty.
    """
    query = target.partition("?")[2]
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    options = dict(pairs)
    unknown = sorted(set(options) - set(ADDRESS_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"unknown option {unknown[0]!r} in Temporal address {target!r}; the address "
            "takes ?chunks=PATH (the chunk store of the chunk-tree payload codec) and "
            "?stream_store=PATH (the stream store of token streams)"
        )
    if len(options) != len(pairs) or not all(options.values()):
        raise ConfigurationError(
            f"bad Temporal address {target!r}: each option must be given once, with a value"
        )
    return options


def parse_address(target: str) -> tuple[str, str]:
    """``temporal://host[:port][/namespace]`` as (``host:port``, namespace).

    Raises:
        ConfigurationError: Not such an address.
    """
    if not target.startswith("temporal://"):
        raise ConfigurationError(f"not a Temporal address: {target!r}")
    rest = target[len("temporal://") :].partition("?")[0]
    hostport, _, namespace = rest.partition("/")
    namespace = namespace.strip("/") or "default"
    if not hostport or "/" in namespace:
        raise ConfigurationError(
            f"bad Temporal address {target!r}: use temporal://host:port/namespace"
        )
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if port and not port.isdigit():
        raise ConfigurationError(f"bad port in Temporal address {target!r}")
    return (hostport if port else f"{host}:{DEFAULT_PORT}"), namespace


async def connect_backend(
    target: str,
    *,
    identity: str | None = None,
    time_skipping: bool = False,
    payload_codec: PayloadCodec | None = None,
    stream_store: str | Path | None = None,
    **options: Any,
) -> TemporalBackend:
    """Connect to the Temporal cluster ``target`` names (what
    ``Client.connect("temporal://host:port/namespace")`` calls).

    Args:
        target: ``temporal://host:port/namespace`` (port 7233 and namespace ``default``
            when left out); ``?chunks=PATH`` uses a
            :class:`~duragent.temporal.codec.ChunkTreeCodec` on that SQLite chunk store.
        identity: Recorded by Temporal as the sender of signals, updates, cancellations
            and terminations.
        time_skipping: Start workflows with Temporal's (experimental) per-workflow time
            skipping (:attr:`TemporalBackend.time_skipping`).
        payload_codec: A ``temporalio`` payload codec for every payload (e.g.
            :class:`~duragent.temporal.codec.ChunkTreeCodec`, which keeps history linear);
            workers built on this client use it too.
        stream_store: The SQLite file that keeps the runs' token streams, outside
            Temporal's history (:mod:`duragent.temporal.streams`); the address's
            ``?stream_store=PATH`` sets it too.
        **options: More ``temporalio.client.Client.connect`` arguments (``tls``,
            ``api_key``, ``rpc_metadata``, ...).

    Raises:
        ConfigurationError: A malformed address, or the cluster cannot be reached.
    """
    from .worker import temporal_data_converter

    address, namespace = parse_address(target)
    in_address = address_options(target)
    chunks = in_address.get("chunks")
    if "stream_store" in in_address:
        if stream_store is not None and str(stream_store) != in_address["stream_store"]:
            raise ConfigurationError(
                f"two stream stores: {in_address['stream_store']!r} in the address and "
                f"{str(stream_store)!r} in backend_options; give one"
            )
        stream_store = in_address["stream_store"]
    if chunks and payload_codec is None:
        from .codec import ChunkTreeCodec

        payload_codec = ChunkTreeCodec(chunks)
    try:
        client = await temporalio.client.Client.connect(
            address,
            namespace=namespace,
            identity=identity or f"duragent-{uuid.uuid4().hex[:8]}",
            data_converter=temporal_data_converter(payload_codec),
            **options,
        )
    except RuntimeError as err:  # temporalio's "Failed client connect: ..."
        raise ConfigurationError(f"cannot connect to Temporal at {address}: {err}") from err
    return TemporalBackend(
        client,
        address=f"temporal://{address}/{namespace}",
        time_skipping=time_skipping,
        stream_store=stream_store,
    )
