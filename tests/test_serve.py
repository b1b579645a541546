"""``serve`` with real child processes: timeouts, crashes, locks, signals, heartbeat, status.

Jobs here are user job files (``jobs_dir``) standing in for bundled ones: one that
hangs, one that raises, one whose process dies, one that is slow. The runner runs
them on an in-memory workbook (``run_on_memory`` in a small helper module, which the
spawned children import by name), so these tests exercise the real runner, state
database, child processes and signals without depending on a workbook file.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ops_sheets.config import Settings, load_settings
from ops_sheets.errors import ConfigError, JobError
from ops_sheets.service.heartbeat import Heartbeat
from ops_sheets.service.runner import JOB_NAMES
from ops_sheets.service.scheduler import (
    ChildExecutor,
    JobLocked,
    RunOutcome,
    Service,
    StopRequest,
    job_lock,
    job_lock_path,
    last_success_from_state,
    scheduled_jobs,
    serve,
    serve_lock,
    serve_lock_path,
    settle_abandoned_runs,
)
from ops_sheets.service.status import collect_status, format_status, print_status
from ops_sheets.store.state import JobRun, State

ALL_JOBS = JOB_NAMES  # every bundled job is scheduled by default

HELPER = '''
"""serve's run target in tests: the real runner on an in-memory copy of an empty shop."""
import sys

from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook

SHOP = {
    "Stock": [["SKU", "On hand"]],
    "Suppliers": [["Supplier", "Email"]],
    "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
    "Orders": [["Order ID", "Order date", "SKU", "Qty", "Status"]],
    "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
    "Forwarders": [["Forwarder", "Email", "Pickup cutoff", "Pickup days"]],
}


def run_on_memory(name, settings, now):
    return run_job(name, settings, now, workbook=MemoryWorkbook(SHOP))


