"""Search attributes and memo: checking what workflow and client code pass, the markers that
record their changes on the embedded engine, and merging a change into a run's values.

A search attribute is a named, indexed value of a run that ``list_workflows`` can filter
on: a string (Temporal's ``Keyword``), an int, a float, a bool, a datetime (kept as an
ISO-8601 string in UTC) or a list of strings (``KeywordList``; a filter matches when the
list contains the value). A memo entry is any JSON-able value, shown by ``describe`` and
not indexed. Setting a name to ``None`` removes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from .errors import ConfigurationError

SEARCH_ATTRIBUTES_MARKER: Final = "duragent.search_attributes"
"""The marker that records ``workflow.upsert_search_attributes`` on the embedded engine."""
MEMO_MARKER: Final = "duragent.memo"
"""The marker that records ``workflow.upsert_memo`` on the embedded engine."""
PROPERTY_MARKERS: Final = (SEARCH_ATTRIBUTES_MARKER, MEMO_MARKER)

_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

SearchAttributeValue = str | int | float | bool | datetime | list[str]


def check_name(name: object, what: str = "search attribute") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"{what} name {name!r} is not valid: use letters, digits and underscores, "
            "starting with a letter or underscore (at most 64 characters)"
        )
    return name


def search_attribute_value(name: str, value: object) -> Any:
    """``value`` checked (a tuple of str becomes a list).

    Raises:
        ConfigurationError: Not a supported search attribute value.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigurationError(
                f"search attribute {name!r}: a datetime needs a time zone (e.g. datetime.now(UTC))"
            )
        return value
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):  # pyright: ignore[reportUnknownVariableType]
        return [str(v) for v in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    raise ConfigurationError(
        f"search attribute {name!r} cannot hold {type(value).__name__} values: use a str, "
        "int, float, bool, timezone-aware datetime or list of str"
    )


def typed_value(name: str, kind: str, value: object) -> Any:
    """``value`` checked against the type ``kind`` (Temporal's type name) of a typed key: an
    int becomes a float for a Double, a tuple a list for a KeywordList.

    Raises:
        ConfigurationError: A value of another type.
    """
    checked = search_attribute_value(name, value)
    ok = {
        "Text": isinstance(checked, str),
        "Keyword": isinstance(checked, str),
        "Int": isinstance(checked, int) and not isinstance(checked, bool),
        "Double": isinstance(checked, int | float) and not isinstance(checked, bool),
        "Bool": isinstance(checked, bool),
        "Datetime": isinstance(checked, datetime),
        "KeywordList": isinstance(checked, list),
    }.get(kind)
    if ok is None:
        raise ConfigurationError(f"search attribute {name!r}: unknown type {kind!r}")
    if not ok:
        raise ConfigurationError(f"search attribute {name!r} is a {kind}; it cannot hold {value!r}")
    return float(checked) if kind == "Double" else checked


def split_search_attributes(
    attributes: object, *, removals: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """Checked search attributes and the types their typed keys gave (Temporal's type
    names, by attribute name; none for a plain mapping, whose types follow the values).

    ``attributes`` is a mapping of name to value, a ``TypedSearchAttributes``, or (with
    ``removals``, for ``workflow.upsert_search_attributes``) a sequence of
    ``SearchAttributeUpdate``; ``None`` values remove a name only with ``removals``.

    Raises:
        ConfigurationError: A bad name, value or argument.
    """
    from .search_attributes import SearchAttributeUpdate, TypedSearchAttributes

    values: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    if isinstance(attributes, TypedSearchAttributes):
        for key, value in attributes:
            values[key.name] = value
            kinds[key.name] = str(key.indexed_value_type)
        return values, kinds
    if isinstance(attributes, Mapping):
        for name, value in attributes.items():  # pyright: ignore[reportUnknownVariableType]
            check_name(name)
            if value is None:
                if not removals:
                    raise ConfigurationError(f"search attribute {name!r} has no value (None)")
                values[name] = None
            else:
                values[name] = search_attribute_value(name, value)  # pyright: ignore[reportUnknownArgumentType]
        return values, kinds
    if removals and isinstance(attributes, Sequence) and not isinstance(attributes, str):
        for update in attributes:  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(update, SearchAttributeUpdate):
                raise ConfigurationError(
                    "search attribute updates are made by key.value_set(value) or "
                    f"key.value_unset(), not {update!r}"
                )
            name = update.key.name  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            kind = str(update.key.indexed_value_type)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            values[name] = None if update.value is None else typed_value(name, kind, update.value)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            kinds[name] = kind
        return values, kinds
    accepted = "a mapping of name to value or TypedSearchAttributes"
    if removals:
        accepted += ", or a sequence of key.value_set(...) / key.value_unset() updates"
    raise ConfigurationError(f"search attributes are {accepted}, not {type(attributes).__name__}")


def check_search_attributes(attributes: object, *, removals: bool) -> dict[str, Any]:
    """Checked search attributes (see :func:`split_search_attributes`).

    Raises:
        ConfigurationError: A bad name or value.
    """
    return split_search_attributes(attributes, removals=removals)[0]


def check_filters(filters: object) -> tuple[tuple[str, Any], ...]:
    """List filters as checked ``(name, value)`` pairs (a mapping, a
    ``TypedSearchAttributes``, or pairs that may repeat a name, whose names may be typed
    keys).

    Raises:
        ConfigurationError: A bad name or value.
    """
    from .search_attributes import SearchAttributeKey, TypedSearchAttributes

    if isinstance(filters, TypedSearchAttributes):
        return tuple((key.name, value) for key, value in filters)
    if isinstance(filters, Mapping):
        pairs: Sequence[Any] = list(filters.items())  # pyright: ignore[reportUnknownArgumentType]
    elif isinstance(filters, str | bytes) or not isinstance(filters, Sequence):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigurationError(
            "search attribute filters are a mapping of name to value or (name, value) pairs, "
            f"not {type(filters).__name__}"
        )
    else:
        pairs = filters
    out: list[tuple[str, Any]] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:  # pyright: ignore[reportUnknownArgumentType]
            raise ConfigurationError(
                f"a search attribute filter is a (name, value) pair, not {pair!r}"
            )
        name, value = pair  # pyright: ignore[reportUnknownVariableType]
        if isinstance(name, SearchAttributeKey):
            key: SearchAttributeKey[Any] = name
            out.append((key.name, typed_value(key.name, key.indexed_value_type, value)))
        else:
            out.append((check_name(name), search_attribute_value(name, value)))  # pyright: ignore[reportUnknownArgumentType]
    return tuple(out)


def stored(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Checked search attributes as the embedded store keeps and compares them: JSON
    values, datetimes as ISO-8601 strings in UTC."""
    return {
        k: v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v
        for k, v in attributes.items()
    }


def stored_pair(name: str, value: Any) -> tuple[str, Any]:
    """One checked ``(name, value)`` filter as the embedded store compares it."""
    return name, stored({name: value})[name]


def check_memo(memo: Mapping[str, Any]) -> dict[str, Any]:
    """The memo change as a plain dict (values are checked when they are encoded).

    Raises:
        ConfigurationError: Not a mapping with string keys.
    """
    if not isinstance(memo, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigurationError(f"a memo is a mapping of name to value, not {type(memo).__name__}")
    for key in memo:
        if not isinstance(key, str) or not key:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(f"memo keys are non-empty strings, not {key!r}")
    return dict(memo)


def merged(current: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with ``change`` applied: each name set, or removed where it is None."""
    out = dict(current)
    for name, value in change.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


_INT: Final = re.compile(r"^-?\d+$")
_FLOAT: Final = re.compile(r"^-?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)$")
_DATETIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def parse_filter(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` as the CLI and the HTTP API take a search attribute filter.

    The value's type follows how it is written: ``true`` / ``false`` a bool, ``42`` an
    int, ``0.5`` a float, an ISO-8601 time with a zone (``2026-12-24T18:00:00Z``) a
    datetime, anything else a string; double quotes keep a value a string (``"42"``).

    Raises:
        ConfigurationError: Not ``NAME=VALUE``, or a bad name or value.
    """
    name, sep, raw = text.partition("=")
    if not sep:
        raise ConfigurationError(
            f"search attribute filter {text!r} is not NAME=VALUE (e.g. CustomerId=c-42)"
        )
    name = check_name(name.strip())
    value: Any
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        value = raw[1:-1]
    elif raw in ("true", "false"):
        value = raw == "true"
    elif _INT.match(raw):
        value = int(raw)
    elif _FLOAT.match(raw):
        value = float(raw)
    elif _DATETIME.match(raw):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise ConfigurationError(
                f"search attribute {name!r}: {raw!r} is not an ISO-8601 time "
                '(quote it to match a string: NAME="...")'
            ) from None
    else:
        value = raw
    return name, search_attribute_value(name, value)


def filter_texts(name: str, value: Any) -> list[str]:
    """``NAME=VALUE`` filters that :func:`parse_filter` reads back as ``value`` (one per
    element of a list), for links to the runs with a run's values."""
    if isinstance(value, list):
        return [t for v in value for t in filter_texts(name, v)]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, bool):
        return [f"{name}={'true' if value else 'false'}"]
    if isinstance(value, int | float):
        return [f"{name}={value!r}"]
    text = f"{name}={value}"
    try:
        parsed = parse_filter(text)[1]
    except ConfigurationError:
        parsed = None
    if parsed == value or stored({name: parsed}).get(name) == value:  # a datetime's string
        return [text]
    return [f'{name}="{value}"']
