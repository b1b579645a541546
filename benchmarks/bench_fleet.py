"""A fleet of shops on one PostgreSQL, served by `serve --shops` workers (issue 21).

Run: ``python -m benchmarks.bench_fleet`` (``--shops 200 --slots "07:00 and 13:00"``).

N shops (small generated workbooks, one spreadsheet each on the local Sheets API
emulator), each with its ``check`` job at the given times every day, all their
state in one PostgreSQL (a throwaway cluster, or ``--pg-url``). Worker processes
run :class:`ops_sheets.service.fleet.Fleet` with a simulated clock read from a
file: the benchmark moves that clock from slot to slot through a day, waiting at
each slot until every shop's run is finished (claimed and finished in the store),
so a day of schedules takes as long as its runs do. Day 1 is served by one worker,
day 2 by two. It then checks and prints:

* every slot of every shop run exactly once (slot leases in PostgreSQL; job runs);
* the peak Sheets requests in any 60 s window, against the configured quota that
  all workers share (``--quota-per-minute``; the token buckets in PostgreSQL);
* CPU seconds per shop-run (user + system of the worker processes);
* throughput (shop-runs per second of wall time) with one worker and with two.

Runs execute in the worker's threads by default (``--isolation thread``): the
numbers are those of the fleet, the store and the quota, not of starting a Python
interpreter per run. ``--isolation process`` uses a spawned child per run, as
``serve --shops`` does (about 1.5 s of CPU each: use fewer shops).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAY1 = datetime(2026, 11, 23, tzinfo=UTC)


# ---------------------------------------------------------------- the shops


def workbook(i: int) -> dict[str, list[list[object]]]:
    stock: list[list[object]] = [["SKU", "Product", "Supplier", "On hand"]]
    stock += [[f"S{i}-{k}", f"Item {k}", "Acme", (i + k) % 7] for k in range(5)]
    return {
        "Stock": stock,
        "Suppliers": [["Supplier", "Email"], ["Acme", "orders@acme.example"]],
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Orders": [["Order ID", "Order date", "SKU", "Qty", "Status"]],
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [["Forwarder", "Email", "Pickup cutoff", "Pickup days"]],
    }


def write_shop(
    root: Path, i: int, sheet_id: str, pg_url: str, slots: str, quota: float, schema: str
) -> None:
    folder = root / f"shop{i:04d}"
    folder.mkdir(parents=True)
    from ops_sheets.service.runner import JOB_NAMES

    # only the check job: every other bundled job off (the figures are per check run)
    off = "".join(f"[jobs.{j}]\nenabled = false\n" for j in JOB_NAMES if j != "check")
    (folder / "config.toml").write_text(
        f"""timezone = "UTC"
[workbook]
backend = "google"
spreadsheet_id = "{sheet_id}"
requests_per_minute = {quota}
requests_per_minute_per_user = {quota}
[state]
url = "{pg_url}"
schema = "{schema}"
[serve]
catch_up_hours = 0
lease_margin_seconds = 60
[jobs.check]
schedule = "every day at {slots}"
{off}""",
        encoding="utf-8",
    )


# ---------------------------------------------------------------- a worker process


class ThreadExecutor:
    """Runs a job in the calling (pool) thread: the fleet without interpreter start-up."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def __call__(self, job: str, now: datetime) -> Any:
        from ops_sheets.service.runner import run_job
        from ops_sheets.service.scheduler import RunOutcome, one_line

        started = time.monotonic()
        try:
            result = run_job(job, self.settings, now.astimezone(self.settings.tz))
        except Exception as exc:
            return RunOutcome(job, "failed", time.monotonic() - started, one_line(exc))
        outcome = "ok" if result.exit_code == 0 else "problems"
        return RunOutcome(job, outcome, time.monotonic() - started)


