"""Temporal's list filter (``client.list_workflows("WorkflowType = 'Order' AND ...")``) on
the embedded engine: parsed here, without I/O, into a condition on the store's ``runs``
table.

The language is Temporal's visibility query subset: comparisons ``= != > >= < <=``,
``IN (...)``, ``BETWEEN ... AND ...``, ``STARTS_WITH``, ``IS [NOT] NULL``, joined by ``AND``
and ``OR`` with parentheses. Names are Temporal's (``WorkflowId``, ``WorkflowType``,
``ExecutionStatus``, ``StartTime``, ...) or custom search attributes; values are quoted
strings (single or double quotes), numbers, ``true`` and ``false``, and times as RFC 3339
strings. On Temporal the string goes to the server as it is; here the same string must
select the same runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from ._search_attributes import check_name
from .errors import ConfigurationError

__all__ = [
    "CLOSED_SQL",
    "STATUS_NAMES",
    "CompiledFilter",
    "Condition",
    "ListFilter",
    "compile_filter",
    "parse_filter",
    "prefix_range",
    "status_name",
    "status_value",
]

STATUS_NAMES: Final = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "canceled": "Canceled",
    "terminated": "Terminated",
    "continued_as_new": "ContinuedAsNew",
}
"""Each run status (its value) as Temporal's list filter names it."""
CLOSED_SQL: Final = "status != 'running'"
"""Closed runs, as the partial index ``runs_closed_by_status`` states it: SQLite reads that
index only for a condition that names the status as this literal."""
_STATUSES: Final = {
    **{name: value for value, name in STATUS_NAMES.items()},
    "TimedOut": "timed_out",  # no run times out on the embedded engine: matches none
}


def status_value(name: str) -> str:
    """The status value of a status as Temporal names it (``Running`` -> ``running``,
    ``TimedOut`` -> ``timed_out``); an unknown name as it is."""
    return _STATUSES.get(name, name)


def status_name(value: str) -> str:
    """The inverse of :func:`status_value`."""
    return _NAMES.get(value, value)


_NAMES: Final = {value: name for name, value in _STATUSES.items()}


_COLUMNS: Final = {
    "WorkflowId": ("workflow_id", "text"),
    "RunId": ("run_id", "text"),
    "WorkflowType": ("workflow_type", "text"),
    "TaskQueue": ("task_queue", "text"),
    "ExecutionStatus": ("status", "status"),
    "StartTime": ("start_time", "time"),
    "ExecutionTime": ("start_time", "time"),  # no delayed starts here: the same
    "CloseTime": ("close_time", "time"),
    "HistoryLength": ("last_event_id", "int"),
    "HistorySizeBytes": ("history_bytes", "int"),
    "ParentWorkflowId": ("parent_workflow_id", "text"),
    "ParentRunId": ("parent_run_id", "text"),
}
"""Temporal's system attributes the ``runs`` table holds: column and kind of value."""
_NOT_KEPT: Final = frozenset(
    {
        "BatcherUser",
        "BinaryChecksums",
        "BuildIds",
        "ExecutionDuration",
        "RootRunId",
        "RootWorkflowId",
        "StateTransitionCount",
        "TemporalChangeVersion",
        "TemporalNamespaceDivision",
        "TemporalPauseInfo",
        "TemporalReportedProblems",
        "TemporalSchedulePaused",
        "TemporalScheduledById",
        "TemporalScheduledStartTime",
        "TemporalWorkerDeploymentVersion",
        "TemporalWorkflowVersioningBehavior",
    }
)
"""Temporal system attributes the embedded engine does not keep (refused by name, rather
than read as custom attributes no run has)."""

