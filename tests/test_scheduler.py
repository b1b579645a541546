"""Schedules, DST, catch-up and the serve loop on a simulated clock (no processes here)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.errors import ConfigError
from ops_sheets.service.runner import JOB_NAMES
from ops_sheets.service.scheduler import (
    VALID_FORMS,
    Planner,
    RunOutcome,
    Schedule,
    Service,
    StopRequest,
    due_jobs,
    first_due,
    next_run_time,
    parse_schedule,
    validate_schedules,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def london(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=LONDON, fold=fold)  # type: ignore[misc]


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def every(text: str, tz: ZoneInfo = LONDON) -> Schedule:
    return parse_schedule(text, tz)


def run_times(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    out, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        out.append(moment)
    return out


# ---------------------------------------------------------------- reading schedules


@pytest.mark.parametrize(
    ("text", "days", "times"),
    [
        ("every day at 07:00", set(range(7)), ["07:00"]),
        ("Every Day at 7:00", set(range(7)), ["07:00"]),
        ("daily at 07:00 and 13:30", set(range(7)), ["07:00", "13:30"]),
        ("monday at 08:00", {0}, ["08:00"]),
        ("every monday at 08:00", {0}, ["08:00"]),
        ("weekdays at 09:00", {0, 1, 2, 3, 4}, ["09:00"]),
        ("mon, wed and fri at 09:00", {0, 2, 4}, ["09:00"]),
        ("fri-mon at 12:00", {4, 5, 6, 0}, ["12:00"]),
        ("every 30 minutes", set(range(7)), [f"{h:02}:{m:02}" for h in range(24) for m in (0, 30)]),
        ("every hour", set(range(7)), [f"{h:02}:00" for h in range(24)]),
        ("every 2 hours on weekends", {5, 6}, [f"{h:02}:00" for h in range(0, 24, 2)]),
        ("every minute", set(range(7)), None),
        (
            "every 30 minutes from 08:00 to 18:00 on weekdays",
            {0, 1, 2, 3, 4},
            [f"{h:02}:{m:02}" for h in range(8, 18) for m in (0, 30)] + ["18:00"],
        ),
    ],
)
def test_readable_forms_become_days_and_local_times(
    text: str, days: set[int], times: list[str] | None
) -> None:
    schedule = every(text)
    assert schedule.days == days
    if times is None:
        assert len(schedule.times) == 24 * 60
    else:
        assert [f"{t:%H:%M}" for t in schedule.times] == times


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("every dy at 07:00", "'dy' is not a day"),
        ("every day at 25:00", "'25:00' is not a 24-hour time"),
        ("every day at 7am", "'7am' is not a 24-hour time"),
        ("every 0 minutes", "use 1 minute to 24 hours"),
        ("every 30 minutes from 18:00 to 08:00", "cannot cross midnight"),
        ("fortnightly", "no form matches"),
    ],
)
def test_a_schedule_that_cannot_be_read_is_a_config_error_quoting_the_valid_forms(
    text: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        every(text)
    message = str(caught.value)
    assert f'"{text}"' in message and reason in message
    for form in VALID_FORMS:
        assert f'"{form}"' in message


def test_validate_schedules_names_the_job_and_the_key(tmp_path: Path) -> None:
    settings = settings_from_dict(
        {"jobs": {"stock": {"schedule": "every dy at 07:00"}}},
        base_dir=tmp_path,
        source="shop.toml",
    )
    with pytest.raises(ConfigError, match=r'^shop\.toml: \[jobs\.stock\] schedule: "every dy'):
        validate_schedules(settings)


def test_the_default_schedules_are_valid_and_a_blank_one_means_not_scheduled(
    settings: Settings,
) -> None:
    assert set(validate_schedules(settings)) == set(JOB_NAMES)
    blank = settings_from_dict({"jobs": {"stock": {"schedule": ""}, "weekly": {"enabled": False}}})
    assert "stock" not in validate_schedules(blank)
    now = london(2026, 11, 23, 9, 0)
    assert next_run_time(blank, "stock", now) is None
    assert next_run_time(blank, "weekly", now) is None
    assert next_run_time(blank, "returns", now) == london(2026, 11, 24, 8, 0)
    assert next_run_time(blank, "returns", now).tzinfo == LONDON  # type: ignore[union-attr]


# ---------------------------------------------------------------- time zones


def test_a_daily_time_stays_local_across_both_dst_changes() -> None:
    daily = every("every day at 07:00")
    spring = run_times(daily, london(2026, 3, 27, 12, 0), 3)
    assert [utc(t) for t in spring] == [
        datetime(2026, 3, 28, 7, 0, tzinfo=UTC),  # GMT
        datetime(2026, 3, 29, 6, 0, tzinfo=UTC),  # BST from this morning
        datetime(2026, 3, 30, 6, 0, tzinfo=UTC),
    ]
    autumn = run_times(daily, london(2026, 10, 24, 12, 0), 2)
    assert [utc(t) for t in autumn] == [
        datetime(2026, 10, 25, 7, 0, tzinfo=UTC),  # GMT again
        datetime(2026, 10, 26, 7, 0, tzinfo=UTC),
    ]
    assert {f"{t.astimezone(LONDON):%H:%M}" for t in spring + autumn} == {"07:00"}


@pytest.mark.parametrize(
    ("tz", "text", "before", "expected_local"),
    [
        (LONDON, "every day at 01:30", datetime(2026, 3, 28, 12), datetime(2026, 3, 29, 2, 0)),
        (NEW_YORK, "every day at 02:30", datetime(2026, 3, 7, 12), datetime(2026, 3, 8, 3, 0)),
    ],
)
def test_a_time_the_clocks_jump_over_runs_at_the_first_instant_after_the_gap(
    tz: ZoneInfo, text: str, before: datetime, expected_local: datetime
) -> None:
    schedule = every(text, tz)
    first, second = run_times(schedule, before.replace(tzinfo=tz), 2)
    assert first == expected_local.replace(tzinfo=tz)
    assert utc(first).utcoffset() == timedelta(0)
    assert first.astimezone(tz).hour != 1 or tz is not LONDON
    assert second.astimezone(tz).replace(tzinfo=None) == datetime.combine(
        expected_local.date() + timedelta(days=1), schedule.times[0]
    )


def test_a_time_that_happens_twice_runs_once_at_its_first_occurrence() -> None:
    night = every("every day at 01:30")
    first, second = run_times(night, london(2026, 10, 24, 12, 0), 2)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST
    assert second == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # the 01:30 GMT repeat is skipped


def test_every_30_minutes_runs_once_per_local_half_hour_through_the_repeated_hour() -> None:
    half_hourly = every("every 30 minutes")
    runs = run_times(half_hourly, london(2026, 10, 25, 0, 10), 5)
    assert [f"{t.astimezone(LONDON):%H:%M %Z}" for t in runs] == [
        "00:30 BST",
        "01:00 BST",
        "01:30 BST",
        "02:00 GMT",  # 01:00 and 01:30 GMT are the same wall times again: not run twice
        "02:30 GMT",
    ]
    # asked from inside the repeated hour, the next slot is the next new wall time
    assert half_hourly.next_after(london(2026, 10, 25, 1, 10, fold=1)) == london(2026, 10, 25, 2, 0)
    # and the slot a catch-up would be about is the 01:30 BST already passed
    latest = half_hourly.latest_at_or_before(london(2026, 10, 25, 1, 10, fold=1))
    assert latest == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_every_hour_on_the_spring_night_runs_once_at_the_jump() -> None:
    hourly = every("every hour")
    runs = run_times(hourly, london(2026, 3, 28, 23, 30), 4)
    assert [f"{t.astimezone(LONDON):%H:%M %Z}" for t in runs] == [
        "00:00 GMT",
        "02:00 BST",  # 01:00 does not exist; it and 02:00 are the same instant, run once
        "03:00 BST",
        "04:00 BST",
    ]


def test_a_window_on_weekdays_includes_both_ends_and_skips_the_weekend() -> None:
    window = every("every 30 minutes from 08:00 to 18:00 on weekdays")
    friday = london(2026, 11, 27, 17, 45)
    assert run_times(window, friday, 2) == [
        utc(london(2026, 11, 27, 18, 0)),
        utc(london(2026, 11, 30, 8, 0)),  # Monday
    ]
    assert window.next_after(london(2026, 11, 28, 12, 0)) == utc(london(2026, 11, 30, 8, 0))
    assert window.latest_at_or_before(london(2026, 11, 29, 12, 0)) == utc(
        friday + timedelta(minutes=15)
    )


def test_a_weekly_job_runs_on_its_day_only() -> None:
    weekly = every("monday at 08:00")
    assert run_times(weekly, london(2026, 11, 23, 8, 0), 2) == [
        utc(london(2026, 11, 30, 8, 0)),
        utc(london(2026, 12, 7, 8, 0)),
    ]
    assert weekly.latest_at_or_before(london(2026, 11, 29, 23, 0)) == utc(
        london(2026, 11, 23, 8, 0)
    )


# ---------------------------------------------------------------- planning


CATCH_UP = timedelta(hours=12)


def test_a_slot_missed_within_catch_up_hours_runs_once_at_start() -> None:
    daily = every("every day at 07:00")
    now = london(2026, 11, 23, 9, 10)
    assert first_due(daily, now, None, CATCH_UP) == (utc(now), "catch-up for Mon 07:00")
    last_success = utc(london(2026, 11, 22, 7, 0))  # yesterday's: today's slot still missed
    assert first_due(daily, now, last_success, CATCH_UP)[0] == utc(now)


def test_no_catch_up_after_a_successful_run_or_beyond_catch_up_hours() -> None:
    daily = every("every day at 07:00")
    tomorrow = utc(london(2026, 11, 24, 7, 0))
    ran_today = utc(london(2026, 11, 23, 7, 0, 2))
    assert first_due(daily, london(2026, 11, 23, 9, 10), ran_today, CATCH_UP) == (
        tomorrow,
        "scheduled",
    )
    assert first_due(daily, london(2026, 11, 23, 19, 1), None, CATCH_UP) == (tomorrow, "scheduled")
    assert first_due(daily, london(2026, 11, 23, 9, 10), None, timedelta(0))[0] == tomorrow
    assert first_due(daily, london(2026, 11, 23, 7, 0), None, timedelta(0)) == (
        utc(london(2026, 11, 23, 7, 0)),
        "due",
    )


def test_after_a_long_run_the_next_is_the_first_slot_after_it_ended() -> None:
    planner = Planner({"orders": every("every 30 minutes")}, CATCH_UP)
    planner.start(london(2026, 11, 23, 9, 0), lambda job: None)
    assert planner.due(london(2026, 11, 23, 9, 0)) == ["orders"]
    planner.done("orders", london(2026, 11, 23, 10, 10))  # ran 70 minutes: 09:30 and 10:00 passed
    assert planner.due_at["orders"] == utc(london(2026, 11, 23, 10, 30))
    assert planner.due(london(2026, 11, 23, 10, 29)) == []


def test_due_jobs_come_longest_waiting_first_then_in_config_order() -> None:
    t = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    due_at = {
        "stock": t,
        "orders": t - timedelta(minutes=5),
        "monitor": t,
        "weekly": t + timedelta(1),
    }
    assert due_jobs(due_at, t) == ["orders", "stock", "monitor"]


# ---------------------------------------------------------------- 400 days


class SimulatedClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def hours_between(start: datetime, end: datetime, step_minutes: int) -> Iterator[datetime]:
    moment = start
    while moment < end:
        yield moment
        moment += timedelta(minutes=step_minutes)


def test_400_days_in_london_with_both_dst_changes_an_outage_and_a_failing_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="ops_sheets.serve")  # 3,000 failures, on purpose
    schedules = {
        "daily": every("every day at 07:00"),
        "night": every("every day at 01:30"),
        "raiser": every("every hour"),
        "window": every("every 30 minutes from 08:00 to 18:00 on weekdays"),
    }
    start = utc(london(2026, 1, 5, 0, 0))
    end = start + timedelta(days=400)
    outage_from = utc(london(2026, 6, 10, 6, 10))  # a Wednesday; 07:00 falls in the outage
    outage_to = outage_from + timedelta(hours=3)

    calls: list[tuple[str, datetime]] = []
    last_success: dict[str, datetime] = {}
    raiser_runs = 0

    def execute(job: str, now: datetime) -> RunOutcome:
        nonlocal raiser_runs
        calls.append((job, now))
        if job == "raiser":
            raiser_runs += 1
            if raiser_runs % 3 == 0:
                raise RuntimeError("every third run of this job fails")
        last_success[job] = now
        return RunOutcome(job, "ok")

    clock = SimulatedClock(start)

    def serve_until(stop_at: datetime) -> None:
        stop = StopRequest()

        def wait(seconds: float) -> None:
            target = clock.now + timedelta(seconds=seconds)
            if target >= stop_at:
                clock.now = stop_at
                stop.request("simulation")
            else:
                clock.now = target

        service = Service(
            schedules,
            execute,
            last_success.get,
            catch_up=CATCH_UP,
            clock=clock,
            wait=wait,
            stop=stop,
            max_wait_seconds=float("inf"),
        )
        assert service.run() == 0

    serve_until(outage_from)
    clock.now = outage_to  # the server was down for three hours
    serve_until(end)

    def runs_of(job: str) -> list[datetime]:
        times = [t for j, t in calls if j == job]
        assert len(times) == len(set(times)), f"{job} ran twice at the same moment"
        return times

    def expected(job: str, slots: Callable[[datetime], bool], step: int) -> set[datetime]:
        """An oracle independent of Schedule: every UTC step whose local time fits."""
        want = {u for u in hours_between(start, end, step) if slots(u.astimezone(LONDON))}
        missed = {u for u in want if outage_from < u <= outage_to}
        return (want - missed) | ({outage_to} if missed else set())

    def first_occurrence(local: datetime) -> bool:
        return local.fold == 0

    # the daily job: once per local day at 07:00, except the outage day: catch-up at 09:10
    daily = runs_of("daily")
    per_day = Counter(t.astimezone(LONDON).date() for t in daily)
    assert len(per_day) == 400 and set(per_day.values()) == {1}
    off_time = [t for t in daily if f"{t.astimezone(LONDON):%H:%M}" != "07:00"]
    assert off_time == [outage_to]
    assert {t.astimezone(LONDON).utcoffset() for t in daily} == {timedelta(0), timedelta(hours=1)}

    # the night job at 01:30: the spring gap runs at 02:00 BST, the autumn repeat only once
    night = {t.astimezone(LONDON).date(): t for t in runs_of("night")}
    assert len(night) == 400
    assert night[datetime(2026, 3, 29).date()] == utc(london(2026, 3, 29, 2, 0))
    assert night[datetime(2026, 10, 25).date()] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert {f"{t.astimezone(LONDON):%H:%M}" for t in night.values()} == {"01:30", "02:00"}

    # the hourly job that raises every third run: exactly its slots, plus one catch-up
    raiser = runs_of("raiser")
    assert set(raiser) == expected(
        "raiser", lambda local: local.minute == 0 and first_occurrence(local), 60
    )
    assert raiser_runs == len(raiser) and raiser_runs // 3 > 3000

    window = runs_of("window")
    assert set(window) == expected(
        "window",
        lambda local: (
            local.weekday() < 5
            and time(8, 0) <= local.time() <= time(18, 0)
            and local.minute in (0, 30)
            and first_occurrence(local)
        ),
        30,
    )

    # after the outage each job with a missed slot ran once, at restart; the night job had none
    assert sorted(j for j, t in calls if t == outage_to) == ["daily", "raiser", "window"]


# ---------------------------------------------------------------- any zone, any moment

AWKWARD_ZONES = [
    "Europe/London",
    "America/New_York",
    "America/Havana",  # DST changes at midnight: 00:00 itself is skipped
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Apia",  # skipped the whole of 30 December 2011
    "Asia/Kolkata",  # no DST, a half-hour offset
]


def transition_days(zone: str) -> list[datetime]:
    """Noon UTC of each day on which the zone's offset changes, 2010-2030."""
    tz, days = ZoneInfo(zone), []
    day = datetime(2010, 1, 1, 12, tzinfo=UTC)
    while day.year < 2031:
        if day.astimezone(tz).utcoffset() != (day + timedelta(1)).astimezone(tz).utcoffset():
            days.append(day)
        day += timedelta(1)
    return days


