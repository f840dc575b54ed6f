"""``--address`` (env ``DURAGENT_ADDRESS``) names where workflows live, for every command;
``--db`` (env ``DURAGENT_DB``) is its older name. The Temporal form needs an extra, and
says so."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from duragent import Client, ConfigurationError
from duragent.cli import cli

from .conftest import QUEUE, db_url

CLEAN_ENV: dict[str, str | None] = {
    "COLUMNS": "200",
    "DURAGENT_DB": None,
    "DURAGENT_ADDRESS": None,
    "DURAGENT_TEMPORAL_API_KEY": None,
    "DURAGENT_TEMPORAL_TLS": None,
}


def _invoke(*args: str, **env: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env={**CLEAN_ENV, **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"duragent {' '.join(args)} raised {result.exception!r}")
    return result


def _make_db_with_run(path: Path, workflow_id: str) -> None:
    async def create() -> None:
        async with await Client.connect(db_url(path)) as client:
            await client.start_workflow("Greeter", "ada", id=workflow_id, task_queue=QUEUE)

    asyncio.run(create())


def test_every_form_of_the_address_reaches_the_store(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    _make_db_with_run(db, "from-a")
    for args, env in (
        (["--address", db_url(db)], {}),
        (["--address", str(db)], {}),
        ([], {"DURAGENT_ADDRESS": db_url(db)}),
        (["--db", db_url(db)], {}),
        ([], {"DURAGENT_DB": str(db)}),
    ):
        result = _invoke(*args, "list", "--json", **env)
        assert result.exit_code == 0, result.stderr
        assert '"from-a"' in result.stdout, (args, env)


def test_the_command_line_wins_over_the_environment(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _make_db_with_run(a, "from-a")
    _make_db_with_run(b, "from-b")
    result = _invoke("--address", db_url(a), "list", "--json", DURAGENT_DB=db_url(b))
    assert '"from-a"' in result.stdout
    result = _invoke("--db", db_url(b), "list", "--json", DURAGENT_ADDRESS=db_url(a))
    assert '"from-b"' in result.stdout


@pytest.mark.parametrize("where", ["command line", "environment"])
def test_both_at_once_are_refused(tmp_path: Path, where: str) -> None:
    a, b = db_url(tmp_path / "a.db"), db_url(tmp_path / "b.db")
    if where == "command line":
        result = _invoke("--address", a, "--db", b, "list")
        assert "--address and --db are both set" in result.stderr
    else:
        result = _invoke("list", DURAGENT_ADDRESS=a, DURAGENT_DB=b)
        assert "DURAGENT_ADDRESS and DURAGENT_DB are both set" in result.stderr
    assert result.exit_code == 2
    assert "give only one" in result.stderr
    assert not (tmp_path / "a.db").exists()
    assert not (tmp_path / "b.db").exists()
    # The same address twice is not a conflict.
    assert _invoke("--address", a, "--db", a, "list").exit_code == 1  # no database yet


def test_a_missing_database_names_the_option_it_came_from(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = _invoke("--address", db_url(missing), "show", "w")
    assert result.exit_code == 1
    assert f"no database at {missing} (from --address" in result.stderr
    result = _invoke("show", "w", DURAGENT_ADDRESS=db_url(missing))
    assert "(from DURAGENT_ADDRESS" in result.stderr
    assert not missing.exists()


@pytest.fixture
def without_temporal(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as if ``duragent[temporal]`` were not installed: neither temporalio
    nor duragent.temporal can be imported (a None entry in sys.modules makes an import
    fail with ModuleNotFoundError, exactly as a missing package does)."""
    for name in list(sys.modules):
        if name.startswith(("temporalio", "duragent.temporal")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "temporalio", None)
    monkeypatch.setitem(sys.modules, "duragent.temporal", None)


@pytest.mark.usefixtures("without_temporal")
def test_a_temporal_address_without_the_extra_says_how_to_install_it() -> None:
    result = _invoke("--address", "temporal://127.0.0.1:7233/default", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: temporal://127.0.0.1:7233/default needs")
    assert "pip install 'duragent[temporal]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("without_temporal")
@pytest.mark.parametrize("missing", ["duragent.temporal", "temporalio"])
async def test_connecting_to_temporal_without_the_extra(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    if missing == "temporalio":
        # duragent.temporal present but its dependency missing: the import of the
        # package fails on temporalio, which names the extra too.
        monkeypatch.delitem(sys.modules, "duragent.temporal")
    with pytest.raises(ConfigurationError, match=r"pip install 'duragent\[temporal\]'"):
        await Client.connect("temporal://localhost:7233/default")


def test_unknown_schemes_are_refused_clearly() -> None:
    result = _invoke("--address", "postgres://x/y", "list")
    assert result.exit_code == 1
    assert "unknown address scheme" in result.stderr
    assert "temporal://host:port/namespace" in result.stderr
