"""Importing a user's module and finding the workflows, activities and plugins it defines."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .._definitions import get_activity_definition, get_workflow_definition
from ..errors import ConfigurationError


@dataclass(frozen=True)
class AppDefinitions:
    """What a module offers a worker.

    Attributes:
        module: The imported module.
        workflows: ``@workflow.defn`` classes.
        activities: ``@activity.defn`` functions.
        task_queue: The module's ``TASK_QUEUE``, if it defines one.
        plugins: The module's ``PLUGINS`` (worker plugins, e.g. ``OpenAIAgentsPlugin()``).
        interceptors: The module's ``INTERCEPTORS`` (``duragent.interceptor.Interceptor``
            instances, the first outermost).
    """

    module: ModuleType
    workflows: list[type]
    activities: list[Callable[..., Any]]
    task_queue: str | None
    plugins: list[Any] = field(default_factory=lambda: [])
    interceptors: list[Any] = field(default_factory=lambda: [])

    @property
    def workflow_names(self) -> list[str]:
        """Registered workflow type names."""
        return [d.name for w in self.workflows if (d := get_workflow_definition(w)) is not None]

    @property
    def activity_names(self) -> list[str]:
        """Registered activity type names (``*`` for a dynamic activity)."""
        names: list[str] = []
        for fn in self.activities:
            d = get_activity_definition(fn)
            if d is not None:
                names.append("* (dynamic)" if d.dynamic else d.name)
        return names

    @property
    def plugin_names(self) -> list[str]:
        """Class names of the plugins."""
        return [type(p).__name__ for p in self.plugins]


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or (os.altsep is not None and os.altsep in spec)


def _where(error: BaseException) -> str:
    """``file:line`` of the innermost frame of ``error`` (or of a syntax error)."""
    if isinstance(error, SyntaxError) and error.filename:
        return f" ({error.filename}:{error.lineno})"
    frames = traceback.extract_tb(error.__traceback__)
    return f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _import_error(spec: str, error: BaseException) -> ConfigurationError:
    return ConfigurationError(
        f"error while importing {spec!r}: {type(error).__name__}: {error}{_where(error)}"
    )


def _import_file(spec: str) -> ModuleType:
    path = Path(spec).resolve()
    if not path.is_file():
        raise ConfigurationError(f"no such file: {spec}")
    if path.suffix != ".py":
        raise ConfigurationError(f"{spec} is not a Python file (.py)")
    # Like `python path/to/app.py`: the file's directory is importable, so the module can
    # import its siblings.
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    if existing is not None or not name.isidentifier():
        name = f"_duragent_app_{abs(hash(str(path)))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigurationError(f"cannot import {spec}")
    module = importlib.util.module_from_spec(module_spec)
    # Registered before running it, as a normal import does (dataclasses and pydantic look
    # their module up while the module body runs).
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        raise _import_error(spec, error) from error
    return module


def _import_dotted(spec: str) -> ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and (spec == missing or spec.startswith(missing + ".")):
            raise ConfigurationError(
                f"no module named {spec!r} (looked in {cwd} and on sys.path); "
                "pass a dotted module name importable from here, or a path to a .py file"
            ) from error
        raise _import_error(spec, error) from error
    except Exception as error:
        raise _import_error(spec, error) from error


def import_app_module(spec: str) -> ModuleType:
    """Import a module given as a dotted name (``myapp.workflows``) or a ``.py`` path.

    The current directory is put on ``sys.path`` first, so modules of the project the
    command runs in import as they would with ``python -m``.

    Raises:
        ConfigurationError: The module does not exist or raised while importing.
    """
    if not spec:
        raise ConfigurationError("no module given")
    return _import_file(spec) if _looks_like_path(spec) else _import_dotted(spec)


def _listed(module: ModuleType, attr: str) -> list[Any] | None:
    value = getattr(module, attr, None)
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(
            f"{module.__name__}.{attr} must be a list, not {type(value).__name__}"
        )
    return list(value)  # pyright: ignore[reportUnknownArgumentType]


def _unique(items: Sequence[Any]) -> list[Any]:
    seen: set[int] = set()
    out: list[Any] = []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out


def _instances(module: ModuleType, attr: str) -> list[Any]:
    """The module's list ``attr``, refusing classes listed where instances belong."""
    items = _listed(module, attr) or []
    for item in items:
        if isinstance(item, type):
            raise ConfigurationError(
                f"{module.__name__}.{attr} holds the class {item.__name__}; "
                f"list an instance: {item.__name__}()"
            )
    return _unique(items)


def _plugins(module: ModuleType) -> list[Any]:
    plugins = _instances(module, "PLUGINS")
    for plugin in plugins:
        if not callable(getattr(plugin, "configure_worker", None)):
            raise ConfigurationError(
                f"{module.__name__}.PLUGINS holds {plugin!r}, which is not a worker plugin "
                "(it has no configure_worker method)"
            )
    return plugins


def discover(module: ModuleType, *, require_definitions: bool = True) -> AppDefinitions:
    """Find the workflows, activities and plugins of ``module``.

    Every module-level ``@workflow.defn`` class and ``@activity.defn`` function is taken,
    unless the module lists them itself in ``WORKFLOWS`` / ``ACTIVITIES``. Worker plugins
    come from ``PLUGINS`` (a list of plugin objects, e.g. ``[OpenAIAgentsPlugin()]``), and
    activity interceptors from ``INTERCEPTORS``.

    Args:
        module: The imported module.
        require_definitions: Fail when the module offers nothing to run (no workflows,
            activities or plugins). The worker command passes False when it adds a plugin
            of its own (``--agents``).

    Raises:
        ConfigurationError: ``WORKFLOWS``/``ACTIVITIES``/``PLUGINS``/``INTERCEPTORS`` hold
            something else, or the module defines nothing to run.
    """
    members = list(vars(module).values())
    workflows = _listed(module, "WORKFLOWS")
    if workflows is None:
        workflows = [m for m in members if isinstance(m, type) and get_workflow_definition(m)]
    else:
        for w in workflows:
            if get_workflow_definition(w) is None:
                raise ConfigurationError(
                    f"{module.__name__}.WORKFLOWS holds {w!r}, which is not a @workflow.defn class"
                )
    activities = _listed(module, "ACTIVITIES")
    if activities is None:
        activities = [m for m in members if callable(m) and get_activity_definition(m)]
    else:
        for a in activities:
            if get_activity_definition(a) is None:
                raise ConfigurationError(
                    f"{module.__name__}.ACTIVITIES holds {a!r}, "
                    "which is not an @activity.defn function"
                )
    plugins = _plugins(module)
    if require_definitions and not workflows and not activities and not plugins:
        raise ConfigurationError(
            f"module {module.__name__!r} defines no @workflow.defn classes, "
            "@activity.defn functions or PLUGINS"
        )
    queue = getattr(module, "TASK_QUEUE", None)
    if queue is not None and not isinstance(queue, str):
        raise ConfigurationError(f"{module.__name__}.TASK_QUEUE must be a string")
    return AppDefinitions(
        module=module,
        workflows=_unique(workflows),
        activities=_unique(activities),
        task_queue=queue or None,
        plugins=plugins,
        # Checked further by the worker (check_interceptors).
        interceptors=_instances(module, "INTERCEPTORS"),
    )


def load_app(spec: str, *, require_definitions: bool = True) -> AppDefinitions:
    """Import ``spec`` and discover its workflows, activities and plugins (see
    :func:`discover`)."""
    return discover(import_app_module(spec), require_definitions=require_definitions)
