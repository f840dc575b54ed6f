"""Search attributes on Temporal: Duragent's plain ``{name: value}`` mappings as
temporalio's typed search attributes (the type follows the value: str Keyword, int Int,
float Double, bool Bool, datetime Datetime, list of str KeywordList), read back as plain
values, and as conditions of a visibility query."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import temporalio.converter
from temporalio.api.common.v1 import SearchAttributes
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.service import RPCError, RPCStatusCode

from .._search_attributes import check_name
from ..errors import ConfigurationError

__all__ = ["decode", "encode", "query_condition", "refused", "updates"]

_MICROSECOND: Final = timedelta(microseconds=1)

_INTERNAL: Final = ("Temporal", "Duragent", "BuildIds")
"""Prefixes of attributes set by Temporal or by Duragent itself, not shown as the run's."""


_FOR_TYPE: Final = {
    "Text": SearchAttributeKey.for_text,
    "Keyword": SearchAttributeKey.for_keyword,
    "Int": SearchAttributeKey.for_int,
    "Double": SearchAttributeKey.for_float,
    "Bool": SearchAttributeKey.for_bool,
    "Datetime": SearchAttributeKey.for_datetime,
    "KeywordList": SearchAttributeKey.for_keyword_list,
}


def key_for(name: str, value: Any, kind: str | None = None) -> SearchAttributeKey[Any]:
    """temporalio's typed key: of type ``kind`` (given by a Duragent typed key), or else the
    type that follows ``value`` (a checked search attribute value)."""
    if kind is not None:
        return _FOR_TYPE[kind](name)
    if isinstance(value, bool):
        return SearchAttributeKey.for_bool(name)
    if isinstance(value, int):
        return SearchAttributeKey.for_int(name)
    if isinstance(value, float):
        return SearchAttributeKey.for_float(name)
    if isinstance(value, datetime):
        return SearchAttributeKey.for_datetime(name)
    if isinstance(value, list):
        return SearchAttributeKey.for_keyword_list(name)
    return SearchAttributeKey.for_keyword(name)


def typed(
    attributes: Mapping[str, Any], types: Mapping[str, str] | None = None
) -> TypedSearchAttributes:
    """Checked search attributes (no removals) as temporalio's typed collection."""
    kinds = types or {}
    return TypedSearchAttributes(
        [SearchAttributePair(key_for(k, v, kinds.get(k)), v) for k, v in attributes.items()]
    )


def encode(
    attributes: Mapping[str, Any], types: Mapping[str, str] | None = None
) -> SearchAttributes:
    """Checked search attributes as the API message a start request carries."""
    api = SearchAttributes()
    temporalio.converter.encode_search_attributes(typed(attributes, types), api)
    return api


def decode(api: SearchAttributes) -> dict[str, Any]:
    """A run's own search attributes as plain values (datetimes as ISO-8601 strings in
    UTC, as the embedded store keeps them)."""
    out: dict[str, Any] = {}
    for key, raw in temporalio.converter.decode_typed_search_attributes(api):
        if key.name.startswith(_INTERNAL):
            continue
        value: Any = raw
        if isinstance(raw, datetime):
            value = raw.astimezone(UTC).isoformat()
        elif isinstance(raw, list | tuple):
            value = [str(v) for v in raw]  # pyright: ignore[reportUnknownVariableType]
        out[key.name] = value
    return out


def updates(
    attributes: Mapping[str, Any],
    current: TypedSearchAttributes,
    types: Mapping[str, str] | None = None,
) -> list[SearchAttributeUpdate[Any]]:
    """``workflow.upsert_search_attributes`` as temporalio updates (a removal uses the typed
    key given, else the key the run has, else a Keyword key)."""
    kinds = types or {}
    have = {pair.key.name: pair.key for pair in current}
    out: list[SearchAttributeUpdate[Any]] = []
    for name, value in attributes.items():
        if value is None:
            key = (
                _FOR_TYPE[kinds[name]](name)
                if name in kinds
                else have.get(name, SearchAttributeKey.for_keyword(name))
            )
            out.append(key.value_unset())
        else:
            out.append(key_for(name, value, kinds.get(name)).value_set(value))
    return out


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")  # RFC 3339
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def query_condition(name: str, value: Any) -> str:
    """``name = value`` in Temporal's list query language (for a KeywordList attribute it
    matches a list that contains the value, as on the embedded store)."""
    name = check_name(name)
    if isinstance(value, datetime):
        # Equality on a Datetime attribute matches nothing on the dev server's visibility
        # store; the microsecond that holds the value does.
        return f"{name} >= {_literal(value)} AND {name} < {_literal(value + _MICROSECOND)}"
    return f"{name} = {_literal(value)}"


def refused(err: RPCError) -> ConfigurationError | None:
    """The server's refusal of a search attribute (not registered on the namespace, or a
    value of another type) as a clear error, or None for any other error."""
    if err.status != RPCStatusCode.INVALID_ARGUMENT or "search attribute" not in err.message:
        return None
    return ConfigurationError(
        f"Temporal refused a search attribute: {err.message}. Each custom search attribute "
        "must be registered on the namespace with its type (temporal operator "
        "search-attribute create --name NAME --type Keyword|Text|Int|Double|Bool|Datetime|"
        "KeywordList; a dev server: temporal server start-dev --search-attribute NAME=TYPE, "
        "or DevServer(search_attributes=...)), and set or filtered with values of that type"
    )
