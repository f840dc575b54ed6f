"""Duragent on a Temporal cluster: the same workflows, activities and durable agents.

Install the extra, then change only the address::

    pip install 'duragent[temporal]'

    client = await Client.connect("temporal://127.0.0.1:7233/default")

``Client``, ``Worker(client, ...)`` (a :class:`~duragent.temporal.worker.TemporalWorker`),
the CLI (``duragent --address temporal://...``), ``usage_report`` and the approvals helpers
then work on the cluster: see :mod:`duragent.temporal.backend`. Workflow code reaches
Temporal through the same :class:`~duragent._runtime.WorkflowRuntime` seam as the embedded
engine, implemented here on ``temporalio.workflow`` (public API only).
:class:`~duragent.temporal.dev_server.DevServer` starts a local development server.
:class:`~duragent.temporal.codec.ChunkTreeCodec` keeps long agents' histories linear
(``temporal://host:port/namespace?chunks=chunks.db``).
"""

from __future__ import annotations

try:
    import temporalio  # noqa: F401  (checked here so the error names the extra)
except ImportError as err:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "duragent.temporal needs the Temporal Python SDK, which is not installed: "
        "pip install 'duragent[temporal]'"
    ) from err

from typing import TYPE_CHECKING, Any

from .codec import ChunkStore, ChunkTreeCodec, SQLiteChunkStore
from .dev_server import DevServer, DevServerError, find_temporal_binary

if TYPE_CHECKING:
    from .backend import TemporalBackend

__all__ = [
    "ChunkStore",
    "ChunkTreeCodec",
    "DevServer",
    "DevServerError",
    "SQLiteChunkStore",
    "connect_backend",
    "find_temporal_binary",
]


async def connect_backend(target: str, **options: Any) -> TemporalBackend:
    """Open the client-side backend for ``temporal://host:port/namespace``: what
    ``Client.connect`` calls for such an address.

    Args:
        target: ``temporal://host:port/namespace`` (port 7233 and namespace ``default``
            when left out; ``?chunks=PATH``: the chunk-tree codec on that chunk store).
        **options: ``namespace``, ``tls`` and ``api_key`` (``Client.connect``'s
            keywords of the same names), ``payload_codec`` (a ``temporalio`` payload codec,
            e.g. :class:`~duragent.temporal.codec.ChunkTreeCodec`), ``identity`` (recorded
            by Temporal as the sender of signals, updates, cancellations and
            terminations), and more ``temporalio.client.Client.connect`` arguments
            (``rpc_metadata``, ``connect_timeout``, ...); from ``Client.connect`` pass
            those as ``backend_options``.

    Raises:
        ConfigurationError: A malformed address, or the cluster cannot be reached.
    """
    from ._connect import connect_backend as connect

    return await connect(target, **options)