def main(argv):
    from ops_sheets.config import load_settings
    from ops_sheets.errors import OpsSheetsError
    from ops_sheets.logs import setup_logging
    from ops_sheets.service.scheduler import serve

    setup_logging()
    try:
        return serve(load_settings(argv[0]), run=run_on_memory)
    except OpsSheetsError as exc:
        print(f"ops-sheets: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''

QUICK = "def run(ctx):\n    ctx.note('done')\n"
TELLS_ZONE = (
    "import pathlib\n\n"
    "def run(ctx):\n"
    "    pathlib.Path(__file__).with_name('zone').write_text(str(ctx.now.tzinfo))\n"
)
HANG = "import time\n\ndef run(ctx):\n    time.sleep(600)\n"
BOOM = "def run(ctx):\n    raise RuntimeError('the supplier API said no')\n"
DIES = "import os\n\ndef run(ctx):\n    os._exit(3)\n"
BROKEN = "def run(ctx)\n    pass\n"


def slow(seconds: float) -> str:
    return (
        "import pathlib, time\n\n"
        "def run(ctx):\n"
        "    pathlib.Path(__file__).with_name('started').write_text('yes')\n"
        f"    time.sleep({seconds})\n"
        "    ctx.note('slept')\n"
    )


@pytest.fixture(scope="session")
def helper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The helper module, importable by name here and in spawned children."""
    folder = tmp_path_factory.mktemp("helper")
    (folder / "ops_serve_helper.py").write_text(HELPER, encoding="utf-8")
    sys.path.insert(0, str(folder))  # spawned children inherit sys.path
    try:
        yield importlib.import_module("ops_serve_helper")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("ops_serve_helper", None)


def make_config(
    root: Path,
    jobs: dict[str, dict[str, Any]],
    files: dict[str, str] | None = None,
    serve: dict[str, Any] | None = None,
) -> Path:
    """A config in ``root`` where only ``jobs`` are enabled; job ``files`` go to jobs/."""
    lines = ['timezone = "Europe/London"', 'jobs_dir = "jobs"', "[state]", 'path = "state.db"']
    for name in ALL_JOBS:
        lines.append(f"[jobs.{name}]")
        for key, value in jobs.get(name, {"enabled": False}).items():
            lines.append(f"{key} = {json.dumps(value)}")
    if serve:
        lines.append("[serve]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in serve.items()]
    (root / "jobs").mkdir(exist_ok=True)
    for name, source in (files or {}).items():
        (root / "jobs" / f"{name}.py").write_text(source, encoding="utf-8")
    path = root / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def runs(settings: Settings, job: str) -> list[JobRun]:
    with closing(State(settings.resolve(settings.state.path))) as state:
        return state.runs(job)


def wait_for(condition: Callable[[], Any], seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true after {seconds} s: {condition}")


def now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- child processes


def test_a_hanging_job_is_killed_at_its_timeout_recorded_and_the_loop_goes_on(
    tmp_path: Path, helper: ModuleType
) -> None:
    every_minute = {"schedule": "every minute"}
    config = make_config(
        tmp_path,
        {"check": {**every_minute, "timeout_minutes": 0.03}, "returns": every_minute},
        {"check": HANG, "returns": TELLS_ZONE},
    )
    settings = load_settings(config)
    stop = StopRequest()
    executor = ChildExecutor(settings, helper.run_on_memory, stop)
    outcomes: list[RunOutcome] = []

    def execute(job: str, at: datetime) -> RunOutcome:
        outcomes.append(executor(job, at))
        if len(outcomes) == 2:
            stop.request("test")
        return outcomes[-1]

    service = Service(
        scheduled_jobs(settings),
        execute,
        last_success_from_state(settings),
        catch_up=timedelta(hours=12),
        clock=now,
        wait=stop.wait,
        stop=stop,
    )
    started = now()
    try:
        assert service.run() == 0
    finally:
        stop.close()

    hung, quick = outcomes
    assert (hung.job, hung.result) == ("check", "failed")
    assert "timed out after 1.8 s (timeout_minutes = 0.03)" in hung.error
    assert 1.8 <= hung.seconds < 10
    assert (quick.job, quick.succeeded) == ("returns", True)
    [recorded] = runs(settings, "check")
    assert recorded.result == "failed" and "timed out" in recorded.error
    assert recorded.finished_at is not None
    assert [r.result for r in runs(settings, "returns")] == [quick.result]
    assert (tmp_path / "jobs" / "zone").read_text() == "Europe/London"  # business time, not UTC
    # the hung job waits for its next slot, not the next tick of the loop
    next_check = service.planner.due_at["check"]
    assert started < next_check <= now() + timedelta(minutes=1)
    assert next_check.second == 0


def test_a_raising_job_a_dying_process_and_a_broken_job_file_are_each_recorded_once(
    tmp_path: Path, helper: ModuleType
) -> None:
    config = make_config(
        tmp_path,
        {name: {"schedule": "every minute"} for name in ("check", "stock", "returns")},
        {"check": BOOM, "stock": DIES, "returns": BROKEN},
    )
    settings = load_settings(config)
    executor = ChildExecutor(settings, helper.run_on_memory, StopRequest())

    raised = executor("check", now())
    assert raised.result == "failed"
    assert "RuntimeError: the supplier API said no" in raised.error
    [row] = runs(settings, "check")
    assert row.result == "failed" and "the supplier API said no" in row.error

    died = executor("stock", now())
    assert died.result == "failed" and "ended without a result (exit code 3)" in died.error
    [row] = runs(settings, "stock")  # opened by the runner, finished by serve
    assert row.result == "failed" and row.finished_at is not None

    broken = executor("returns", now())
    assert broken.result == "failed" and "SyntaxError" in broken.error
    [row] = runs(settings, "returns")  # never started by the runner: written by serve
    assert row.result == "failed" and "SyntaxError" in row.error


def test_serve_skips_a_slot_while_another_process_runs_the_job(
    tmp_path: Path, helper: ModuleType
) -> None:
    settings = load_settings(make_config(tmp_path, {"check": {}}, {"check": QUICK}))
    executor = ChildExecutor(settings, helper.run_on_memory, StopRequest())
    with job_lock(settings, "check"):
        outcome = executor("check", now())
    assert outcome.result == "skipped"
    assert f"job 'check' is already running in another process (pid {os.getpid()}" in outcome.error
    assert runs(settings, "check") == []


def test_job_lock_waits_for_the_holder_or_says_who_holds_it(tmp_path: Path) -> None:
    settings = load_settings(make_config(tmp_path, {}))
    held = threading.Event()

    def hold(seconds: float) -> None:
        with job_lock(settings, "stock"):
            held.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold, args=(0.5,))
    holder.start()
    held.wait()
    told: list[str] = []
    with job_lock(settings, "stock", wait_seconds=10, on_wait=told.append):
        assert job_lock_path(settings, "stock").read_text().startswith(f"pid {os.getpid()} since")
    holder.join()
    assert len(told) == 1 and "waiting up to 10.0 s for it to finish" in told[0]

    held.clear()
    holder = threading.Thread(target=hold, args=(2.0,))
    holder.start()
    held.wait()
    with (
        pytest.raises(JobLocked) as caught,
        job_lock(settings, "stock", wait_seconds=0.3, on_wait=told.append),
    ):
        pass
    holder.join()
    assert isinstance(caught.value, JobError) and caught.value.exit_code == 1
    assert f"(pid {os.getpid()} since" in str(caught.value) and "ops-sheets status" in str(
        caught.value
    )
    assert job_lock_path(settings, "stock").read_text() == ""  # released: no stale pid


def test_a_signal_wakes_the_idle_loop_at_once() -> None:
    stop = StopRequest()
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: stop.request("SIGUSR1"))
    try:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        # an hour, far past pytest's timeout: only the signal can end this wait
        stop.wait(3600)
        assert stop.requested and stop.signal_name == "SIGUSR1"
    finally:
        signal.signal(signal.SIGUSR1, previous)
        stop.close()


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted_at_start(
    tmp_path: Path,
) -> None:
    settings = load_settings(make_config(tmp_path, {"check": {}}))
    with closing(State(settings.resolve(settings.state.path))) as state:
        state.start_run("check", now(), now())
    settle_abandoned_runs(settings, ["check"])
    [row] = runs(settings, "check")
    assert row.result == "interrupted" and "without recording an end" in row.error


def test_serve_refuses_an_invalid_schedule_and_a_config_with_nothing_to_run(tmp_path: Path) -> None:
    bad = load_settings(make_config(tmp_path, {"check": {"schedule": "every day at 7"}}))
    with pytest.raises(
        ConfigError, match=r'\[jobs\.check\] schedule: "every day at 7".*"every 30 minutes"'
    ):
        serve(bad)
    idle = load_settings(make_config(tmp_path, {"check": {"schedule": ""}}))
    with pytest.raises(ConfigError, match="no enabled job has a schedule"):
        serve(idle)
    assert not serve_lock_path(idle).exists()  # refused before taking the lock


# ---------------------------------------------------------------- serve processes


class PingServer(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.delay = 0.0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                time.sleep(server.delay)
                with contextlib.suppress(ConnectionError):  # a client that timed out left
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"OK")

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def pings() -> Iterator[PingServer]:
    server = PingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def start_serve(config: Path, helper: ModuleType) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(helper.__file__), str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_serve(process: subprocess.Popen[str], *, send: bool = True) -> tuple[int, str]:
    if send and process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err


def test_a_second_serve_exits_non_zero_with_a_clear_message(
    tmp_path: Path, helper: ModuleType
) -> None:
    config = make_config(tmp_path, {"check": {"schedule": "every minute"}}, {"check": QUICK})
    settings = load_settings(config)
    first = start_serve(config, helper)
    try:
        wait_for(
            lambda: serve_lock_path(settings).exists() and serve_lock_path(settings).read_text()
        )
        second = subprocess.run(
            [sys.executable, "-m", "ops_sheets.service.cli", "serve", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert "another `ops-sheets serve` is already running" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        code, err = stop_serve(first)
    assert code == 0, err
    assert serve_lock_path(settings).read_text() == ""


def test_sigterm_during_a_run_lets_it_finish_then_serve_exits_0(
    tmp_path: Path, helper: ModuleType, pings: PingServer
) -> None:
    config = make_config(
        tmp_path,
        {"check": {"schedule": "every minute"}},
        {"check": slow(2.0)},
        serve={
            "heartbeat_url": pings.url + "/ping/abc123?create=1",
            "heartbeat_timeout_seconds": 2.0,
        },
    )
    settings = load_settings(config)
    process = start_serve(config, helper)
    try:
        wait_for(lambda: (tmp_path / "jobs" / "started").exists())
        process.send_signal(signal.SIGTERM)
        code, err = stop_serve(process, send=False)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, err
    [row] = runs(settings, "check")
    assert row.result in ("ok", "problems") and row.finished_at is not None, row
    assert "letting the run finish" in err and "stopped (SIGTERM)" in err
    assert pings.paths == ["/ping/abc123/start?create=1", "/ping/abc123?create=1"]
    assert "abc123" not in err  # the ping URL is a secret
    with sqlite3.connect(settings.resolve(settings.state.path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_second_signal_stops_the_run_at_once_and_records_it_interrupted(
    tmp_path: Path, helper: ModuleType
) -> None:
    config = make_config(tmp_path, {"check": {"schedule": "every minute"}}, {"check": slow(60)})
    settings = load_settings(config)
    process = start_serve(config, helper)
    try:
        wait_for(lambda: (tmp_path / "jobs" / "started").exists())
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        # the job sleeps 60 s and stop_serve kills serve after 30: exit 0 with the
        # run recorded "interrupted" shows the second signal stopped it at once
        code, err = stop_serve(process, send=False)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, err
    [row] = runs(settings, "check")
    assert row.result == "interrupted" and "second SIGINT" in row.error
    with sqlite3.connect(settings.resolve(settings.state.path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_job_does_not_outlive_a_serve_that_was_killed_outright(
    tmp_path: Path, helper: ModuleType
) -> None:
    config = make_config(tmp_path, {"check": {"schedule": "every minute"}}, {"check": slow(60)})
    settings = load_settings(config)
    process = start_serve(config, helper)
    wait_for(lambda: (tmp_path / "jobs" / "started").exists())
    process.kill()
    process.communicate(timeout=10)
    # the orphaned child notices within a second and leaves; the job lock is free again
    with job_lock(settings, "check", wait_seconds=10):
        pass
    settle_abandoned_runs(settings, ["check"])
    assert [r.result for r in runs(settings, "check")] == ["interrupted"]


# ---------------------------------------------------------------- heartbeat


def test_heartbeat_pings_start_success_and_fail_like_healthchecks(pings: PingServer) -> None:
    beat = Heartbeat(pings.url + "/uuid-1/")
    assert beat.start("stock") and beat.success("stock") and beat.failure("stock")
    assert pings.paths == ["/uuid-1/start", "/uuid-1", "/uuid-1/fail"]


def test_a_heartbeat_that_cannot_be_reached_never_fails_and_never_waits_long(
    pings: PingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ops_sheets.serve")
    with closing(__import__("socket").socket()) as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    assert Heartbeat(f"http://127.0.0.1:{closed_port}/secret-uuid", 1.0).start("stock") is False
    # the server answers 200 after 2 s: False means the ping gave up at its 0.2 s timeout
    pings.delay = 2.0
    assert Heartbeat(pings.url + "/slow-uuid", 0.2).failure("stock") is False
    assert "heartbeat ping/start failed (the job is not affected)" in caplog.text
    assert "secret-uuid" not in caplog.text


def test_a_heartbeat_url_must_be_http(tmp_path: Path) -> None:
    config = make_config(tmp_path, {}, serve={"heartbeat_url": "ftp://example.com/x"})
    with pytest.raises(
        ConfigError, match=r"heartbeat_url: 'ftp://example.com/x' is not an http\(s\) URL"
    ):
        load_settings(config)  # refused as the config loads, before serve starts
    with pytest.raises(ConfigError, match=r"is not an http\(s\) URL"):
        Heartbeat("ftp://example.com/x")  # and by the heartbeat itself


# ---------------------------------------------------------------- status


def test_status_shows_last_runs_next_runs_and_open_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(
        tmp_path,
        {"check": {"schedule": "every 30 minutes"}, "stock": {"schedule": "every day at 07:00"}},
    )
    settings = load_settings(config)
    at = datetime(2026, 11, 23, 9, 10, tzinfo=UTC)
    with closing(State(settings.resolve(settings.state.path))) as state:
        run = state.start_run("check", at, at - timedelta(minutes=10))
        state.finish_run(
            run, "problems", at - timedelta(minutes=10) + timedelta(seconds=2.5), {"problems": 3}
        )
        run = state.start_run("stock", at, at - timedelta(hours=2))
        state.finish_run(run, "failed", at - timedelta(hours=2), error="WorkbookError: file locked")

    status = collect_status(settings, at)
    jobs = {j["job"]: j for j in status["jobs"]}
    assert jobs["check"]["result"] == "problems" and jobs["check"]["duration_seconds"] == 2.5
    assert jobs["check"]["next_run"] == "2026-11-23T09:30:00+00:00"
    assert jobs["stock"]["next_run"] == "2026-11-24T07:00:00+00:00"
    assert jobs["orders"]["enabled"] is False and jobs["orders"]["next_run"] is None
    assert status["open_problems"] == {
        "count": 3,
        "as_of": "2026-11-23T09:00:02+00:00",
        "job": "check",
    }
    assert status["serve"] == {"running": False, "pid": None}

    lines = format_status(status)
    assert lines[0] == "serve: not running"
    assert any(
        line.startswith("check     Mon 23 Nov 09:00") and "problems" in line for line in lines
    )
    assert "          error: WorkbookError: file locked" in lines
    assert "Open problems: 3 on the Problems tab (as of the check run, Mon 23 Nov 09:00)" in lines

    with serve_lock(settings):
        assert print_status(settings, as_json=True) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["serve"] == {"running": True, "pid": os.getpid()}
    assert printed["open_problems"]["count"] == 3


def test_status_names_an_invalid_schedule_instead_of_failing(tmp_path: Path) -> None:
    settings = load_settings(make_config(tmp_path, {"check": {"schedule": "every blue moon"}}))
    [check] = [j for j in collect_status(settings)["jobs"] if j["job"] == "check"]
    assert check["next_run"] is None and "every blue moon" in check["schedule_error"]
    assert any("invalid schedule" in line for line in format_status(collect_status(settings)))
