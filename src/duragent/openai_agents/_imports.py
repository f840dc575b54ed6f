"""Naming tools, agents and context types by ``module:qualname``, and loading them by that
name on any worker."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ApplicationError


def import_path(path: str, what: str) -> Any:
    """The object at ``module:qualname``; a non-retryable error naming ``what`` when this
    process cannot import it (another attempt on the same worker would fail the same way)."""
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ApplicationError(
            f"{what} cannot be loaded from {path}: {err}", non_retryable=True
        ) from err
    return obj


def path_of(obj: object) -> str | None:
    """The ``module:qualname`` under which ``obj`` (a function or class) can be imported,
    or None when it has none (a lambda, something defined inside a function)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        return None
    return f"{module}:{qualname}"
