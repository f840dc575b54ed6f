"""Turning a caller's string into one of Duragent's status or policy enums, with an error
that names the allowed values (a typo must not pass as "no match" or as a default)."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from .errors import ConfigurationError

E = TypeVar("E", bound=StrEnum)


def enum_value(enum: type[E], value: str, argument: str) -> E:
    """``value`` as a member of ``enum`` (members and their strings are both accepted).

    Raises:
        ConfigurationError: ``value`` is none of the enum's values; the message names the
            argument and lists the values.
    """
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise ConfigurationError(
            f"unknown {argument} {value!r}: use one of {allowed} ({enum.__name__})"
        ) from None
