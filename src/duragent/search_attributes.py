"""Typed search attribute keys, as in temporalio (``temporalio.common``).

A key names a search attribute and fixes its type, so code written for Temporal runs
unchanged, and on Temporal the value is sent with the type the namespace registered (a
``Text`` attribute, or a ``float`` attribute set from an ``int``)::

    CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
    PRIORITY = SearchAttributeKey.for_int("Priority")

    await client.start_workflow(
        Ticket.run, id="t-1", task_queue="support",
        search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER, "c-42")]),
    )
    workflow.upsert_search_attributes([PRIORITY.value_set(2), CUSTOMER.value_unset()])
    (await handle.describe()).typed_search_attributes.get(PRIORITY)  # 2

Plain mappings (``{"CustomerId": "c-42"}``) work everywhere a typed collection does; there
the type follows the Python value.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar, overload

from ._search_attributes import check_name, typed_value
from .errors import ConfigurationError

__all__ = [
    "SearchAttributeIndexedValueType",
    "SearchAttributeKey",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "TypedSearchAttributes",
]

T = TypeVar("T")
D = TypeVar("D")


class SearchAttributeIndexedValueType(StrEnum):
    """How a search attribute is indexed (the values are Temporal's type names, as
    ``temporal operator search-attribute create --type`` takes them)."""

    TEXT = "Text"
    """A string matched by its words on Temporal (full-text); exactly on the embedded store."""
    KEYWORD = "Keyword"
    """A string matched exactly."""
    INT = "Int"
    DOUBLE = "Double"
    BOOL = "Bool"
    DATETIME = "Datetime"
    """A timezone-aware datetime."""
    KEYWORD_LIST = "KeywordList"
    """A list of strings; a filter matches a list that contains the value."""


@dataclass(frozen=True, slots=True)
class SearchAttributeKey(Generic[T]):
    """A search attribute's name and type. Make one with a ``for_*`` method."""

    name: str
    indexed_value_type: SearchAttributeIndexedValueType

    def __post_init__(self) -> None:
        check_name(self.name)

    @property
    def value_type(self) -> type:
        """The Python type of its values (``list`` for a keyword list)."""
        return _PYTHON_TYPES[self.indexed_value_type]

    def value_set(self, value: T) -> SearchAttributeUpdate[T]:
        """An update that sets this attribute (for ``workflow.upsert_search_attributes``)."""
        return SearchAttributeUpdate(self, typed_value(self.name, self.indexed_value_type, value))

    def value_unset(self) -> SearchAttributeUpdate[T]:
        """An update that removes this attribute from the run."""
        return SearchAttributeUpdate(self, None)

    @staticmethod
    def for_text(name: str) -> SearchAttributeKey[str]:
        """A ``Text`` attribute (full-text matched on Temporal)."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.TEXT)

    @staticmethod
    def for_keyword(name: str) -> SearchAttributeKey[str]:
        """A ``Keyword`` attribute (a string matched exactly)."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD)

    @staticmethod
    def for_int(name: str) -> SearchAttributeKey[int]:
        """An ``Int`` attribute."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.INT)

    @staticmethod
    def for_float(name: str) -> SearchAttributeKey[float]:
        """A ``Double`` attribute (an int value is stored as a float)."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.DOUBLE)

    @staticmethod
    def for_bool(name: str) -> SearchAttributeKey[bool]:
        """A ``Bool`` attribute."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.BOOL)

    @staticmethod
    def for_datetime(name: str) -> SearchAttributeKey[datetime]:
        """A ``Datetime`` attribute (timezone-aware values)."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.DATETIME)

    @staticmethod
    def for_keyword_list(name: str) -> SearchAttributeKey[Sequence[str]]:
        """A ``KeywordList`` attribute."""
        return SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD_LIST)


_PYTHON_TYPES: dict[SearchAttributeIndexedValueType, type] = {
    SearchAttributeIndexedValueType.TEXT: str,
    SearchAttributeIndexedValueType.KEYWORD: str,
    SearchAttributeIndexedValueType.INT: int,
    SearchAttributeIndexedValueType.DOUBLE: float,
    SearchAttributeIndexedValueType.BOOL: bool,
    SearchAttributeIndexedValueType.DATETIME: datetime,
    SearchAttributeIndexedValueType.KEYWORD_LIST: list,
}


