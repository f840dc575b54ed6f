"""Temporal's connection options (``namespace=``, ``tls=``, ``api_key=``) on the embedded
store: refused with a message saying what each is for and that the embedded store needs
none, before anything is created; in the CLI, ``--tls`` with a SQLite address is refused
the same way and an API key in the environment is for Temporal addresses only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from duragent import Client, ConfigurationError

from .conftest import db_url
from .test_cli_address import _invoke

EMBEDDED = "is the embedded store, which needs no namespace, TLS or API key"


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ({"namespace": "default"}, "namespace='default' names the Temporal namespace to use"),
        ({"tls": True}, "tls=True sets TLS on the connection to a Temporal server"),
        ({"tls": False}, "tls=False sets TLS on the connection to a Temporal server"),
        ({"api_key": "s3cret"}, "api_key=... is the API key a Temporal Cloud or secured"),
    ],
)
async def test_the_embedded_store_refuses_temporal_options(
    tmp_path: Path, option: dict[str, Any], said: str
) -> None:
    db = tmp_path / "app.db"
    for target in (db_url(db), str(db), "memory://"):
        with pytest.raises(ConfigurationError) as refused:
            await Client.connect(target, **option)
        message = str(refused.value)
        assert said in message
        assert f"{target!r} {EMBEDDED}" in message
        assert "temporal://HOST:PORT/NAMESPACE" in message
        assert "s3cret" not in message  # a secret is never printed
    assert not db.exists()  # refused before the store was opened


async def test_none_means_not_given(tmp_path: Path) -> None:
    client = await Client.connect(db_url(tmp_path / "a.db"), namespace=None, tls=None)
    await client.close()


def test_the_cli_refuses_tls_for_a_sqlite_address(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    asyncio.run(_create(db))
    result = _invoke("--tls", "--address", db_url(db), "list")
    assert result.exit_code == 1
    assert "error: tls=True sets TLS on the connection to a Temporal server" in result.stderr
    assert f"{db_url(db)!r} {EMBEDDED}" in result.stderr
    refused = _invoke("--address", db_url(db), "list", DURAGENT_TEMPORAL_TLS="1")
    assert refused.exit_code == 1 and "tls=True" in refused.stderr


def test_an_api_key_in_the_environment_is_for_temporal_addresses_only(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    asyncio.run(_create(db))
    result = _invoke("--address", db_url(db), "list", DURAGENT_TEMPORAL_API_KEY="s3cret")
    assert result.exit_code == 0, result.stderr


def test_help_names_the_options() -> None:
    text = " ".join(_invoke("--help").stdout.split())
    assert "--tls / --no-tls" in text
    assert "DURAGENT_TEMPORAL_API_KEY" in text


async def _create(db: Path) -> None:
    async with await Client.connect(db_url(db)):
        pass
