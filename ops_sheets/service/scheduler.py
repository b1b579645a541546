"""``ops-sheets serve``: run every job on its schedule, for months, without surprises.

Four small parts, each testable on its own:

**Schedules.** A job's ``schedule`` is readable text ("every day at 07:00", "every 30
minutes", "monday at 08:00", "every 30 minutes from 08:00 to 18:00 on weekdays"). Every
form becomes the same thing, a :class:`Schedule`: the weekdays it runs on and the
wall-clock times of day, in the configured zone. A slot is one of those local times on
one of those days. Across DST changes: 07:00 stays 07:00 local; a time the clocks jump
over (01:30 on the spring-forward night in London) runs at the first instant after the
gap (02:00 BST); a time that happens twice (01:30 on the autumn night) runs once, at its
first occurrence. Interval forms are wall-clock too, so "every 30 minutes" runs once
per local half hour and the repeated hour of the autumn night runs once.

**Planning** (:class:`Planner`, pure: it is given ``now``). On start, a job whose latest
slot is within ``catch_up_hours`` and has had no successful run since is due at once
(missed runs are coalesced into that one); otherwise it is due at its next slot. After
any run (ok, problems, failed, timed out) the job is due at its first slot after the
run ended: a failing job waits for its next slot, and slots that passed while it ran
are not made up.

**The loop** (:class:`Service`) runs due jobs one at a time, each in a child process
(:class:`ChildExecutor`), pings the heartbeat URL and sleeps until the next slot. Clock
and sleep are parameters: the 400-day test drives the same loop with a simulated clock.

**Process care.** One ``serve`` per state file (``<state>.serve.lock``); one run of a
job at a time (``<state>.<job>.lock``, which ``run`` takes too, see :func:`job_lock`);
SIGTERM/SIGINT lets the current run finish (or reach its timeout) and exits 0, a second
signal stops it at once and records it as interrupted.

Why the ``schedule`` library does not drive any of this, although it inspired the
readable forms: it reads the wall clock itself (``datetime.datetime.now()`` inside
``should_run``/``idle_seconds``), so a simulated clock cannot drive it; it keeps
``next_run`` as a *naive* time in the host's local zone, so on a host whose zone has
DST even a plain one-second ticker (``every(1).seconds``) believes its next tick is an
hour away when the clocks go back, and the service would sleep through that hour; it
moves a time in the spring gap a whole offset later (01:30 → 03:30, not 02:00); it has
no windows ("from 08:00 to 18:00 on weekdays"), no catch-up and no way to ask for the
slot before ``now``. Computing slots here is a few dozen lines with ``zoneinfo``.

Why a child process per run, started with ``multiprocessing``'s *spawn* method: a
hung or crashing job (a stuck network call, a memory leak in a library) cannot take
the service down or grow it over months, because every run starts from a fresh
interpreter and gives all its memory back when it ends; a timeout is a kill of that
process. Spawn rather than fork: the parent holds SQLite connections and logging locks
that a forked child must not inherit. ``multiprocessing`` rather than ``subprocess``
running the CLI: the child gets the exact settings the service validated (not a config
file edited since), and reports its result through a pipe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import select
import signal
import socket
import threading
import time as time_module
import traceback
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ops_sheets.config import JobSettings, Settings
from ops_sheets.errors import ConfigError, JobError, OpsSheetsError
from ops_sheets.service.heartbeat import Heartbeat

log = logging.getLogger("ops_sheets.serve")


def _show_service_lines() -> None:
    """serve's lines (start, each run and its outcome, next runs) are what the service
    has to say, so they show at INFO even where the rest of ops_sheets logs warnings only."""
    log.setLevel(min(logging.INFO, log.getEffectiveLevel()))


# ---------------------------------------------------------------- schedules

VALID_FORMS = (
    "every day at 07:00",
    "every 30 minutes",
    "monday at 08:00",
    "every 30 minutes from 08:00 to 18:00 on weekdays",
)
FORMS_HELP = (
    "use one of the forms "
    + ", ".join(f'"{f}"' for f in VALID_FORMS)
    + "; days are monday…sunday (or mon…sun), weekdays, weekends, ranges like mon-fri "
    'and lists like "mon, wed and fri"; times are 24-hour HH:MM; "every hour", '
    '"every 2 hours", "every minute" and "every day at 07:00 and 13:00" work too'
)

_DAY_NUMBERS = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip
_DAY_GROUPS = {
    "day": range(7), "days": range(7), "daily": range(7),
    "weekday": range(5), "weekdays": range(5),
    "weekend": (5, 6), "weekends": (5, 6),
}  # fmt: skip
_INTERVAL_RE = re.compile(
    r"every(?:\s+(?P<n>\d+))?\s+(?P<unit>minutes?|mins?|hours?)"
    r"(?:\s+from\s+(?P<start>\S+)\s+to\s+(?P<end>\S+))?"
    r"(?:\s+on\s+(?P<days>.+))?"
)
_AT_RE = re.compile(r"(?:every\s+)?(?P<days>.+?)\s+at\s+(?P<times>.+)")
_LIST_SPLIT = re.compile(r"\s*(?:,|\band\b)\s*")


@dataclass(frozen=True)
class Schedule:
    """When a job runs: local ``times`` of day on ``days`` (0 = Monday), in ``tz``.

    Slots are returned as UTC instants. Two aware datetimes of the *same* zone compare
    and subtract by wall clock, ignoring ``fold``, which is wrong in the repeated hour of
    the autumn night; instants in UTC are safe. Show them with ``.astimezone(tz)``.
    """

    text: str
    tz: ZoneInfo
    days: frozenset[int]
    times: tuple[time, ...]  # sorted, no duplicates

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment`` (aware), in UTC."""
        moment = moment.astimezone(UTC)
        wall = moment.astimezone(self.tz).replace(tzinfo=None)
        for ahead in range(9):  # a week, plus room for a DST edge
            day = wall.date() + timedelta(days=ahead)
            if day.weekday() not in self.days:
                continue
            # A slot whose wall time is not after ``wall`` resolves to an instant at or
            # before ``moment`` (also in a gap or the repeated hour), so skip it cheaply.
            first = bisect_right(self.times, wall.time()) if ahead == 0 else 0
            for at in self.times[first:]:
                slot = self.resolve(day, at).astimezone(UTC)
                if slot > moment:
                    return slot
        raise AssertionError(f"no slot after {moment} for {self.text!r}")  # days is never empty

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last slot at or before ``moment``, in UTC: the one a catch-up is about."""
        moment = moment.astimezone(UTC)
        wall = moment.astimezone(self.tz).replace(tzinfo=None)
        # From tomorrow back: in a repeated hour a later wall time can be an earlier instant.
        for back in range(-1, 9):
            day = wall.date() - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            for at in reversed(self.times):
                slot = self.resolve(day, at).astimezone(UTC)
                if slot <= moment:
                    return slot
        raise AssertionError(f"no slot before {moment} for {self.text!r}")

    def resolve(self, day: date, at: time) -> datetime:
        """Local ``at`` on ``day`` (in ``tz``): its first occurrence, or the end of a gap."""
        first = datetime.combine(day, at, tzinfo=self.tz)  # fold=0: the earlier of two
        if _exists(first):
            return first
        return _end_of_gap(first)


def _exists(local: datetime) -> bool:
    """False for a wall time the clocks jump over (it does not survive a round trip)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _end_of_gap(local: datetime) -> datetime:
    """The first real instant after a nonexistent wall time: the transition itself.

    Read with the offset after the transition (fold=1) the wall time lies before it,
    read with the offset before (fold=0) after it; bisect to the second in between.
    """
    lo = local.replace(fold=1).astimezone(UTC)
    hi = local.replace(fold=0).astimezone(UTC)
    lo, hi = min(lo, hi), max(lo, hi)
    after = hi.astimezone(local.tzinfo).utcoffset()
    a, b = 0, int((hi - lo).total_seconds())
    while a < b:
        mid = (a + b) // 2
        if (lo + timedelta(seconds=mid)).astimezone(local.tzinfo).utcoffset() == after:
            b = mid
        else:
            a = mid + 1
    return (lo + timedelta(seconds=a)).astimezone(local.tzinfo)


