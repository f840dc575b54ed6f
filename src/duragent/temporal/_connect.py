"""Opening the Temporal backend: ``temporal://host:port/namespace[?options]`` addresses."""

from __future__ import annotations

import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Final

import temporalio.client
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

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


def _named_namespace(target: str) -> str | None:
    """The namespace the address names, None when it names none."""
    rest = target[len("temporal://") :].partition("?")[0]
    return rest.partition("/")[2].strip("/") or None


async def _check_namespace(client: temporalio.client.Client, address: str) -> None:
    """Raise a clear error now for a namespace the server does not have (temporalio
    connects without checking; every call would fail with a bare RPC error)."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ConfigurationError(
                f"the Temporal server at {address} has no namespace {client.namespace!r} "
                f"({err.message}); create it (temporal operator namespace create "
                f"{client.namespace}) or name another in the address or namespace="
            ) from None
        # Not allowed to describe it (a narrow API key) or another failure: the calls
        # that need the namespace report their own errors.


async def connect_backend(
    target: str,
    *,
    namespace: str | None = None,
    tls: bool | TLSConfig | None = None,
    api_key: str | None = None,
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
        namespace: The namespace, when the address names none (if it names one, the
            same one).
        tls: ``True`` or a ``temporalio.service.TLSConfig``; None: temporalio's default
            (TLS when ``api_key`` is given).
        api_key: Sent with every call (Temporal Cloud, a secured server).
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
        **options: More ``temporalio.client.Client.connect`` arguments
            (``rpc_metadata``, ``connect_timeout``, ...).

    Raises:
        ConfigurationError: A malformed address, a namespace other than the address's,
            the cluster cannot be reached, or it has no such namespace.
    """
    from .worker import temporal_data_converter

    address, in_address = parse_address(target)
    named = _named_namespace(target)
    if namespace is None:
        namespace = in_address
    elif not namespace:
        raise ConfigurationError("namespace= is empty: name a Temporal namespace")
    elif named is not None and named != namespace:
        raise ConfigurationError(
            f"two namespaces: {named!r} in the address {target!r} and {namespace!r} in "
            "namespace=; name it once (or the same in both)"
        )
    connect: dict[str, Any] = {}
    if tls is not None:
        connect["tls"] = tls
    if api_key is not None:
        connect["api_key"] = api_key
    query = address_options(target)
    chunks = query.get("chunks")
    if "stream_store" in query:
        if stream_store is not None and str(stream_store) != query["stream_store"]:
            raise ConfigurationError(
                f"two stream stores: {query['stream_store']!r} in the address and "
                f"{str(stream_store)!r} in backend_options; give one"
            )
        stream_store = query["stream_store"]
    if chunks and payload_codec is None:
        from .codec import ChunkTreeCodec

        payload_codec = ChunkTreeCodec(chunks)
    try:
        client = await temporalio.client.Client.connect(
            address,
            namespace=namespace,
            identity=identity or f"duragent-{uuid.uuid4().hex[:8]}",
            data_converter=temporal_data_converter(payload_codec),
            **connect,
            **options,
        )
    except RuntimeError as err:  # temporalio's "Failed client connect: ..."
        # With TLS on (tls=, or by default with an API key), a server without TLS
        # answers in plain text: say that TLS was on.
        how = " with TLS" if tls or (tls is None and api_key is not None) else ""
        raise ConfigurationError(f"cannot connect to Temporal at {address}{how}: {err}") from err
    if not options.get("lazy"):
        await _check_namespace(client, address)
    return TemporalBackend(
        client,
        address=f"temporal://{address}/{namespace}",
        time_skipping=time_skipping,
        stream_store=stream_store,
    )
