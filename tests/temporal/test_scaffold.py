"""The ``duragent[temporal]`` extra: an actionable error without it, and the shared dev
server every Temporal test uses."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


def test_the_runtime_uses_the_agents_integration_names() -> None:
    from duragent.openai_agents import _names
    from duragent.temporal import _instance

    assert _instance.APPROVAL_MARKER == _names.APPROVAL_MARKER
    assert _instance.DECIDE_UPDATE == _names.DECIDE_UPDATE
    assert _instance.PENDING_QUERY == _names.PENDING_QUERY


def test_temporal_addresses() -> None:
    from duragent.errors import ConfigurationError
    from duragent.temporal._connect import address_options, parse_address

    assert parse_address("temporal://127.0.0.1:7233/default") == ("127.0.0.1:7233", "default")
    assert parse_address("temporal://temporal.internal") == ("temporal.internal:7233", "default")
    assert parse_address("temporal://h:1/prod/") == ("h:1", "prod")
    assert parse_address("temporal://h:1/prod?chunks=/tmp/c.db") == ("h:1", "prod")
    for bad in ("temporal://", "temporal://h:x/ns", "temporal://h:1/a/b", "sqlite:///x.db"):
        with pytest.raises(ConfigurationError):
            parse_address(bad)
    assert address_options("temporal://h:1/ns?chunks=/tmp/c.db") == {"chunks": "/tmp/c.db"}
    assert address_options("temporal://h:1/ns") == {}
    with pytest.raises(ConfigurationError, match=r"unknown option 'chunk'.*\?chunks=PATH"):
        address_options("temporal://h:1/ns?chunk=x")


async def test_an_unreachable_cluster_is_a_clear_error() -> None:
    from duragent import Client
    from duragent.errors import ConfigurationError
    from duragent.temporal.dev_server import free_port

    with pytest.raises(ConfigurationError, match=r"cannot connect to Temporal at 127\.0\.0\.1:"):
        await Client.connect(f"temporal://127.0.0.1:{free_port()}/default")
