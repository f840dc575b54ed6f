"""Five-field cron expressions (``minute hour day-of-month month day-of-week``) in UTC.

Each field is ``*``, a number, a name (``jan``..``dec``, ``sun``..``sat``), a range
``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n`` (from ``a`` to the field's end), or a
comma-separated list of those. Day of week counts from Sunday = 0 (7 is Sunday too).
When both day of month and day of week are restricted, a day matching either one matches
as in Vixie cron and Temporal's legacy ``cron_schedule`` (``both_days=False``), or only a
day matching both, as Temporal's schedules do (they turn a cron string into a calendar
spec, whose fields must all match: ``both_days=True``). The shorthands ``@yearly``
(``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``) and ``@hourly``
are accepted.

Times are whole minutes since the Unix epoch in UTC; no time zone, no seconds field.
Pure arithmetic: no clock is read here.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["CronExpression", "CronSyntaxError"]

_SHORTHANDS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_WEEKDAYS: Final = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
# (name, lowest, highest, names) of each field, in order.
_FIELDS: Final[tuple[tuple[str, int, int, dict[str, int]], ...]] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),
)
# Eight years cover every leap-year and weekday combination a valid expression can need.
_SEARCH_DAYS: Final = 366 * 8


class CronSyntaxError(ValueError):
    """A cron expression that cannot be parsed, or that never matches a time."""


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed cron expression; :meth:`parse` builds one.

    Attributes:
        text: The expression as written.
        minutes: Matching minutes (0-59).
        hours: Matching hours (0-23).
        days: Matching days of the month (1-31).
        months: Matching months (1-12).
        weekdays: Matching days of the week (0-6, Sunday = 0).
        any_day: Day of month was ``*`` (or ``?``).
        any_weekday: Day of week was ``*`` (or ``?``).
        both_days: When both day fields are restricted, a day must match both (else
            either).
    """

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool
    both_days: bool = False

    @classmethod
    def parse(cls, text: str, *, both_days: bool = False) -> CronExpression:
        """Parse ``text`` (see the module docstring for ``both_days``).

        Raises:
            CronSyntaxError: It is not a five-field expression, a value is out of range or
                unknown, or it never matches (``0 0 30 2 *``).
        """
        source = text.strip()
        expanded = _SHORTHANDS.get(source.lower(), source)
        if expanded.startswith("@"):
            raise CronSyntaxError(
                f"unknown cron shorthand {source!r} (known: {', '.join(_SHORTHANDS)})"
            )
        parts = expanded.split()
        if len(parts) != 5:
            raise CronSyntaxError(
                f"cron expression {source!r} has {len(parts)} fields; expected 5: "
                "minute hour day-of-month month day-of-week (e.g. '*/15 * * * *')"
            )
        sets: list[frozenset[int]] = []
        for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
            sets.append(_parse_field(part, name, low, high, names, source))
        weekdays = frozenset(d % 7 for d in sets[4])
        expression = cls(
            text=source,
            minutes=sets[0],
            hours=sets[1],
            days=sets[2],
            months=sets[3],
            weekdays=weekdays,
            any_day=parts[2] in ("*", "?"),
            any_weekday=parts[4] in ("*", "?"),
            both_days=both_days,
        )
        if expression.next_after(0) is None:
            raise CronSyntaxError(f"cron expression {source!r} never matches a date")
        return expression

    def matches_day(self, day: datetime) -> bool:
        """Whether the calendar day of ``day`` matches the day and month fields."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return in_week
        if self.any_weekday:
            return in_month
        return (in_month and in_week) if self.both_days else (in_month or in_week)

    def next_after(self, after_ms: int) -> int | None:
        """The first matching minute strictly after ``after_ms`` (epoch ms, UTC), in epoch
        ms; None when there is none within eight years (only for expressions that never
        match, which :meth:`parse` refuses)."""
        start = datetime.fromtimestamp(after_ms // 60_000 * 60, UTC) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        first_minute = start.hour * 60 + start.minute
        for _ in range(_SEARCH_DAYS):
            if day.month not in self.months:
                # Jump to the first day of the next month.
                days_left = calendar.monthrange(day.year, day.month)[1] - day.day + 1
                day += timedelta(days=days_left)
                first_minute = 0
                continue
            if self.matches_day(day):
                found = self._first_minute_from(first_minute)
                if found is not None:
                    return int((day + timedelta(minutes=found)).timestamp()) * 1000
            day += timedelta(days=1)
            first_minute = 0
        return None

    def _first_minute_from(self, minute_of_day: int) -> int | None:
        hour, minute = divmod(minute_of_day, 60)
        for h in sorted(self.hours):
            if h < hour:
                continue
            for m in sorted(self.minutes):
                if h == hour and m < minute:
                    continue
                return h * 60 + m
        return None


def _parse_field(
    part: str, name: str, low: int, high: int, names: dict[str, int], source: str
) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        values.update(_parse_item(item, name, low, high, names, source))
    return frozenset(values)


def _parse_item(
    item: str, name: str, low: int, high: int, names: dict[str, int], source: str
) -> range:
    def bad(why: str) -> CronSyntaxError:
        return CronSyntaxError(f"cron expression {source!r}: {name} field {item!r} {why}")

    def number(text: str) -> int:
        text = text.strip().lower()
        if text in names:
            return names[text]
        if not text.isdigit():
            raise bad(f"has {text!r}, not a number{' or a name' if names else ''}")
        value = int(text)
        if not low <= value <= high:
            raise bad(f"has {value}, outside {low}-{high}")
        return value

    if not item:
        raise bad("is empty")
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise bad("needs a positive whole step after '/'")
        step = int(step_text)
    if base in ("*", "?"):
        first, last = low, high
        if name == "day of week" and base == "*":
            last = 6  # 7 is another name for Sunday: not a day of its own
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = number(a), number(b)
        if first > last:
            raise bad(f"is a range from {first} down to {last}")
    else:
        first = number(base)
        last = high if slash else first
    return range(first, last + 1, step)
