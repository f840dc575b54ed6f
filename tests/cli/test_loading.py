"""Finding a module's workflows and activities, and the small parsing helpers."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from duragent import ConfigurationError
from duragent.cli._common import parse_args, sqlite_file
from duragent.cli.loading import discover, import_app_module, load_app
from duragent.interceptor import Interceptor
from duragent.views.format import fmt_duration
from tests.fixtures import cli_app


def test_discovers_module_level_definitions() -> None:
    app = discover(cli_app)
    assert app.task_queue == "cli-tests"
    assert set(app.workflow_names) == {"Greeter", "Flaky", "Stubborn", "Waiter", "Buggy", "Failing"}
    assert set(app.activity_names) == {"greet", "flaky", "always_fails"}


def test_workflows_and_activities_lists_override_discovery() -> None:
    module = types.ModuleType("partial_app")
    module.Greeter = cli_app.Greeter  # type: ignore[attr-defined]
    module.Waiter = cli_app.Waiter  # type: ignore[attr-defined]
    module.greet = cli_app.greet  # type: ignore[attr-defined]
    module.WORKFLOWS = [cli_app.Waiter, cli_app.Waiter]  # type: ignore[attr-defined]
    app = discover(module)
    assert app.workflow_names == ["Waiter"]
    assert app.activity_names == ["greet"]
    assert app.task_queue is None

    module.ACTIVITIES = [cli_app.not_registered]  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match=r"not an @activity\.defn function"):
        discover(module)
    module.ACTIVITIES = cli_app.greet  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="must be a list"):
        discover(module)
    module.ACTIVITIES = [cli_app.greet]  # type: ignore[attr-defined]
    module.INTERCEPTORS = [Interceptor]  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match=r"holds the class Interceptor; list an inst"):
        discover(module)
    module.INTERCEPTORS = [Interceptor()]  # type: ignore[attr-defined]
    assert [type(i) for i in discover(module).interceptors] == [Interceptor]


def test_import_by_path_lets_the_module_import_its_siblings(tmp_path: Path) -> None:
    (tmp_path / "cli_helpers_sibling.py").write_text("QUEUE = 'from-sibling'\n")
    (tmp_path / "cli_path_app.py").write_text(
        "from cli_helpers_sibling import QUEUE as TASK_QUEUE\n"
        "from tests.fixtures.cli_app import Greeter, greet\n"
    )
    app = load_app(str(tmp_path / "cli_path_app.py"))
    assert app.task_queue == "from-sibling"
    assert app.workflow_names == ["Greeter"]
    assert app.activity_names == ["greet"]


def test_import_errors_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"no module named 'tests\.fixtures\.nope'"):
        import_app_module("tests.fixtures.nope")
    bad = tmp_path / "cli_bad_import.py"
    bad.write_text("import module_that_does_not_exist_anywhere\n")
    with pytest.raises(ConfigurationError, match="module_that_does_not_exist_anywhere"):
        import_app_module(str(bad))
    not_py = tmp_path / "app.txt"
    not_py.write_text("")
    with pytest.raises(ConfigurationError, match="not a Python file"):
        import_app_module(str(not_py))


def test_parse_args() -> None:
    assert parse_args(("42", "true", '{"a": [1]}', '"42"', "hello", "")) == [
        42,
        True,
        {"a": [1]},
        "42",
        "hello",
        "",
    ]


def test_sqlite_file() -> None:
    assert sqlite_file("sqlite:///rel.db") == "rel.db"
    assert sqlite_file("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_file("plain.db") == "plain.db"
    assert sqlite_file("memory://") is None
    assert sqlite_file("temporal://localhost:7233/default") is None


def test_fmt_duration() -> None:
    assert fmt_duration(None) == "-"
    assert fmt_duration(850) == "850ms"
    assert fmt_duration(2_345) == "2.35s"
    assert fmt_duration(252_000) == "4m12s"
    assert fmt_duration(3 * 3_600_000 + 120_000) == "3h02m"
    assert fmt_duration(2 * 86_400_000 + 4 * 3_600_000) == "2d04h"
