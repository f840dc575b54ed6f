"""Duragent on a Temporal cluster: the same workflows, activities and durable agents.

Install the extra, then change only the address::

    pip install 'duragent[temporal]'

    client = await Client.connect("temporal://127.0.0.1:7233/default")

Workflow code reaches Temporal through the same :class:`~duragent._runtime.WorkflowRuntime`
seam as the embedded engine, implemented here on ``temporalio.workflow`` (public API only).
:class:`~duragent.temporal.dev_server.DevServer` starts a local development server.
"""

from __future__ import annotations

try:
    import temporalio  # noqa: F401  (checked here so the error names the extra)
except ImportError as err:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "duragent.temporal needs the Temporal Python SDK, which is not installed: "
        "pip install 'duragent[temporal]'"
    ) from err

from .dev_server import DevServer, DevServerError, find_temporal_binary

__all__ = ["DevServer", "DevServerError", "find_temporal_binary"]
