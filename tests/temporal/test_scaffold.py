"""The ``duragent[temporal]`` extra: an actionable error without it, and the shared dev
server every Temporal test uses."""

from __future__ import annotations

import subprocess
import sys

from ..temporal_server import TemporalServerInfo


def test_import_without_temporalio_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['temporalio'] = None\n"
        "try:\n"
        "    import duragent.temporal\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'duragent[temporal]'" in out.stdout


async def test_dev_server_answers_with_duragent_search_attributes(
    temporal_server: TemporalServerInfo,
) -> None:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.client import Client as TemporalClient

    client = await TemporalClient.connect(temporal_server.address)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=temporal_server.namespace)
    )
    assert "DuragentPendingApprovals" in listed.custom_attributes
    assert temporal_server.url.startswith("temporal://127.0.0.1:")
