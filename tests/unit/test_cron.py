"""The five-field cron parser: syntax, errors, and next times checked against a
minute-by-minute oracle."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from duragent._engine.cron import CronExpression, CronSyntaxError


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def at(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def test_fields_steps_ranges_lists_and_names() -> None:
    c = CronExpression.parse("*/15 9-17/4 1,15 jan-mar,DEC mon-fri")
    assert c.minutes == {0, 15, 30, 45}
    assert c.hours == {9, 13, 17}
    assert c.days == {1, 15}
    assert c.months == {1, 2, 3, 12}
    assert c.weekdays == {1, 2, 3, 4, 5}
    assert CronExpression.parse("5/20 * * * *").minutes == {5, 25, 45}
    assert CronExpression.parse("0 0 * * 7").weekdays == {0}  # 7 is Sunday
    assert CronExpression.parse("0 0 * * */2").weekdays == {0, 2, 4, 6}


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
    ],
)
def test_shorthands(short: str, full: str) -> None:
    a, b = CronExpression.parse(short), CronExpression.parse(full)
    assert (a.minutes, a.hours, a.days, a.months, a.weekdays) == (
        b.minutes,
        b.hours,
        b.days,
        b.months,
        b.weekdays,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("* * * *", "has 4 fields"),
        ("* * * * * *", "has 6 fields"),
        ("60 * * * *", "outside 0-59"),
        ("* 24 * * *", "outside 0-23"),
        ("* * 0 * *", "outside 1-31"),
        ("* * * 13 *", "outside 1-12"),
        ("* * * * 8", "outside 0-7"),
        ("*/0 * * * *", "positive whole step"),
        ("5-1 * * * *", "range from 5 down to 1"),
        ("* * * foo *", "not a number or a name"),
        ("a * * * *", "not a number"),
        ("1,,2 * * * *", "is empty"),
        ("@often", "unknown cron shorthand"),
        ("0 0 30 2 *", "never matches"),
        ("0 0 31 4,6,9,11 *", "never matches"),
    ],
)
def test_bad_expressions_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(CronSyntaxError, match=message):
        CronExpression.parse(text)


def test_next_after_known_cases() -> None:
    every5 = CronExpression.parse("*/5 * * * *")
    assert at(every5.next_after(ms(2026, 1, 1, 0, 0))) == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    # Strictly after, from within a minute.
    assert at(every5.next_after(ms(2026, 1, 1, 0, 4, 59))) == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    # Year rollover.
    assert at(CronExpression.parse("@yearly").next_after(ms(2026, 6, 1))) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    # 29 February: the next leap year.
    assert at(CronExpression.parse("0 12 29 2 *").next_after(ms(2025, 3, 1))) == datetime(
        2028, 2, 29, 12, 0, tzinfo=UTC
    )
    # Day of month OR day of week when both are restricted: the 13th, or any Friday.
    c = CronExpression.parse("0 0 13 * fri")
    assert at(c.next_after(ms(2026, 2, 1))) == datetime(2026, 2, 6, tzinfo=UTC)  # a Friday
    assert at(c.next_after(ms(2026, 2, 10))) == datetime(2026, 2, 13, tzinfo=UTC)
    # Or both (Temporal's schedules): the next Friday the 13th.
    both = CronExpression.parse("0 0 13 * fri", both_days=True)
    assert at(both.next_after(ms(2026, 2, 1))) == datetime(2026, 2, 13, tzinfo=UTC)
    assert at(both.next_after(ms(2026, 2, 14))) == datetime(2026, 3, 13, tzinfo=UTC)
    with pytest.raises(CronSyntaxError, match="never matches"):
        CronExpression.parse("0 0 31 2 mon", both_days=True)


def _day_ok(c: CronExpression, t: datetime) -> bool:
    # Written out apart from the parser's own matcher: Vixie cron's rule.
    dom, dow = t.day in c.days, (t.weekday() + 1) % 7 in c.weekdays
    if t.month not in c.months:
        return False
    if c.any_day or c.any_weekday or c.both_days:
        return (c.any_day or dom) and (c.any_weekday or dow)
    return dom or dow


def _oracle(c: CronExpression, after: datetime) -> datetime:
    """Minute by minute over matching days (non-matching days are skipped whole)."""
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(800):
        if _day_ok(c, t):
            while True:
                if t.minute in c.minutes and t.hour in c.hours:
                    return t
                nxt = t + timedelta(minutes=1)
                if nxt.day != t.day:
                    t = nxt
                    break
                t = nxt
        else:
            t = (t + timedelta(days=1)).replace(hour=0, minute=0)
    raise AssertionError(f"no match for {c.text}")


def _field(rng: random.Random, low: int, high: int) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return "*"
    if kind == 1:
        return f"*/{rng.randint(1, max(1, (high - low) // 2))}"
    if kind == 2:
        a = rng.randint(low, high)
        return f"{a}-{rng.randint(a, high)}"
    if kind == 3:
        return ",".join(str(rng.randint(low, high)) for _ in range(rng.randint(1, 3)))
    return str(rng.randint(low, high))


def test_next_after_matches_a_minute_by_minute_search() -> None:
    rng = random.Random(20261203)
    checked = 0
    while checked < 120:
        text = " ".join(
            [
                _field(rng, 0, 59),
                _field(rng, 0, 23),
                _field(rng, 1, 28) if rng.random() < 0.7 else "*",
                _field(rng, 1, 12) if rng.random() < 0.5 else "*",
                _field(rng, 0, 6) if rng.random() < 0.5 else "*",
            ]
        )
        c = CronExpression.parse(text, both_days=rng.random() < 0.5)
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
            minutes=rng.randrange(60 * 24 * 400), seconds=rng.randrange(60)
        )
        expected = _oracle(c, start)
        assert at(c.next_after(int(start.timestamp() * 1000))) == expected, text
        checked += 1
