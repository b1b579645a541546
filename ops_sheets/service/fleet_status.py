"""``ops-sheets status --shops DIR``: one line per shop (issue 21).

Each line is :func:`ops_sheets.service.status.collect_status` of that shop, told
short: the last run of every job (result and when), how many jobs' last run
failed, how many messages wait for review, and the next slot. A shop whose config
or store cannot be read gets a line saying so; it never hides the others.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops_sheets.config import load_settings
from ops_sheets.errors import OpsSheetsError, UsageError
from ops_sheets.service.fleet import shop_configs
from ops_sheets.service.status import _short, collect_status

FAILED_RESULTS = ("failed", "interrupted")


def shop_summary(name: str, config: Path, now: datetime) -> dict[str, Any]:
    try:
        settings = load_settings(config)
        status = collect_status(settings, now)
    except (OpsSheetsError, OSError) as exc:
        return {"shop": name, "config": str(config), "error": str(exc)}
    jobs = status["jobs"]
    upcoming = [(j["next_run"], j["job"]) for j in jobs if j["next_run"]]
    next_run, next_job = min(upcoming) if upcoming else (None, None)
    return {
        "shop": name,
        "config": str(config),
        "error": "",
        "last_runs": {
            j["job"]: {"result": j["result"], "at": j["last_run"], "error": j["error"]}
            for j in jobs
            if j["last_run"]
        },
        "failures": sorted(j["job"] for j in jobs if j["result"] in FAILED_RESULTS),
        "awaiting_review": len(status["awaiting_review"]),
        "next_run": next_run,
        "next_job": next_job,
        "serve": status["serve"],
    }


def collect_fleet_status(root: Path, now: datetime | None = None) -> list[dict[str, Any]]:
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder; --shops needs a folder of shop folders")
    now = now or datetime.now(UTC)
    return [shop_summary(name, config, now) for name, config in shop_configs(root).items()]


def format_fleet_status(shops: list[dict[str, Any]]) -> list[str]:
    if not shops:
        return ["no shops (no */config.toml in that folder)"]
    width = max(len(s["shop"]) for s in shops)
    lines = []
    for s in shops:
        if s["error"]:
            lines.append(f"{s['shop']:<{width}}  CANNOT READ: {s['error']}")
            continue
        runs = (
            ", ".join(f"{job} {r['result']} {_short(r['at'])}" for job, r in s["last_runs"].items())
            or "no runs yet"
        )
        failures = (
            f"{len(s['failures'])} failing ({', '.join(s['failures'])})"
            if s["failures"]
            else "0 failing"
        )
        upcoming = f"next {s['next_job']} {_short(s['next_run'])}" if s["next_run"] else "no slot"
        lines.append(
            f"{s['shop']:<{width}}  {runs}; {failures}; "
            f"{s['awaiting_review']} awaiting review; {upcoming}"
        )
    return lines


def print_fleet_status(root: Path, *, as_json: bool = False) -> int:
    """Exit 1 when a shop cannot be read or has a failing job, else 0."""
    shops = collect_fleet_status(root)
    if as_json:
        print(json.dumps(shops, indent=2, default=str))
    else:
        for line in format_fleet_status(shops):
            print(line)
    return 1 if any(s["error"] or s["failures"] for s in shops) else 0