def worker_main(args: argparse.Namespace) -> int:
    from ops_sheets.service.fleet import Fleet
    from ops_sheets.service.runner import run_job
    from ops_sheets.service.scheduler import StopRequest, _install_signal_handlers
    from ops_sheets.sheet.workbook.quota import install_gate
    from ops_sheets.store.quota import QuotaRun, SharedGate

    clock_file = Path(args.clock_file)

    def clock() -> datetime:
        return datetime.fromisoformat(clock_file.read_text().strip())

    stop = StopRequest()
    _install_signal_handlers(stop)
    if args.isolation == "thread":
        install_gate(SharedGate(args.pg_url))
        fleet = Fleet(
            Path(args.worker), run_job, clock=clock, stop=stop, parallel=args.parallel,
            tick_seconds=0.2, executor_factory=ThreadExecutor,
        )  # fmt: skip
    else:
        fleet = Fleet(
            Path(args.worker), QuotaRun(run_job, args.pg_url), clock=clock, stop=stop,
            parallel=args.parallel, tick_seconds=0.2,
        )  # fmt: skip
    fleet.tick()  # every shop loaded and planned before the clock moves
    fleet.wait_idle()
    (clock_file.parent / f"ready-{os.getpid()}").touch()
    fleet.run()
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    failed = sum(1 for *_, result in fleet.runs if result not in ("ok", "problems"))
    print(json.dumps({"runs": len(fleet.runs), "failed": failed, "cpu": cpu}), flush=True)
    return 0


# ---------------------------------------------------------------- the coordinator


def slot_times(slots: str, day: datetime) -> list[datetime]:
    from ops_sheets.service.scheduler import parse_schedule

    schedule = parse_schedule(f"every day at {slots}", UTC)  # type: ignore[arg-type]
    out, moment = [], day - timedelta(seconds=1)
    while (moment := schedule.next_after(moment)) < day + timedelta(days=1):
        out.append(moment)
    return out


def finished_count(conn: Any, schemas: list[str], slot: datetime) -> int:
    iso = slot.astimezone(UTC).isoformat(timespec="microseconds")
    union = " UNION ALL ".join(
        f"SELECT count(*) AS n FROM {s}.slot_leases WHERE slot = %(slot)s "
        "AND finished_at IS NOT NULL"
        for s in schemas
    )
    return int(conn.execute(f"SELECT sum(n) FROM ({union}) AS t", {"slot": iso}).fetchone()[0])


def _drive_day(
    procs: list[subprocess.Popen[str]],
    day: datetime,
    args: argparse.Namespace,
    clock_file: Path,
    conn: Any,
    schemas: list[str],
) -> float:
    """Move the workers' clock slot by slot; the seconds spent waiting for the runs."""
    # the workers load the shops (not timed: a restart, not a slot)
    ready = [clock_file.parent / f"ready-{p.pid}" for p in procs]
    deadline = time.monotonic() + args.slot_timeout
    while not all(r.exists() for r in ready):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit("a worker did not start; run with BENCH_FLEET_DEBUG=1 to see why")
        time.sleep(0.2)
    busy = 0.0
    for slot in slot_times(args.slots, day):
        clock_file.write_text((slot + timedelta(seconds=1)).isoformat())
        started = time.monotonic()
        while finished_count(conn, schemas, slot) < len(schemas):
            time.sleep(0.2)
            if time.monotonic() - started > args.slot_timeout:
                raise SystemExit(
                    f"slot {slot:%H:%M}: not every shop ran within {args.slot_timeout}s"
                )
        busy += time.monotonic() - started
    clock_file.write_text((day + timedelta(hours=23, minutes=59)).isoformat())
    return busy


def run_day(
    workers: int,
    day: datetime,
    args: argparse.Namespace,
    env: dict[str, str],
    paths: dict[str, Path],
    conn: Any,
    schemas: list[str],
) -> dict[str, Any]:
    clock_file = paths["clock"]
    clock_file.write_text((day - timedelta(minutes=1)).isoformat())
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_fleet",
                "--worker",
                str(paths["shops"]),
                "--clock-file",
                str(clock_file),
                "--pg-url",
                args.pg_url,
                "--parallel",
                str(args.parallel),
                "--isolation",
                args.isolation,
            ],
            cwd=str(REPO),
            env=env,
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("BENCH_FLEET_DEBUG") else subprocess.DEVNULL,
            text=True,
        )
        for _ in range(workers)
    ]
    try:
        busy = _drive_day(procs, day, args, clock_file, conn, schemas)
    except BaseException:
        for p in procs:  # a failed benchmark leaves no worker behind
            p.kill()
            p.wait()
        raise
    summaries = []
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        out, _ = p.communicate(timeout=120)
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    runs = sum(s["runs"] for s in summaries)
    return {
        "workers": workers,
        "runs": runs,
        "seconds": busy,
        "cpu": sum(s["cpu"] for s in summaries),
        "per_worker": [s["runs"] for s in summaries],
        "failed": sum(s["failed"] for s in summaries),
    }


