"""``ops-sheets status``: what ran, when it runs next, what awaits a person."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .config import Settings
from .runner import available_jobs
from .state import State


def collect_status(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    state = State(settings.resolve(settings.state.path))
    try:
        jobs = []
        for name in available_jobs(settings):
            last = state.last_run(name)
            job_settings = settings.job(name)
            jobs.append(
                {
                    "job": name,
                    "schedule": job_settings.schedule,
                    "enabled": job_settings.enabled,
                    "last_run": last.started_at.isoformat() if last else None,
                    "result": last.result if last else None,
                    "duration_seconds": last.duration_seconds if last else None,
                    "error": last.error if last else "",
                    "problems": (last.counts or {}).get("problems") if last else None,
                    "next_run": _next_run(settings, name, now),
                }
            )
    finally:
        state.close()
    return {"jobs": jobs, "awaiting_review": _awaiting_review(settings)}


def _next_run(settings: Settings, job: str, now: datetime) -> str | None:
    try:
        from .scheduler import next_run_time
    except ImportError:
        return None
    when = next_run_time(settings, job, now)
    return when.isoformat() if when else None


def _awaiting_review(settings: Settings) -> list[dict[str, Any]]:
    try:
        from .ledger import Ledger
    except ImportError:
        return []
    ledger = Ledger(settings.resolve(settings.state.path))
    try:
        return [_as_dict(m) for m in ledger.awaiting_review()]
    finally:
        close = getattr(ledger, "close", None)
        if callable(close):
            close()


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return message
    fields = ("key", "kind", "recipients", "state", "updated_at", "reference")
    return {f: str(getattr(message, f, "")) for f in fields if hasattr(message, f)}


def print_status(settings: Settings, *, as_json: bool = False) -> int:
    status = collect_status(settings)
    if as_json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(f"{'job':<9} {'last run':<26} {'result':<9} {'took':>7}  next run")
    for j in status["jobs"]:
        took = f"{j['duration_seconds']:.1f}s" if j["duration_seconds"] is not None else "-"
        print(
            f"{j['job']:<9} {j['last_run'] or 'never':<26} {j['result'] or '-':<9} {took:>7}  "
            f"{j['next_run'] or j['schedule'] or '-'}"
        )
        if j["error"]:
            print(f"          error: {j['error']}")
    review = status["awaiting_review"]
    print()
    if review:
        print(f"{len(review)} message(s) awaiting review (settle with `ops-sheets review KEY --sent|--resend`):")
        for m in review:
            print(f"  {m.get('key')}  {m.get('kind', '')}  to {m.get('recipients', '')}  ({m.get('state', '')})")
    else:
        print("No messages awaiting review.")
    return 0
