"""Soak: `ops-sheets serve` on the demo workbook, every job every minute, for a while.

    python -m benchmarks.soak_serve                 # 30 minutes (the issue's soak)
    python -m benchmarks.soak_serve --minutes 3     # a short one
    python -m benchmarks.soak_serve --dir /tmp/soak --minutes 60

Builds the demo shop (``ops-sheets demo``) in a fresh folder, sets every job's
schedule to "every minute", points the heartbeat at a local HTTP server, starts a
real ``serve`` process and watches it from outside, through /proc (Linux): resident
memory, open file descriptors and threads of the serve process at the start and the
end, once a minute in between, and the largest child (one job run) seen. Then
SIGTERM, and a summary of the runs from the state database. Serve should neither
grow nor leak: the end figures should match the start ones.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

JOBS = ("check", "stock", "orders", "returns", "monitor", "weekly")


# ---------------------------------------------------------------- the shop


def build_demo(folder: Path) -> Path:
    """``ops-sheets demo`` in ``folder``; its config, rewritten: all jobs every minute."""
    done = subprocess.run(
        [sys.executable, "-m", "ops_sheets.service.cli", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    config = folder / "config.toml"
    if not config.is_file():
        sys.exit(f"soak: `ops-sheets demo` made no config:\n{done.stdout}\n{done.stderr}")
    if done.returncode != 0:  # the shop may still be there; serve will show what fails
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"note: `ops-sheets demo` exited {done.returncode} ({last})")
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    jobs = data.setdefault("jobs", {})
    for name in JOBS:
        section = jobs.setdefault(name, {})
        section["schedule"] = "every minute"
        section["enabled"] = True
    config.write_text(dump_toml(data), encoding="utf-8")
    return config


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for a config: scalars and lists first, then sub-tables."""
    lines: list[str] = []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in tables.items():
        name = f"{prefix}.{key}" if prefix else key
        if any(not isinstance(v, dict) for v in value.values()) or not value:
            lines.append(f"\n[{name}]")
        lines.append(dump_toml(value, name))
    return "\n".join(line for line in lines if line) + "\n"


def with_heartbeat(config: Path, url: str) -> None:
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    data.setdefault("serve", {})["heartbeat_url"] = url
    data["serve"]["heartbeat_timeout_seconds"] = 2.0
    config.write_text(dump_toml(data), encoding="utf-8")


