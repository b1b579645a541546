"""``ops-sheets status``: what ran, when it runs next, what awaits a person.

Read-only and quick: it reads the state database (job runs, the ledger) and the
config, never the workbook. "Open problems" is the Problems count of the latest
finished run: every job reads every team tab and rewrites the Problems tab, so the
latest run's count is what the tab shows.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

from ops_sheets.config import Settings
from ops_sheets.errors import ConfigError
from ops_sheets.service.runner import available_jobs
from ops_sheets.service.scheduler import (
    job_settings,
    lock_holder_pid,
    next_run_time,
    serve_lock_path,
)
from ops_sheets.store.location import state_location
from ops_sheets.store.state import JobRun, State


def collect_status(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    tz = settings.tz
    jobs = []
    latest_runs: list[JobRun] = []
    with closing(State(state_location(settings))) as state:
        for name in available_jobs(settings):
            last = state.last_run(name)
            own = job_settings(settings, name)
            next_run, schedule_error = _next_run(settings, name, now)
            jobs.append(
                {
                    "job": name,
                    "schedule": own.schedule if own else "",
                    "enabled": own.enabled if own else None,  # None: a job file without settings
                    "last_run": _local(last.started_at, tz) if last else None,
                    "result": last.result if last else None,
                    "duration_seconds": last.duration_seconds if last else None,
                    "error": last.error if last else "",
                    "problems": (last.counts or {}).get("problems") if last else None,
                    "next_run": next_run,
                    "schedule_error": schedule_error,
                }
            )
            counted = [
                r for r in state.runs(name, limit=5) if r.finished_at and "problems" in r.counts
            ]
            if counted:
                latest_runs.append(counted[0])
    latest = max(latest_runs, key=lambda r: r.finished_at or now, default=None)
    open_problems = (
        {
            "count": latest.counts["problems"],
            "as_of": _local(latest.finished_at, tz),
            "job": latest.job,
        }
        if latest is not None and latest.finished_at
        else None
    )
    return {
        "now": _local(now, tz),
        "serve": _serve_status(settings),
        "jobs": jobs,
        "open_problems": open_problems,
        "awaiting_review": _awaiting_review(settings),
    }


def _local(moment: datetime, tz: Any) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).isoformat(timespec="seconds")


def _next_run(settings: Settings, job: str, now: datetime) -> tuple[str | None, str]:
    try:
        when = next_run_time(settings, job, now)
    except ConfigError as exc:
        return None, str(exc)
    return (when.isoformat(timespec="seconds") if when else None), ""


def _serve_status(settings: Settings) -> dict[str, Any]:
    pid = lock_holder_pid(serve_lock_path(settings))
    return {"running": pid is not None, "pid": pid}


def _awaiting_review(settings: Settings) -> list[dict[str, Any]]:
    try:
        from ops_sheets.store.ledger import Ledger
    except ImportError:
        return []
    ledger = Ledger(state_location(settings))
    try:
        return [_as_dict(m) for m in ledger.awaiting_review()]
    finally:
        close = getattr(ledger, "close", None)
        if callable(close):
            close()


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return message
    fields = ("key", "kind", "to", "state", "updated_at", "reference")
    return {f: str(getattr(message, f, "")) for f in fields if hasattr(message, f)}


def _short(iso: str | None) -> str:
    """2026-11-23T09:00:00+00:00 → 'Mon 23 Nov 09:00' for the table."""
    if not iso:
        return ""
    return f"{datetime.fromisoformat(iso):%a %d %b %H:%M}"


def format_status(status: dict[str, Any]) -> list[str]:
    serve = status["serve"]
    lines = [
        f"serve: running (pid {serve['pid']})" if serve["running"] else "serve: not running",
        "",
        f"{'job':<9} {'last run':<17} {'result':<11} {'took':>7}  {'next run':<17} schedule",
    ]
    for j in status["jobs"]:
        took = f"{j['duration_seconds']:.1f}s" if j["duration_seconds"] is not None else "-"
        if j["schedule_error"]:
            upcoming = "invalid schedule"
        elif j["enabled"] is False:
            upcoming = "disabled"
        else:
            upcoming = _short(j["next_run"]) or "not scheduled"
        lines.append(
            f"{j['job']:<9} {_short(j['last_run']) or 'never':<17} {j['result'] or '-':<11} "
            f"{took:>7}  {upcoming:<17} {j['schedule'] or '-'}"
        )
        if j["result"] in ("failed", "interrupted") and j["error"]:
            lines.append(f"{'':<10}error: {j['error']}")
        if j["schedule_error"]:
            lines.append(f"{'':<10}{j['schedule_error']}")
    lines.append("")
    problems = status["open_problems"]
    if problems is None:
        lines.append("Open problems: unknown (no job has run yet)")
    else:
        lines.append(
            f"Open problems: {problems['count']} on the Problems tab "
            f"(as of the {problems['job']} run, {_short(problems['as_of'])})"
        )
    review = status["awaiting_review"]
    if review:
        lines.append(
            f"{len(review)} message(s) awaiting review "
            "(settle with `ops-sheets review KEY --sent|--resend`):"
        )
        for m in review:
            lines.append(
                f"  {m.get('key')}  {m.get('kind', '')}  to {m.get('to', '')}  "
                f"({m.get('state', '')})"
            )
    else:
        lines.append("No messages awaiting review.")
    return lines


def print_status(settings: Settings, *, as_json: bool = False) -> int:
    status = collect_status(settings)
    if as_json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    for line in format_status(status):
        print(line)
    return 0
