"""Loading tools, agents and context types by ``module:qualname`` on any worker."""

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