class SearchAttributePair(NamedTuple, Generic[T]):
    """A key and its value."""

    key: SearchAttributeKey[T]
    value: T


@dataclass(frozen=True, slots=True)
class SearchAttributeUpdate(Generic[T]):
    """A change made by ``workflow.upsert_search_attributes``: set ``value``, or remove the
    attribute when it is None. Made by :meth:`SearchAttributeKey.value_set` /
    :meth:`~SearchAttributeKey.value_unset`."""

    key: SearchAttributeKey[T]
    value: T | None


@dataclass(frozen=True, init=False)
class TypedSearchAttributes(Collection[SearchAttributePair[Any]]):
    """An immutable collection of search attribute pairs, one per name (sorted by name)."""

    search_attributes: tuple[SearchAttributePair[Any], ...]
    empty: ClassVar[TypedSearchAttributes]

    def __init__(self, search_attributes: Iterable[SearchAttributePair[Any]] = ()) -> None:
        pairs: dict[str, SearchAttributePair[Any]] = {}
        for key, value in search_attributes:
            if key.name in pairs:
                raise ValueError(f"search attribute {key.name!r} is given twice")
            pairs[key.name] = SearchAttributePair(
                key, typed_value(key.name, key.indexed_value_type, value)
            )
        object.__setattr__(self, "search_attributes", tuple(pairs[k] for k in sorted(pairs)))

    def __len__(self) -> int:
        return len(self.search_attributes)

    def __iter__(self) -> Iterator[SearchAttributePair[Any]]:
        return iter(self.search_attributes)

    def __contains__(self, key: object) -> bool:
        """Whether a pair has this key (same name and type)."""
        return any(k == key for k, _ in self.search_attributes)

    def __getitem__(self, key: SearchAttributeKey[T]) -> T:
        """The value of ``key``. A pair of the same name and another type answers when its
        value reads as the key's type: ``describe()`` infers the types of a run's values
        (a Text or Datetime attribute comes back as a Keyword holding a string), so
        ``for_text`` finds the string and ``for_datetime`` parses the ISO-8601 time.

        Raises:
            KeyError: No such attribute, or its value is not of the key's type.
        """
        for k, value in self.search_attributes:
            if k.name != key.name:
                continue
            if k == key:
                return value  # type: ignore[no-any-return]
            try:
                return typed_value(key.name, key.indexed_value_type, _reread(key, value))  # type: ignore[no-any-return]
            except ConfigurationError:
                break
        raise KeyError(key.name)

    @overload
    def get(self, key: SearchAttributeKey[T]) -> T | None: ...
    @overload
    def get(self, key: SearchAttributeKey[T], default: D) -> T | D: ...
    def get(self, key: SearchAttributeKey[Any], default: Any = None) -> Any:
        """The value of ``key`` (same name and type), or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def updated(self, *pairs: SearchAttributePair[Any]) -> TypedSearchAttributes:
        """A copy with ``pairs`` replacing the pairs of the same names (or added)."""
        names = {p.key.name for p in pairs}
        return TypedSearchAttributes(
            [*(p for p in self.search_attributes if p.key.name not in names), *pairs]
        )


TypedSearchAttributes.empty = TypedSearchAttributes()


def _reread(key: SearchAttributeKey[Any], value: Any) -> Any:
    if key.indexed_value_type == SearchAttributeIndexedValueType.DATETIME and isinstance(
        value, str
    ):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def inferred(values: Mapping[str, Any]) -> TypedSearchAttributes:
    """A run's search attributes as typed pairs, each type following its value (a string
    is a Keyword; a list a KeywordList)."""
    pairs: list[SearchAttributePair[Any]] = []
    for name, value in values.items():
        if isinstance(value, bool):
            key: SearchAttributeKey[Any] = SearchAttributeKey.for_bool(name)
        elif isinstance(value, int):
            key = SearchAttributeKey.for_int(name)
        elif isinstance(value, float):
            key = SearchAttributeKey.for_float(name)
        elif isinstance(value, list):
            key = SearchAttributeKey.for_keyword_list(name)
        else:
            key = SearchAttributeKey.for_keyword(name)
        pairs.append(SearchAttributePair(key, value))
    return TypedSearchAttributes(pairs)