class PingCounter(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        counter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                kind = self.path.rsplit("/", 1)[-1]
                kind = kind if kind in ("start", "fail") else "success"
                counter.counts[kind] = counter.counts.get(kind, 0) + 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


# ---------------------------------------------------------------- /proc


def proc_figures(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_kb": int(fields["VmRSS"].split()[0]),
        "hwm_kb": int(fields["VmHWM"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def job_running(pid: int) -> bool:
    """A spawned job process is alive (the resource tracker, also a child, is not one)."""
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def idle_figures(pid: int, patience: float = 90.0) -> tuple[dict[str, int], bool]:
    """The resting figures, between two runs: a running job adds its pipe, and a moment
    spent recording a run adds the state database's files, so take the least of a few
    samples while no job runs. Busy (False) if no job-free moment came."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if not job_running(pid):
            samples = []
            for _ in range(5):
                samples.append(proc_figures(pid))
                time.sleep(0.1)
            if not job_running(pid):
                return {k: min(s[k] for s in samples) for k in samples[0]}, True
        time.sleep(0.2)
    return proc_figures(pid), False


def sample_line(label: str, figures: dict[str, int], idle: bool) -> str:
    busy = "" if idle else "  (a job was running)"
    mb = figures["rss_kb"] / 1024
    fds, threads = figures["fds"], figures["threads"]
    return f"  {label:<8}  rss {mb:6.1f} MB  fds {fds:3}  threads {threads}{busy}"


def rss_kb(pid: int) -> int:
    try:
        return proc_figures(pid)["rss_kb"]
    except (OSError, KeyError):
        return 0


def runs_summary(state: Path, since: str) -> tuple[dict[str, dict[str, int]], list[str], float]:
    """Runs started since ``since`` (UTC ISO): the soak's, not the demo's own."""
    with sqlite3.connect(state) as db:
        rows = db.execute(
            "SELECT job, result, error, started_at, finished_at FROM job_runs "
            "WHERE started_at >= ? ORDER BY id",
            (since,),
        ).fetchall()
    table: dict[str, dict[str, int]] = {}
    errors: list[str] = []
    durations: list[float] = []
    for job, result, error, started, finished in rows:
        table.setdefault(job, {}).setdefault(result, 0)
        table[job][result] += 1
        if error and error not in errors:
            errors.append(f"{job}: {error}")
        if finished:
            durations.append(
                (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
            )
    mean = sum(durations) / len(durations) if durations else 0.0
    return table, errors, mean


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to serve (30)")
    parser.add_argument("--dir", help="folder for the demo shop (default: a new temp folder)")
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        sys.exit("soak: needs Linux (/proc) to measure the serve process")

    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="ops-soak-"))
    print(f"soak: building the demo shop in {folder}")
    config = build_demo(folder)
    pings = PingCounter()
    threading.Thread(target=pings.serve_forever, daemon=True).start()
    with_heartbeat(config, f"http://127.0.0.1:{pings.server_address[1]}/soak-check")

    log_path = folder / "serve.log"
    since = datetime.now(UTC).isoformat()
    with log_path.open("w") as log_file:
        serve = subprocess.Popen(
            [sys.executable, "-m", "ops_sheets.service.cli", "--log-format", "json", "serve",
             "--config", str(config)],
            stdout=log_file,
            stderr=log_file,
        )  # fmt: skip
        print(f"soak: serve pid {serve.pid}, every job every minute, for {args.minutes:g} min")
        print(f"soak: log in {log_path}")
        time.sleep(5.0)  # past the imports and the first spawn
        start, start_idle = idle_figures(serve.pid)
        print(sample_line("start", start, start_idle))
        began = time.monotonic()
        deadline = began + args.minutes * 60
        next_report = began + 60
        largest_child = 0
        while time.monotonic() < deadline:
            if serve.poll() is not None:
                print(f"soak: serve exited early with {serve.returncode}; see {log_path}")
                return 1
            for child in children(serve.pid):
                largest_child = max(largest_child, rss_kb(child))
            if time.monotonic() >= next_report:
                minute = round((time.monotonic() - began) / 60)
                print(
                    sample_line(
                        f"{minute} min", proc_figures(serve.pid), not job_running(serve.pid)
                    )
                )
                next_report += 60
            time.sleep(1.0)
        end, end_idle = idle_figures(serve.pid)
        serve.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        try:
            code = serve.wait(timeout=20 * 60)
        except subprocess.TimeoutExpired:
            serve.kill()
            code = serve.wait()
        stop_seconds = time.monotonic() - stopping
    pings.shutdown()

    settings_state = tomllib.loads(config.read_text())["state"]["path"]
    state = Path(settings_state) if Path(settings_state).is_absolute() else folder / settings_state
    table, errors, mean = runs_summary(state, since)
    total = sum(sum(r.values()) for r in table.values())
    print()
    print(f"serve process ({args.minutes:g} min, {total} runs, mean run {mean:.1f} s):")
    mb = {k: v / 1024 for k, v in (("start", start["rss_kb"]), ("end", end["rss_kb"]))}
    peak = end["hwm_kb"] / 1024
    print(
        f"  memory (RSS)   start {mb['start']:6.1f} MB   end {mb['end']:6.1f} MB"
        f"   peak {peak:.1f} MB"
    )
    busy = "" if start_idle and end_idle else "   (a job was running at a sample: +2 fds)"
    print(f"  open fds       start {start['fds']:6}      end {end['fds']:6}{busy}")
    print(f"  threads        start {start['threads']:6}      end {end['threads']:6}")
    print(f"  largest child (one job run): {largest_child / 1024:.1f} MB")
    print(f"  SIGTERM → exit {code} in {stop_seconds:.1f} s")
    print(f"  heartbeat pings: {dict(sorted(pings.counts.items()))}")
    print("runs by job and result:")
    for job, results in sorted(table.items()):
        print(f"  {job:<8} " + ", ".join(f"{r} {n}" for r, n in sorted(results.items())))
    for line in errors[:10]:
        print(f"  error: {line}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