TRANSITIONS = {zone: transition_days(zone) for zone in AWKWARD_ZONES}


@st.composite
def zone_and_moment(draw: st.DrawFn) -> tuple[str, datetime]:
    """Mostly moments within three days of a DST change, where the bugs live."""
    zone = draw(st.sampled_from(AWKWARD_ZONES))
    if TRANSITIONS[zone] and draw(st.integers(0, 9)) > 0:
        day = draw(st.sampled_from(TRANSITIONS[zone]))
        return zone, day + timedelta(minutes=draw(st.integers(-3 * 1440, 3 * 1440)))
    naive = draw(st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2030, 12, 31)))
    return zone, naive.replace(tzinfo=UTC)


@hypothesis_settings(max_examples=500, deadline=None)
@given(
    where=zone_and_moment(),
    text=st.sampled_from(
        [
            "every day at 00:00",
            "every day at 01:30",
            "every 30 minutes",
            "every 2 hours on weekends",
            "monday at 02:00",
            "every 45 minutes from 00:15 to 03:00 on weekdays",
        ]
    ),
)
def test_slots_are_consistent_in_any_zone(where: tuple[str, datetime], text: str) -> None:
    zone, moment = where
    tz = ZoneInfo(zone)
    schedule = parse_schedule(text, tz)
    after = schedule.next_after(moment)
    before = schedule.latest_at_or_before(moment)
    assert before <= moment < after
    assert schedule.next_after(before) == after  # no slot in between
    assert schedule.latest_at_or_before(after) == after
    local = after.astimezone(tz)
    if local.time() not in schedule.times or local.weekday() not in schedule.days:
        # only a time the clocks jumped over moves, to the instant of the jump
        assert (after - timedelta(seconds=1)).astimezone(tz).utcoffset() != local.utcoffset()
