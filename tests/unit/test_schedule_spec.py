"""Schedule specs and overlap decisions: the pure arithmetic behind schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from duragent._engine.schedules import (
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    check_policy,
    compile_spec,
    decide_overlap,
    iso_minute,
    next_times,
    to_ms,
)

P = ScheduleOverlapPolicy
T0 = to_ms(datetime(2026, 1, 1, tzinfo=UTC))
S = 1000
M = 60 * S


def test_intervals_are_aligned_to_the_epoch_with_their_offset() -> None:
    spec = compile_spec(
        ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(minutes=5))]
        )
    )
    assert next_times(spec, T0, 3) == [T0 + 5 * M, T0 + 65 * M, T0 + 125 * M]
    assert spec.next_after(T0 + 5 * M) == T0 + 65 * M  # strictly after


def test_union_of_crons_and_intervals_without_repeats_within_start_and_end() -> None:
    spec = compile_spec(
        ScheduleSpec(
            cron_expressions=["*/10 * * * *", "*/15 * * * *"],
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=20))],
            start_at=datetime(2026, 1, 1, 0, 11, tzinfo=UTC),
            end_at=datetime(2026, 1, 1, 1, 0, tzinfo=UTC),
        )
    )
    minutes = [(t - T0) // M for t in spec.times(T0)]
    assert minutes == [15, 20, 30, 40, 45, 50, 60]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ScheduleSpec(), "needs cron_expressions or intervals"),
        (ScheduleSpec(cron_expressions=["* * *"]), "has 3 fields"),
        (ScheduleSpec(cron_expressions="* * * * *"), "list of expressions"),  # type: ignore[arg-type]
        (ScheduleSpec(intervals=[ScheduleIntervalSpec(timedelta(milliseconds=10))]), "1 second"),
        (
            ScheduleSpec(
                intervals=[ScheduleIntervalSpec(timedelta(minutes=1), timedelta(minutes=2))]
            ),
            "offset",
        ),
        (ScheduleSpec(cron_expressions=["@daily"], jitter=timedelta(seconds=5)), "jitter"),
        (ScheduleSpec(cron_expressions=["@daily"], time_zone_name="Europe/Paris"), "UTC"),
    ],
)
def test_bad_specs_are_refused_clearly(spec: ScheduleSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_spec(spec)


def test_catchup_window_minimum() -> None:
    with pytest.raises(ValueError, match="at least 10 seconds"):
        check_policy(SchedulePolicy(catchup_window=timedelta(seconds=1)))


@pytest.mark.parametrize(
    ("policy", "running", "buffered", "outcome", "cancel", "terminate"),
    [
        (P.SKIP, 0, 0, "start", False, False),
        (P.SKIP, 1, 0, "skip", False, False),
        (P.ALLOW_ALL, 3, 0, "start", False, False),
        (P.BUFFER_ONE, 1, 0, "buffer", False, False),
        (P.BUFFER_ONE, 1, 1, "skip", False, False),
        (P.BUFFER_ALL, 1, 5, "buffer", False, False),
        (P.BUFFER_ALL, 1, 1000, "skip", False, False),
        (P.CANCEL_OTHER, 1, 0, "buffer", True, False),
        (P.TERMINATE_OTHER, 1, 0, "start", False, True),
        (P.BUFFER_ONE, 0, 1, "skip", False, False),  # the buffered one goes first
    ],
)
def test_overlap_decisions(
    policy: ScheduleOverlapPolicy,
    running: int,
    buffered: int,
    outcome: str,
    cancel: bool,
    terminate: bool,
) -> None:
    d = decide_overlap(policy, running, buffered)
    assert (d.outcome, d.cancel_running, d.terminate_running) == (outcome, cancel, terminate)


def test_started_workflow_ids_name_the_action_time_like_temporal() -> None:
    assert iso_minute(T0 + 61 * S) == "2026-01-01T00:01:01Z"