_TOKEN: Final = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.])
    | (?P<name>`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
    )""",
    re.VERBOSE,
)
_KEYWORDS: Final = frozenset(
    {"AND", "OR", "IN", "NOT", "BETWEEN", "STARTS_WITH", "IS", "NULL", "TRUE", "FALSE"}
)
_FRACTION: Final = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True, slots=True)
class Condition:
    """``name op values`` (``op``: a comparison, ``in``, ``not in``, ``between``,
    ``starts_with``, ``is null`` or ``is not null``)."""

    name: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ListFilter:
    """Conditions joined by ``op`` (``and`` / ``or``): a tree of them."""

    op: str
    parts: tuple[ListFilter | Condition, ...]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, number, name, keyword, op, end
    text: str
    value: Any
    at: int


def _error(query: str, at: int, message: str) -> ConfigurationError:
    return ConfigurationError(
        f"list filter {query!r}: {message} at position {at + 1} (Temporal's syntax: "
        "WorkflowType = 'Order' AND ExecutionStatus = 'Running' AND StartTime > "
        "'2026-01-01T00:00:00Z')"
    )


def _unquote(text: str) -> str:
    """A string literal's text: a backslash escapes the next character, and the quote
    doubled stands for itself (SQL's way), both as Temporal's parser reads them."""
    quote = text[0]
    return re.sub(r"\\(.)|" + quote * 2, lambda m: m.group(1) or quote, text[1:-1])


def _tokens(query: str) -> list[_Token]:
    out: list[_Token] = []
    at = 0
    while True:
        while at < len(query) and query[at].isspace():
            at += 1
        if at == len(query):
            out.append(_Token("end", "", None, at))
            return out
        match = _TOKEN.match(query, at)
        if match is None or match.end() == at:
            raise _error(query, at, f"unexpected {query[at]!r}")
        start = match.start(match.lastgroup or 0)
        kind = match.lastgroup or ""
        text = match.group(kind)
        value: Any = text
        if kind == "string":
            value = _unquote(text)
        elif kind == "number":
            value = float(text) if any(c in text for c in ".eE") else int(text)
        elif kind == "name":
            if text.startswith("`"):
                value = text[1:-1]
            elif text.upper() in _KEYWORDS:
                kind, value = "keyword", text.upper()
        out.append(_Token(kind, text, value, start))
        at = match.end()


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokens(query)
        self.i = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def fail(self, message: str) -> ConfigurationError:
        return _error(self.query, self.token.at, message)

    def take(self, kind: str, value: Any = None) -> _Token | None:
        token = self.token
        if token.kind == kind and (value is None or token.value == value):
            self.i += 1
            return token
        return None

    def expect(self, kind: str, value: Any, what: str) -> _Token:
        token = self.take(kind, value)
        if token is None:
            found = self.token.text or "the end"
            raise self.fail(f"expected {what}, found {found!r}")
        return token

    def parse(self) -> ListFilter | Condition:
        tree = self.any_of()
        if self.token.kind != "end":
            if self.token.kind == "name" and self.token.value.upper() in ("ORDER", "GROUP"):
                raise self.fail(
                    f"{self.token.value.upper()} BY is not supported (runs are listed newest "
                    "first, by start time)"
                )
            raise self.fail(f"unexpected {self.token.text!r}")
        return tree

    def any_of(self) -> ListFilter | Condition:
        parts = [self.all_of()]
        while self.take("keyword", "OR"):
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else ListFilter("or", tuple(parts))

    def all_of(self) -> ListFilter | Condition:
        parts = [self.primary()]
        while self.take("keyword", "AND"):
            parts.append(self.primary())
        return parts[0] if len(parts) == 1 else ListFilter("and", tuple(parts))

    def primary(self) -> ListFilter | Condition:
        if self.take("op", "("):
            inner = self.any_of()
            self.expect("op", ")", "')'")
            return inner
        name = self.take("name")
        if name is None:
            raise self.fail("expected a search attribute name or '('")
        return self.condition(str(name.value))

    def condition(self, name: str) -> Condition:
        op = self.take("op")
        if op is not None and op.value in ("=", "!=", "<>", ">", ">=", "<", "<="):
            return Condition(name, "!=" if op.value == "<>" else op.value, (self.value(),))
        if op is not None:
            raise self.fail(f"unexpected {op.text!r} after {name}")
        negated = self.take("keyword", "NOT") is not None
        if self.take("keyword", "IN"):
            self.expect("op", "(", "'(' after IN")
            values = [self.value()]
            while self.take("op", ","):
                values.append(self.value())
            self.expect("op", ")", "')' closing the IN list")
            return Condition(name, "not in" if negated else "in", tuple(values))
        if self.take("keyword", "BETWEEN"):
            low = self.value()
            self.expect("keyword", "AND", "AND in BETWEEN ... AND ...")
            high = self.value()
            return Condition(name, "not between" if negated else "between", (low, high))
        if negated:
            raise self.fail("expected IN or BETWEEN after NOT")
        if self.take("keyword", "STARTS_WITH"):
            value = self.value()
            if not isinstance(value, str):
                raise self.fail("STARTS_WITH takes a quoted string")
            return Condition(name, "starts_with", (value,))
        if self.take("keyword", "IS"):
            negated = self.take("keyword", "NOT") is not None
            self.expect("keyword", "NULL", "NULL after IS")
            return Condition(name, "is not null" if negated else "is null", ())
        raise self.fail(f"expected an operator after {name}")

    def value(self) -> Any:
        token = self.token
        if token.kind in ("string", "number"):
            self.i += 1
            return token.value
        if token.kind == "keyword" and token.value in ("TRUE", "FALSE"):
            self.i += 1
            return token.value == "TRUE"
        found = token.text or "the end"
        raise self.fail(
            f"expected a value (a quoted string, number, true or false), found {found!r}"
        )


def parse_filter(query: str) -> ListFilter | Condition:
    """The condition tree of a list filter.

    Raises:
        ConfigurationError: Not a list filter this engine understands (the message says
            where).
    """
    if not query.strip():
        raise ConfigurationError("an empty list filter: pass None to list every run")
    tree = _Parser(query).parse()
    _check(query, tree)
    return tree


def _check(query: str, tree: ListFilter | Condition) -> None:
    if isinstance(tree, ListFilter):
        for part in tree.parts:
            _check(query, part)
        return
    if tree.name in _NOT_KEPT:
        raise ConfigurationError(
            f"list filter {query!r}: {tree.name} is a Temporal system attribute the embedded "
            "engine does not keep"
        )
    if tree.name not in _COLUMNS:
        check_name(tree.name)


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A list filter as a condition on the store's ``runs`` table."""

    sql: str
    params: tuple[Any, ...]
    status: str | None
    """The one status every selected run has, when the filter says so at its top level
    (``ExecutionStatus = 'Running' AND ...``): the store then reads the index of runs of
    that status instead of every run it keeps."""


def compile_filter(query: str) -> CompiledFilter:
    """The SQL condition on ``runs`` (and its parameters) that selects what ``query``
    selects.

    Raises:
        ConfigurationError: See :func:`parse_filter`; also a value of the wrong kind for a
            system attribute (a time that is not RFC 3339, an unknown status).
    """
    params: list[Any] = []
    tree = parse_filter(query)
    sql = _sql(query, tree, params)
    return CompiledFilter(sql, tuple(params), _one_status(tree))


def _one_status(tree: ListFilter | Condition) -> str | None:
    """The status a condition at the top level (alone, or in the top AND) requires."""
    parts = tree.parts if isinstance(tree, ListFilter) and tree.op == "and" else (tree,)
    for part in parts:
        if (
            isinstance(part, Condition)
            and part.name == "ExecutionStatus"
            and part.op in ("=", "in")
            and len(part.values) == 1
        ):
            return _STATUSES.get(part.values[0])
    return None


def _sql(query: str, tree: ListFilter | Condition, params: list[Any]) -> str:
    if isinstance(tree, ListFilter):
        joined = f" {tree.op.upper()} ".join(_sql(query, p, params) for p in tree.parts)
        return f"({joined})"
    column = _COLUMNS.get(tree.name)
    if column is not None:
        return _column_sql(query, tree, column[0], column[1], params)
    return _attribute_sql(tree, params)


def _column_sql(query: str, c: Condition, column: str, kind: str, params: list[Any]) -> str:
    if c.op in ("is null", "is not null"):
        return f"{column} {c.op.upper()}"
    if kind == "status" and c.op not in ("=", "!=", "in", "not in"):
        raise ConfigurationError(
            f"list filter {query!r}: ExecutionStatus takes =, !=, IN and NOT IN only"
        )
    if c.op == "starts_with" and kind != "text":
        raise ConfigurationError(
            f"list filter {query!r}: STARTS_WITH needs a text attribute, not {c.name}"
        )
    values = [_column_value(query, c.name, kind, v) for v in c.values]
    if kind == "status" and c.op in ("=", "in") and "running" not in values:
        # Implied, but only a literal lets SQLite read the index of closed runs by status.
        params.extend(values)
        return f"({column} {_sql_op(c, len(values))} AND {CLOSED_SQL})"
    if c.op == "starts_with":
        bounds = prefix_range(values[0])
        if bounds is not None:  # a range an index on the column can be read by
            params.extend(bounds)
            return f"({column} >= ? AND {column} < ?)"
        params.extend([len(values[0]), values[0]])
        return f"substr({column}, 1, ?) = ?"
    params.extend(values)
    return f"{column} {_sql_op(c, len(values))}"


def _sql_op(c: Condition, values: int) -> str:
    """The operator and placeholders of a condition on a column."""
    if c.op in ("in", "not in"):
        return f"{c.op.upper()} ({', '.join('?' * values)})"
    if c.op in ("between", "not between"):
        return f"{c.op.upper()} ? AND ?"
    return f"{c.op} ?"


def prefix_range(prefix: str) -> tuple[str, str] | None:
    """``[low, high)``: exactly the strings that start with ``prefix`` (SQLite compares
    text by its UTF-8 bytes, which sort as the code points do); None for an empty prefix
    or when no string is above them all (a last character of U+10FFFF)."""
    if not prefix:
        return None
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000  # surrogates are not text: no string holds one
    if following > 0x10FFFF:
        return None
    return prefix, prefix[:-1] + chr(following)


def _column_value(query: str, name: str, kind: str, value: Any) -> Any:
    if kind == "status":
        status = _STATUSES.get(value) if isinstance(value, str) else None
        if status is None:
            raise ConfigurationError(
                f"list filter {query!r}: ExecutionStatus is one of {', '.join(_STATUSES)}, "
                f"not {value!r}"
            )
        return status
    if kind == "time":
        moment = _time(value)
        if moment is None:
            raise ConfigurationError(
                f"list filter {query!r}: {name} compares with an RFC 3339 time such as "
                f"'2026-01-01T00:00:00Z', not {value!r}"
            )
        return int(moment.timestamp() * 1000)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(
                f"list filter {query!r}: {name} compares with an integer, not {value!r}"
            )
        return value
    if not isinstance(value, str):
        raise ConfigurationError(
            f"list filter {query!r}: {name} compares with a quoted string, not {value!r}"
        )
    return value


def _time(value: Any) -> datetime | None:
    """An RFC 3339 time with its zone (fractions beyond microseconds are dropped)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _attribute_sql(c: Condition, params: list[Any]) -> str:
    """A condition on a custom search attribute (kept as JSON in ``runs.search_attributes``:
    a list-valued one matches when one of its values does)."""
    path = f'$."{c.name}"'  # names are checked (letters, digits, underscores): safe to quote
    present = f"json_type(runs.search_attributes, '{path}') IS NOT NULL"
    if c.op == "is null":
        return f"json_type(runs.search_attributes, '{path}') IS NULL"
    if c.op == "is not null":
        return present
    each = f"FROM json_each(runs.search_attributes, '{path}')"
    if c.op in ("=", "!=", "in", "not in"):
        candidates = [form for v in c.values for form in _stored_forms(v)]
        params.extend(candidates)
        marks = ", ".join("?" * len(candidates))
        found = f"EXISTS (SELECT 1 {each} WHERE value IN ({marks}))"
        return found if c.op in ("=", "in") else f"({present} AND NOT {found})"
    if c.op == "starts_with":
        params.extend([len(c.values[0]), c.values[0]])
        return f"EXISTS (SELECT 1 {each} WHERE substr(value, 1, ?) = ?)"
    values = [_stored_form(v) for v in c.values]
    params.extend(values)
    if c.op == "between":
        return f"EXISTS (SELECT 1 {each} WHERE value BETWEEN ? AND ?)"
    if c.op == "not between":
        return f"({present} AND NOT EXISTS (SELECT 1 {each} WHERE value BETWEEN ? AND ?))"
    return f"EXISTS (SELECT 1 {each} WHERE value {c.op} ?)"


def _stored_form(value: Any) -> Any:
    """``value`` as the store keeps it: a time as ISO 8601 in UTC (how datetime attributes
    are stored), booleans as SQLite's integers."""
    moment = _time(value)
    if moment is not None:
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _stored_forms(value: Any) -> list[Any]:
    """What an equality may match: the value as written, and as a stored time when it
    reads as one (a Keyword attribute may hold a string that looks like a time)."""
    stored = _stored_form(value)
    if isinstance(value, bool) or stored == value:
        return [stored]
    return [value, stored]
