"""Findings: what a job saw that the manager must hear about, handed to `monitor`.

Jobs do not email the manager themselves. Each run of a job publishes the full set
of its current findings (late lines, an overdue PO, a possible faulty product...)
into the state, replacing what it published before; `monitor` reads every job's
current set, compares it with what it already reported, and sends one alert.

A finding's ``key`` is stable across runs ("faulty:KIT-0004", "po-overdue:PO-…"),
so monitor can tell new from already reported, and ``metric`` says how bad it is,
so monitor can tell "got worse" (a bigger number) from "still the same".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

Severity = Literal["critical", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}
NAMESPACE = "findings"


@dataclass(frozen=True)
class Finding:
    key: str
    source: str  # the job that found it
    severity: Severity
    title: str  # short: "Possible faulty product: KIT-0004 Milk frother"
    detail: str  # one line with the numbers
    action: str  # what to do next
    metric: float = 0.0  # larger = worse; monitor re-alerts when it grows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def publish(state: Any, source: str, findings: Iterable[Finding], now: datetime) -> None:
    """Replace ``source``'s current findings (a no-op without state, e.g. pure tests)."""
    if state is None:
        return
    state.put(
        NAMESPACE,
        source,
        {"at": now.isoformat(), "findings": [f.to_dict() for f in findings]},
    )


def current(state: Any) -> list[Finding]:
    """Every job's latest findings, most severe first."""
    out: list[Finding] = []
    for entry in state.items(NAMESPACE).values():
        out += [Finding.from_dict(f) for f in entry.get("findings", [])]
    return sorted(out, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.source, f.key))


def published_at(state: Any, source: str) -> datetime | None:
    entry = state.get(NAMESPACE, source)
    return datetime.fromisoformat(entry["at"]) if entry else None