def parse_schedule(text: str, tz: ZoneInfo) -> Schedule:
    """Read one of the readable forms; ConfigError (quoting the valid forms) otherwise."""
    words = " ".join(text.lower().split())
    try:
        days, times = _parse(words)
    except ValueError as exc:
        raise ConfigError(f'"{text}" is not a schedule I can read ({exc}); {FORMS_HELP}') from None
    return Schedule(text.strip(), tz, frozenset(days), tuple(sorted(set(times))))


def _parse(words: str) -> tuple[set[int], list[time]]:
    if not words:
        raise ValueError("it is empty")
    interval = _INTERVAL_RE.fullmatch(words)
    if interval:
        n = int(interval["n"] or 1)
        step = n * (60 if interval["unit"].startswith("hour") else 1)
        if not 1 <= step <= 24 * 60:
            raise ValueError(f"every {n} {interval['unit']}: use 1 minute to 24 hours")
        start = _parse_time(interval["start"]) if interval["start"] else time(0, 0)
        end = _parse_time(interval["end"]) if interval["end"] else time(23, 59)
        if end < start:
            raise ValueError(
                f"from {interval['start']} to {interval['end']} ends before it starts; "
                "a window cannot cross midnight"
            )
        first, last = start.hour * 60 + start.minute, end.hour * 60 + end.minute
        times = [time(m // 60, m % 60) for m in range(first, last + 1, step)]
        days = _parse_days(interval["days"]) if interval["days"] else set(range(7))
        return days, times
    at = _AT_RE.fullmatch(words)
    if at:
        times = [_parse_time(t) for t in _LIST_SPLIT.split(at["times"])]
        return _parse_days(at["days"]), times
    raise ValueError("no form matches")


def _parse_time(text: str) -> time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"{text!r} is not a 24-hour time like 07:00")
    return time(int(m[1]), int(m[2]))


def _parse_days(text: str) -> set[int]:
    days: set[int] = set()
    for item in _LIST_SPLIT.split(text.strip()):
        span = re.fullmatch(r"(\w+)\s*(?:-|\bto\b)\s*(\w+)", item)
        if span:
            a, b = _day(span[1]), _day(span[2])
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # fri-mon wraps
        elif item in _DAY_GROUPS:
            days.update(_DAY_GROUPS[item])
        else:
            days.add(_day(item))
    return days


def _day(word: str) -> int:
    if word in _DAY_NUMBERS:
        return _DAY_NUMBERS[word]
    if word.endswith("s") and word[:-1] in _DAY_NUMBERS:  # "mondays"
        return _DAY_NUMBERS[word[:-1]]
    raise ValueError(f"{word!r} is not a day")


def job_settings(settings: Settings, job: str) -> JobSettings | None:
    """A job's settings; None for a user job file that has no [jobs.<name>] section."""
    value = getattr(settings.jobs, job, None)
    return value if isinstance(value, JobSettings) else None


def validate_schedules(settings: Settings) -> dict[str, Schedule]:
    """Every configured schedule, parsed; ConfigError naming the key at the first bad one.

    A blank schedule means "serve does not run this job" and is left out. ``check``
    calls this so a typo is found before the service is started.
    """
    out: dict[str, Schedule] = {}
    for f in dataclasses.fields(settings.jobs):
        js = job_settings(settings, f.name)
        text = js.schedule if js else ""
        if not text.strip():
            continue
        try:
            out[f.name] = parse_schedule(text, settings.tz)
        except ConfigError as exc:
            raise ConfigError(f"{settings.source}: [jobs.{f.name}] schedule: {exc}") from None
    return out


def next_run_time(settings: Settings, job: str, now: datetime) -> datetime | None:
    """The job's next slot after ``now``, in business time (for people to read); None when
    it is disabled or has no schedule. ``serve`` may run it earlier, to catch up."""
    js = job_settings(settings, job)
    if js is None or not js.enabled or not js.schedule.strip():
        return None
    return parse_schedule(js.schedule, settings.tz).next_after(now).astimezone(settings.tz)


# ---------------------------------------------------------------- planning (pure)


def first_due(
    schedule: Schedule, now: datetime, last_success: datetime | None, catch_up: timedelta
) -> tuple[datetime, str]:
    """When a job is first due after the service starts, and why.

    Its latest slot at or before ``now`` counts as missed when it is no older than
    ``catch_up`` and no run has succeeded since it: then the job is due now, once,
    however many slots were missed. Otherwise it waits for its next slot. In UTC.
    """
    now = now.astimezone(UTC)
    missed = schedule.latest_at_or_before(now)
    if now - missed <= catch_up and (last_success is None or last_success < missed):
        if missed == now:
            return now, "due"
        return now, f"catch-up for {missed.astimezone(schedule.tz):%a %H:%M}"
    return schedule.next_after(now), "scheduled"


def due_jobs(due_at: Mapping[str, datetime], now: datetime) -> list[str]:
    """Jobs due at ``now``, the longest-waiting first (config order breaks ties)."""
    order = {job: i for i, job in enumerate(due_at)}
    return sorted((j for j, t in due_at.items() if t <= now), key=lambda j: (due_at[j], order[j]))


class Planner:
    """When each job is due next (UTC). Knows no clock and no process: give it ``now``."""

    def __init__(self, schedules: Mapping[str, Schedule], catch_up: timedelta) -> None:
        self.schedules = dict(schedules)
        self.catch_up = catch_up
        self.due_at: dict[str, datetime] = {}
        self.why: dict[str, str] = {}

    def start(self, now: datetime, last_success: Callable[[str], datetime | None]) -> None:
        now = now.astimezone(UTC)
        for job, schedule in self.schedules.items():
            due = first_due(schedule, now, last_success(job), self.catch_up)
            self.due_at[job], self.why[job] = due

    def due(self, now: datetime) -> list[str]:
        return due_jobs(self.due_at, now.astimezone(UTC))

    def done(self, job: str, ended: datetime) -> None:
        """Whatever the outcome, the job's next run is its first slot after this one ended."""
        self.due_at[job], self.why[job] = self.schedules[job].next_after(ended), "scheduled"

    def next_due(self) -> datetime | None:
        return min(self.due_at.values(), default=None)


# ---------------------------------------------------------------- locks


class JobLocked(JobError):
    """Another process holds the lock (a running job, or another ``serve``)."""


def serve_lock_path(settings: Settings) -> Path:
    return _state_path(settings).with_name(_state_path(settings).name + ".serve.lock")


def job_lock_path(settings: Settings, job: str) -> Path:
    return _state_path(settings).with_name(f"{_state_path(settings).name}.{job}.lock")


def _state_path(settings: Settings) -> Path:
    return settings.resolve(settings.state.path)


@contextmanager
def job_lock(
    settings: Settings,
    job: str,
    wait_seconds: float = 0.0,
    *,
    on_wait: Callable[[str], object] | None = None,
) -> Iterator[None]:
    """Hold the job's lock while it runs: ``serve`` and ``run`` never run a job twice at once.

    Waits up to ``wait_seconds`` for another holder (telling ``on_wait``, or the log,
    once), then raises :class:`JobLocked` (a :class:`JobError`, exit code 1) naming it.
    """

    def busy(holder: str) -> str:
        return (
            f"job {job!r} is already running in another process ({holder}), probably "
            "`ops-sheets serve`; let it finish (see `ops-sheets status`) or run it again later"
        )

    def waiting(holder: str) -> str:
        return (
            f"job {job!r} is running in another process ({holder}); "
            f"waiting up to {_human(wait_seconds)} for it to finish"
        )

    path = job_lock_path(settings, job)
    with _file_lock(path, wait_seconds, f"job {job}", busy, waiting, on_wait):
        yield


@contextmanager
def serve_lock(settings: Settings) -> Iterator[None]:
    """One ``serve`` per state file; a second one gets a clear :class:`JobLocked`."""

    def busy(holder: str) -> str:
        return (
            f"another `ops-sheets serve` is already running with the state file "
            f"{_state_path(settings)} ({holder}); stop it first (e.g. `systemctl stop "
            "ops-sheets`): only one serve may run per state file"
        )

    with _file_lock(serve_lock_path(settings), 0.0, "serve", busy, busy, None):
        yield


@contextmanager
def _file_lock(
    path: Path,
    wait_seconds: float,
    purpose: str,
    busy: Callable[[str], str],
    waiting: Callable[[str], str],
    on_wait: Callable[[str], object] | None,
) -> Iterator[None]:
    """``flock`` on ``path``; the kernel releases it if the holder dies, however it dies.

    The file holds "pid N since T" for messages; it is emptied, never deleted, on
    release (deleting a lock file lets two processes lock two different files).
    """
    try:
        import fcntl
    except ImportError:  # Windows
        raise JobError(
            "serve needs a POSIX system (Linux, macOS) for its locks; on Windows run "
            "`ops-sheets run JOB` from the Task Scheduler instead"
        ) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JobError(f"{path}: cannot create the lock file: {exc.strerror}") from None
    try:
        deadline = time_module.monotonic() + wait_seconds
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if time_module.monotonic() >= deadline:
                    raise JobLocked(busy(holder)) from None
                if not told:
                    (on_wait or log.warning)(waiting(holder))
                    told = True
                time_module.sleep(min(0.2, max(deadline - time_module.monotonic(), 0.01)))
            except OSError as exc:  # e.g. a network filesystem without locks
                raise JobError(f"{path}: cannot lock: {exc.strerror}") from None
        stamp = f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, {purpose}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, stamp.encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "holder unknown"


def lock_holder_pid(path: Path) -> int | None:
    """The pid written in a lock file, if that process is alive (for ``status``)."""
    m = re.match(r"pid (\d+)", _holder(path))
    if not m:
        return None
    try:
        os.kill(int(m[1]), 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return int(m[1])


# ---------------------------------------------------------------- runs


@dataclass
class RunOutcome:
    job: str
    result: str  # ok | problems | failed | interrupted | skipped
    seconds: float = 0.0
    error: str = ""
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result in ("ok", "problems")


class Executor(Protocol):
    def __call__(self, job: str, now: datetime) -> RunOutcome: ...


class RunFunction(Protocol):
    """``runner.run_job`` or a stand-in with its signature; must be importable by name."""

    def __call__(self, name: str, settings: Settings, now: datetime) -> Any: ...


class StopRequest:
    """What the signal handlers ask for; ``wait`` sleeps until then or a timeout.

    Not a ``threading.Event``: its ``set()`` takes a lock that the main thread may be
    holding at the very moment the signal interrupts it, a deadlock. The handler only
    sets flags and writes one byte to a socket pair (the self-pipe trick) that ``wait``
    selects on. The pair is made on the first ``wait``; ``close`` releases it.
    """

    def __init__(self) -> None:
        self.requested = False
        self.forced = False
        self.signal_name = ""
        self._wake: tuple[socket.socket, socket.socket] | None = None

    def request(self, signal_name: str = "") -> None:
        if self.requested and not self.forced:
            self.forced = True
            self.signal_name = signal_name or self.signal_name  # the one that forced it
        elif not self.requested:
            self.requested = True
            self.signal_name = signal_name
        if self._wake is not None:
            with contextlib.suppress(OSError):  # full or closed: the flag is what counts
                self._wake[1].send(b"!")

    def wait(self, seconds: float) -> None:
        if self._wake is None:
            self._wake = socket.socketpair()
            for end in self._wake:
                end.setblocking(False)
        if not self.requested:
            select.select([self._wake[0]], [], [], max(seconds, 0.0))

    def close(self) -> None:
        if self._wake is not None:
            for end in self._wake:
                end.close()
            self._wake = None


class ChildExecutor:
    """Runs one job in a fresh (spawned) process and makes sure the run is recorded.

    The child calls ``run`` (``runner.run_job``), which records its own run in the
    job runs table. What the child cannot record, the parent does, under the job's
    lock so that no other process's run can be mistaken for this one: a run killed at
    its timeout or by a forced stop, a process that died, a job that failed before
    its run was started (a job file that does not import).
    """

    def __init__(self, settings: Settings, run: RunFunction, stop: StopRequest) -> None:
        self.settings = settings
        self.run = run
        self.stop = stop
        self.log_mode = _logging_mode()  # (json, verbose): the child logs like the parent

    def __call__(self, job: str, now: datetime) -> RunOutcome:
        try:
            with job_lock(self.settings, job, wait_seconds=0):
                return self._run_child(job, now)
        except JobLocked as exc:
            log.warning("%s: not started at this slot: %s", job, exc)
            return RunOutcome(job, "skipped", error=str(exc))

    def _run_child(self, job: str, now: datetime) -> RunOutcome:
        now = now.astimezone(self.settings.tz)  # the job's `now` is business time
        js = job_settings(self.settings, job)
        timeout = (js.timeout_minutes if js else JobSettings().timeout_minutes) * 60
        with closing(_open_state(self.settings)) as state:
            baseline = max((r.id for r in state.runs(job, limit=1)), default=0)
        started_wall = datetime.now(UTC)
        began = time_module.monotonic()
        spawn = multiprocessing.get_context("spawn")
        receiver, sender = spawn.Pipe(duplex=False)
        child = spawn.Process(
            target=_child_main,
            args=(
                self.run,
                self.settings,
                job,
                now,  # pickled with its ZoneInfo: the job gets business time, DST rules and all
                sender,
                os.getpid(),
                *self.log_mode,
            ),
            name=f"ops-sheets {job}",
        )
        report: dict[str, Any] | None = None
        ended_by = ""
        try:
            child.start()
        except BaseException:
            receiver.close()
            raise
        finally:
            sender.close()  # the child has its copy; EOF tells us it is gone
        watch: list[Any] = []
        try:
            told = False
            watch = [receiver, child.sentinel]
            while True:
                ready = multiprocessing.connection.wait(watch, timeout=0.2)
                if receiver in ready:
                    watch.remove(receiver)  # one report, or EOF: either way, done listening
                    with contextlib.suppress(EOFError, OSError):
                        report = receiver.recv()
                if child.sentinel in ready:
                    break
                if self.stop.forced:
                    ended_by = "interrupted"
                    break
                if self.stop.requested and not told:
                    log.warning(
                        "%s: stop requested; letting the run finish (at most %s more; "
                        "send the signal again to stop it now)",
                        job, _human(timeout - (time_module.monotonic() - began)),
                    )  # fmt: skip
                    told = True
                if time_module.monotonic() - began >= timeout:
                    ended_by = "timeout"
                    break
        finally:
            if child.is_alive():
                child.kill()  # the child ignores SIGTERM (it belongs to the parent's stop)
            child.join()
            if report is None and receiver in watch:
                with contextlib.suppress(EOFError, OSError):
                    report = receiver.recv() if receiver.poll() else None
            receiver.close()
            exit_code = child.exitcode
            child.close()
        seconds = time_module.monotonic() - began
        if report is not None:  # the run itself ended, even if its process then lingered
            outcome = RunOutcome(
                job, report["result"], seconds, report.get("error", ""), report.get("counts", {})
            )
        elif ended_by == "timeout":
            limit = f"timeout_minutes = {timeout / 60:g}"
            error = f"timed out after {_human(timeout)} ({limit}); the run was stopped"
            outcome = RunOutcome(job, "failed", seconds, error)
        elif ended_by == "interrupted":
            what = self.stop.signal_name or "stop signal"
            error = f"stopped by a second {what} while it was running"
            outcome = RunOutcome(job, "interrupted", seconds, error)
        else:
            error = f"the job's process ended without a result (exit code {exit_code})"
            outcome = RunOutcome(job, "failed", seconds, error)
        self._settle(job, baseline, now, started_wall, outcome)
        return outcome

    def _settle(
        self, job: str, baseline: int, now: datetime, started: datetime, outcome: RunOutcome
    ) -> None:
        """Finish a run row the child left open, or write one if it never opened one."""
        with closing(_open_state(self.settings)) as state:
            ours = [r for r in state.runs(job, limit=20) if r.id > baseline]
            ended = datetime.now(UTC)
            for run in ours:
                if run.result == "running":
                    state.finish_run(run.id, outcome.result, ended, error=outcome.error)
            if not ours:
                run_id = state.start_run(job, now, started)
                state.finish_run(run_id, outcome.result, ended, outcome.counts, outcome.error)


def _open_state(settings: Settings) -> Any:
    from ops_sheets.store.location import state_location
    from ops_sheets.store.state import State

    return State(state_location(settings))


def _logging_mode() -> tuple[bool, bool]:
    """(json, verbose) as the CLI set them up, so the child logs the same way."""
    from ops_sheets.logs import JsonFormatter

    json_logs = any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)
    verbose = logging.getLogger("ops_sheets").getEffectiveLevel() <= logging.DEBUG
    return json_logs, verbose


def _child_main(
    run: RunFunction,
    settings: Settings,
    job: str,
    now: datetime,
    conn: multiprocessing.connection.Connection,
    parent_pid: int,
    json_logs: bool,
    verbose: bool,
) -> None:
    """The child process: run the job once, report through ``conn``."""
    # A terminal's Ctrl-C and systemd's SIGTERM reach the whole process group; the
    # parent decides what happens to a running job (let it finish, or kill it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from ops_sheets.logs import setup_logging

    setup_logging(verbose=verbose, json_format=json_logs)
    _show_service_lines()
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    child_log = log.getChild(job)
    try:
        result = run(job, settings, now)
    except BaseException as exc:  # everything a job can raise is a failed run, recorded
        child_log.error("%s: failed: %s", job, one_line(exc))
        child_log.debug("%s", traceback.format_exc())
        conn.send({"result": "failed", "error": one_line(exc)})
        return
    from ops_sheets.service.runner import print_result

    print_result(result, out=child_log.info)
    counts = {k: v.item() if hasattr(v, "item") else v for k, v in result.counts.items()}
    conn.send({"result": "ok" if result.exit_code == 0 else "problems", "counts": counts})


def _exit_when_orphaned(parent_pid: int) -> None:
    """If ``serve`` is killed outright, its job lock is gone: do not run on unguarded."""
    while os.getppid() == parent_pid:
        time_module.sleep(1.0)
    log.error("serve (pid %s) is gone; stopping this run", parent_pid)
    os._exit(70)


def one_line(exc: BaseException) -> str:
    """An error as one line: our own errors say what to fix; others say where they arose."""
    if isinstance(exc, OpsSheetsError):
        return str(exc)
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def _human(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min"


# ---------------------------------------------------------------- the loop


class FailureAlerts:
    """Tells ``on_failure(job, now, error)`` when a job *starts* failing, once until a
    run of that job succeeds again (the channels' one-line alert, issue 23).

    Shared by ``serve`` (:class:`Service`) and ``serve --shops`` (one per shop).
    """

    def __init__(
        self,
        on_failure: Callable[[str, datetime, str], object] | None = None,
        failing: Iterable[str] = (),
    ) -> None:
        self.on_failure = on_failure
        #: jobs whose last recorded run failed (already alerted, or without a hook);
        #: seeded from the state (:func:`failing_from_state`), so a restart of a
        #: service whose job is still failing does not post it again
        self.failing: set[str] = set(failing)

    def record(self, job: str, now: datetime, outcome: RunOutcome) -> None:
        if outcome.result == "skipped":
            return
        if outcome.succeeded:
            self.failing.discard(job)
        elif job not in self.failing:
            self.failing.add(job)
            if self.on_failure is not None:
                self.on_failure(job, now, outcome.error or outcome.result)


class Service:
    """The loop: run what is due, one job at a time; sleep until the next slot.

    ``clock`` returns an aware ``now``; ``wait(seconds)`` sleeps (the real one wakes
    early on a stop request). Both are parameters so that tests can simulate months.
    """

    def __init__(
        self,
        schedules: Mapping[str, Schedule],
        execute: Executor,
        last_success: Callable[[str], datetime | None],
        *,
        catch_up: timedelta,
        clock: Callable[[], datetime],
        wait: Callable[[float], object],
        stop: StopRequest | None = None,
        heartbeat: Heartbeat | None = None,
        max_wait_seconds: float = 30.0,
        on_failure: Callable[[str, datetime, str], object] | None = None,
        failing: Iterable[str] = (),
    ) -> None:
        self.planner = Planner(schedules, catch_up)
        self.execute = execute
        self.last_success = last_success
        self.clock = clock
        self.wait = wait
        self.stop = stop or StopRequest()
        self.heartbeat = heartbeat
        #: the longest sleep: the clock is read again at least this often (suspend, NTP steps)
        self.max_wait_seconds = max_wait_seconds
        #: told (job, now, error) when a job starts failing: the channels' one-line
        #: alert, once until a run of that job succeeds again (no post every slot)
        self.failures = FailureAlerts(on_failure, failing)

    def run(self) -> int:
        started = self.clock().astimezone(UTC)
        self.planner.start(started, self.last_success)
        for job, schedule in self.planner.schedules.items():
            due_at, why = self.planner.due_at[job], self.planner.why[job]
            when = "runs now" if due_at <= started else f"next run {_when(due_at, schedule.tz)}"
            log.info("%s: %s; %s (%s)", job, schedule.text, when, why)
        while not self.stop.requested:
            now = self.clock().astimezone(UTC)
            due = self.planner.due(now)
            if due:
                self.run_one(due[0], now)
                continue
            next_due = self.planner.next_due()
            seconds = (next_due - now).total_seconds() if next_due else self.max_wait_seconds
            self.wait(min(max(seconds, 0.0), self.max_wait_seconds))
        log.info("serve: stopped (%s)", self.stop.signal_name or "asked to stop")
        return 0

    def run_one(self, job: str, now: datetime) -> RunOutcome:
        log.info("%s: starting (%s)", job, self.planner.why[job])
        if self.heartbeat:
            self.heartbeat.start(job)
        try:
            outcome = self.execute(job, now)
        except Exception as exc:  # the loop must outlive any one run, whatever happens in it
            log.exception("%s: could not be run", job)
            outcome = RunOutcome(job, "failed", error=one_line(exc))
        self.planner.done(job, self.clock())
        if outcome.result != "skipped":
            level = logging.INFO if outcome.succeeded else logging.ERROR
            detail = f": {outcome.error}" if outcome.error else ""
            took = _human(outcome.seconds)
            log.log(level, "%s: %s after %s%s", job, outcome.result, took, detail)
            if self.heartbeat and outcome.succeeded:
                self.heartbeat.success(job)
            elif self.heartbeat:
                self.heartbeat.failure(job)
            self.failures.record(job, now, outcome)
        tz = self.planner.schedules[job].tz
        log.info("%s: next run %s", job, _when(self.planner.due_at[job], tz))
        return outcome


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%a %Y-%m-%d %H:%M %Z}"


def scheduled_jobs(settings: Settings) -> dict[str, Schedule]:
    """The jobs ``serve`` runs: present, enabled, with a schedule (others are logged)."""
    from ops_sheets.service.runner import available_jobs

    parsed = validate_schedules(settings)
    out: dict[str, Schedule] = {}
    for job in available_jobs(settings):
        js = job_settings(settings, job)
        if js is None:
            log.info("%s: a job file without settings has no schedule; serve does not run it", job)
        elif not js.enabled:
            log.info("%s: disabled (enabled = false); serve does not run it", job)
        elif job not in parsed:
            log.info("%s: no schedule; serve does not run it", job)
        else:
            out[job] = parsed[job]
    if not out:
        raise ConfigError(
            f"{settings.source}: no enabled job has a schedule, so serve has nothing to do; "
            f'set one, e.g. [jobs.stock] schedule = "every day at 07:00"'
        )
    return out


def last_success_from_state(settings: Settings) -> Callable[[str], datetime | None]:
    """When the job last started a run that completed (ok or problems)."""

    def last_success(job: str) -> datetime | None:
        with closing(_open_state(settings)) as state:
            runs = [state.last_run(job, "ok"), state.last_run(job, "problems")]
        starts = [r.started_at for r in runs if r is not None]
        starts = [s if s.tzinfo else s.replace(tzinfo=UTC) for s in starts]
        return max(starts, default=None)

    return last_success


def failing_from_state(settings: Settings, jobs: Iterable[str]) -> set[str]:
    """The jobs whose last finished run failed: the process that ran it has said so
    (:class:`FailureAlerts`). An interrupted run is not counted: the process died
    before it could tell anyone."""
    out = set()
    with closing(_open_state(settings)) as state:
        for job in jobs:
            finished = [r for r in state.runs(job, limit=20) if r.result not in FINISHED_NOT]
            if finished and finished[0].result == "failed":
                out.add(job)
    return out


#: run results that say nothing about whether the job works
FINISHED_NOT = ("running", "skipped")


def settle_abandoned_runs(settings: Settings, jobs: list[str]) -> None:
    """Runs left 'running' by a process that died (power cut, kill -9) become 'interrupted'.

    Only under the job's lock: a run that holds the lock is really running.
    """
    for job in jobs:
        try:
            with job_lock(settings, job, wait_seconds=0), closing(_open_state(settings)) as state:
                for run in state.runs(job, limit=20):
                    if run.result == "running":
                        state.finish_run(
                            run.id, "interrupted", datetime.now(UTC),
                            error="the process running it ended without recording an end "
                            "(a crash, a kill or a power cut)",
                        )  # fmt: skip
                        log.warning("%s: run %s had no recorded end; now interrupted", job, run.id)
        except JobLocked:
            continue


def serve(settings: Settings, *, run: RunFunction | None = None) -> int:
    """``ops-sheets serve``: run jobs on their schedules until SIGTERM/SIGINT; exit 0.

    ``run`` is what the child process calls for one job (default
    :func:`ops_sheets.service.runner.run_job`); it must be importable by name.
    """
    from ops_sheets.service.runner import run_job

    _show_service_lines()
    schedules = scheduled_jobs(settings)
    heartbeat = Heartbeat.from_settings(settings)
    with serve_lock(settings):
        stop = StopRequest()
        previous = _install_signal_handlers(stop)
        try:
            log.info("serve: started (pid %s, state %s)", os.getpid(), _state_path(settings))
            settle_abandoned_runs(settings, list(schedules))
            service = Service(
                schedules,
                ChildExecutor(settings, run or run_job, stop),
                last_success_from_state(settings),
                catch_up=timedelta(hours=settings.serve.catch_up_hours),
                clock=lambda: datetime.now(settings.tz),
                wait=stop.wait,
                stop=stop,
                heartbeat=heartbeat,
                on_failure=_channel_failure_poster(settings),
                failing=failing_from_state(settings, list(schedules)),
            )
            return service.run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            stop.close()


def _install_signal_handlers(stop: StopRequest) -> dict[int, Any]:
    def handle(signum: int, _frame: FrameType | None) -> None:
        stop.request(signal.Signals(signum).name)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handle)
    return previous


def _channel_failure_poster(settings: Settings) -> Callable[[str, datetime, str], object] | None:
    """Post a failed run to the channels that carry ``heartbeat_failure`` (issue 23)."""
    if not any("heartbeat_failure" in c.send and c.enabled for c in settings.channels.values()):
        return None

    def post(job: str, now: datetime, error: str) -> object:
        from ops_sheets.mail.channels.poster import post_job_failure

        return post_job_failure(settings, job, now, error)

    return post
