"""How Temporal's calendar specs (what its server keeps of a cron string) read back as
five-field cron expressions."""

from __future__ import annotations

import temporalio.client as tc

from duragent.temporal._schedules import _cron_of  # pyright: ignore[reportPrivateUsage]

R = tc.ScheduleRange


def test_calendars_read_back_as_cron() -> None:
    weekdays = tc.ScheduleCalendarSpec(
        minute=[R(30)], hour=[R(2)], day_of_month=[R(1, 31)], month=[R(1, 12)],
        day_of_week=[R(1, 5)],
    )  # fmt: skip
    assert _cron_of(weekdays) == "30 2 * * 1-5"
    steps = tc.ScheduleCalendarSpec(
        minute=[R(0, 59, 15)], hour=[R(0, 23)], day_of_month=[R(1), R(15)],
        month=[R(1, 12, 3)], day_of_week=[R(0, 6)],
    )  # fmt: skip
    assert _cron_of(steps) == "*/15 * 1,15 */3 *"


def test_calendars_a_cron_expression_cannot_hold() -> None:
    assert _cron_of(tc.ScheduleCalendarSpec(second=[R(30)])) is None
    assert _cron_of(tc.ScheduleCalendarSpec(year=[R(2030)])) is None
