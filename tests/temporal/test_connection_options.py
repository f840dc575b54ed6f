"""Temporal's connection options on the Temporal backend, against the dev server:
``namespace=`` names the namespace (agreeing with the address's, or instead of it; two
different ones and a namespace the server lacks are clear errors), ``api_key=`` reaches
temporalio (the dev server ignores auth; with it TLS is on by default, as in temporalio),
``tls=True`` against the plaintext dev server fails at once with an error saying TLS was on.
The CLI's ``--tls`` / ``--no-tls`` and ``DURAGENT_TEMPORAL_API_KEY`` do the same."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from duragent import Client, ConfigurationError, WorkflowStatus
from duragent.temporal.backend import TemporalBackend

from ..cli.test_cli_address import _invoke
from ..temporal_server import TemporalServerInfo

pytestmark = pytest.mark.timeout(120)
CONNECT_LIMIT_S = 60  # a hang would be a bug: each connect must end, even on a loaded machine


async def _connect(target: str, **options: Any) -> Client:
    return await asyncio.wait_for(Client.connect(target, **options), CONNECT_LIMIT_S)


async def test_namespace_keyword(temporal_server: TemporalServerInfo) -> None:
    host = f"temporal://{temporal_server.address}"
    ns = temporal_server.namespace
    wid = f"ns-{uuid.uuid4().hex[:8]}"
    # namespace= instead of one in the address, and the same in both: one namespace.
    client = await _connect(host, namespace=ns)
    agreeing = await _connect(f"{host}/{ns}", namespace=ns)
    try:
        assert client.backend.address == agreeing.backend.address == f"{host}/{ns}"
        handle = await client.start_workflow("NoWorkerHere", id=wid, task_queue=wid)
        seen = await agreeing.get_workflow_handle(wid).describe()
        assert seen.status == WorkflowStatus.RUNNING
        await handle.terminate("test over")
    finally:
        await client.close()
        await agreeing.close()


async def test_namespace_errors(temporal_server: TemporalServerInfo) -> None:
    host = f"temporal://{temporal_server.address}"
    with pytest.raises(ConfigurationError, match=r"two namespaces: 'default' in the address"):
        await _connect(f"{host}/default", namespace="other")
    with pytest.raises(ConfigurationError, match=r"two namespaces"):
        await _connect(f"{host}/default", backend_options={"namespace": "other"})
    with pytest.raises(ConfigurationError, match=r"namespace= is empty"):
        await _connect(host, namespace="")
    missing = f"nosuch-{uuid.uuid4().hex[:6]}"
    for target, options in ((f"{host}/{missing}", {}), (host, {"namespace": missing})):
        with pytest.raises(ConfigurationError) as refused:
            await _connect(target, **options)
        assert f"has no namespace {missing!r}" in str(refused.value)
        assert f"temporal operator namespace create {missing}" in str(refused.value)


async def test_api_key_and_tls(temporal_server: TemporalServerInfo) -> None:
    url = temporal_server.url
    client = await _connect(url, api_key="k-123", tls=False)
    try:
        assert isinstance(client.backend, TemporalBackend)
        assert client.backend.client.api_key == "k-123"  # what temporalio sends
        await client.list_workflows()  # the key went with the call; the dev server ignores it
    finally:
        await client.close()
    # TLS against the plaintext dev server: refused at once, saying TLS was on; an API key
    # turns TLS on by itself (temporalio's default) unless tls=False.
    for options in ({"tls": True}, {"api_key": "k-123"}):
        with pytest.raises(
            ConfigurationError,
            match=rf"cannot connect to Temporal at {temporal_server.address} with TLS: ",
        ):
            await _connect(url, **options)
    with pytest.raises(ConfigurationError, match=r"tls given twice"):
        await _connect(url, tls=True, backend_options={"tls": False})


def test_the_cli_passes_tls_and_the_api_key(temporal_server: TemporalServerInfo) -> None:
    url = temporal_server.url
    listed = _invoke("--no-tls", "--address", url, "list", DURAGENT_TEMPORAL_API_KEY="k-1")
    assert listed.exit_code == 0, listed.stderr
    for args, env in ((["--tls"], {}), ([], {"DURAGENT_TEMPORAL_API_KEY": "k-1"})):
        refused = _invoke(*args, "--address", url, "list", **env)
        assert refused.exit_code == 1
        assert f"cannot connect to Temporal at {temporal_server.address} with TLS" in (
            refused.stderr
        )
        assert "k-1" not in refused.stderr