def check_exactly_once(conn: Any, schemas: list[str], expected_per_shop: int) -> tuple[bool, str]:
    bad = []
    for s in schemas:
        leases = conn.execute(
            f"SELECT count(*), count(finished_at) FROM {s}.slot_leases"
        ).fetchone()
        runs = conn.execute(f"SELECT count(*) FROM {s}.job_runs").fetchone()[0]
        if not (leases[0] == leases[1] == runs == expected_per_shop):
            bad.append(f"{s}: {leases[0]} slots, {leases[1]} finished, {runs} runs")
    return not bad, "; ".join(bad[:5])


def peak_per_minute(times: list[float]) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 60.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shops", type=int, default=200)
    parser.add_argument(
        "--slots", default="07:00 and 13:00", help='times of day, "07:00 and 13:00"'
    )
    parser.add_argument("--quota-per-minute", type=float, default=1200.0)
    parser.add_argument("--parallel", type=int, default=4, help="shops at once per worker")
    parser.add_argument("--isolation", choices=("thread", "process"), default="thread")
    parser.add_argument("--pg-url", default="")
    parser.add_argument("--slot-timeout", type=float, default=900.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--clock-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sys.exit(worker_main(args))

    import psycopg

    from ops_sheets.emulator import SheetsEmulator

    cluster = None
    if not args.pg_url:
        sys.path.insert(0, str(REPO / "tests"))
        from storefixtures import _Cluster, _find  # the tests' throwaway cluster

        initdb, pg_ctl = _find("initdb"), _find("pg_ctl")
        if not initdb or not pg_ctl:
            raise SystemExit("no PostgreSQL (initdb/pg_ctl): install postgresql or pass --pg-url")
        cluster = _Cluster()
        args.pg_url = cluster.start(initdb, pg_ctl)
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        with SheetsEmulator() as emu:
            env = {**os.environ, "SHEETS_EMULATOR_HOST": emu.host_port}
            paths = {"shops": folder / "shops", "clock": folder / "clock.txt"}
            tag = f"b{os.getpid()}"
            schemas = [f"{tag}_shop{i:04d}" for i in range(args.shops)]
            for i in range(args.shops):
                sheet_id = emu.create_spreadsheet(sheets=workbook(i))
                write_shop(
                    paths["shops"], i, sheet_id, args.pg_url, args.slots,
                    args.quota_per_minute, schemas[i],
                )  # fmt: skip
            from ops_sheets.store.location import PostgresLocation
            from ops_sheets.store.state import State

            for s in schemas:  # the schemas exist before the first slot (as after a migrate)
                State(PostgresLocation(args.pg_url, s)).close()
            slots_per_day = len(slot_times(args.slots, DAY1))
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                emu.reset_counts()
                one = run_day(1, DAY1, args, env, paths, conn, schemas)
                two = run_day(2, DAY1 + timedelta(days=1), args, env, paths, conn, schemas)
                ok, why = check_exactly_once(conn, schemas, 2 * slots_per_day)
            stamps = [r.time for r in emu.requests]
    finally:
        if cluster is not None:
            cluster.stop(pg_ctl)  # type: ignore[possibly-undefined]
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    runs = one["runs"] + two["runs"]
    print(
        f"{args.shops} shops x {slots_per_day} slots a day ({args.slots}), check job, "
        f"Sheets emulator, one PostgreSQL, runs in {args.isolation}s"
    )
    print(f"  every slot run exactly once (2 days): {'yes' if ok else 'NO: ' + why}")
    print(
        f"  Sheets requests: {len(stamps)} ({len(stamps) / max(runs, 1):.1f} per run); "
        f"peak {peak_per_minute(stamps)} in any 60 s, quota {args.quota_per_minute:g}/min shared"
    )
    for day in (one, two):
        print(
            f"  {day['workers']} worker(s): {day['runs']} runs in {day['seconds']:.1f} s "
            f"= {day['runs'] / max(day['seconds'], 1e-9):.2f} runs/s; "
            f"CPU {day['cpu'] / max(day['runs'], 1) * 1000:.0f} ms per shop-run; "
            f"split {day['per_worker']}; failed runs {day['failed']}"
        )
    speedup = (two["runs"] / two["seconds"]) / max(one["runs"] / one["seconds"], 1e-9)
    print(f"  throughput two workers / one: x{speedup:.2f} (machine: {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
