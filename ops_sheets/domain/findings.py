"""Findings: what a job saw that the manager must hear about, handed to `monitor`.

Jobs do not email the manager themselves. Each run of a job publishes the full set
of its current findings (late lines, an overdue PO, a possible faulty product...)
into the state, replacing what it published before; `monitor` reads every job's
current set, compares it with what it already reported, and sends one alert.

A finding's ``key`` is stable across runs ("faulty:KIT-0004", "po-overdue:PO-…"),
so monitor can tell new from already reported, and ``metric`` says how bad it is,
so monitor can tell "got worse" (a bigger number) from "still the same".

``tabs`` names the team tabs a finding was computed from. While one of them
cannot be read (renamed, deleted, a required column gone), a finding that
depends on it is *unknown*, not gone: :func:`publish` keeps the one published
before, and ``monitor`` never reports it "resolved". A finding recorded before
``tabs`` existed counts as depending on every tab.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
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
    #: the team tabs (keys: "orders", "stock"...) it was computed from
    tabs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tabs": list(self.tabs)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        values["tabs"] = tuple(data.get("tabs") or ())
        return cls(**values)


def computed_from(findings: Iterable[Finding], tabs: Iterable[str]) -> list[Finding]:
    """These findings, marked as computed from ``tabs`` (see the module docstring)."""
    return [replace(f, tabs=tuple(tabs)) for f in findings]


def depends_on_unreadable(record: Mapping[str, Any], unavailable: Collection[str]) -> bool:
    """Whether a finding (as stored: a dict with ``tabs``) depends on a tab that
    cannot be read now. One stored without ``tabs`` may depend on any tab."""
    if not unavailable:
        return False
    tabs = record.get("tabs")
    if tabs is None:
        return True
    return bool(set(tabs) & set(unavailable))


def publish(
    state: Any,
    source: str,
    findings: Iterable[Finding],
    now: datetime,
    *,
    unavailable: Collection[str] = (),
) -> None:
    """Replace ``source``'s current findings (a no-op without state, e.g. pure tests).

    ``unavailable``: tabs this run could not read. The findings published before
    that depend on one of them stay as they were (the job could not judge them),
    unless this run publishes a finding of the same key.
    """
    if state is None:
        return
    records = [f.to_dict() for f in findings]
    if unavailable:
        fresh = {r["key"] for r in records}
        before = state.get(NAMESPACE, source) or {}
        records += [
            r
            for r in before.get("findings", [])
            if r.get("key") not in fresh and depends_on_unreadable(r, unavailable)
        ]
    state.put(NAMESPACE, source, {"at": now.isoformat(), "findings": records})


def current(state: Any) -> list[Finding]:
    """Every job's latest findings, most severe first. Findings two jobs publish
    under one key (a product the returns job and the complaints job both find
    faulty) are one finding: see :func:`join`."""
    out: list[Finding] = []
    for entry in state.items(NAMESPACE).values():
        out += [Finding.from_dict(f) for f in entry.get("findings", [])]
    by_key: dict[str, list[Finding]] = {}
    for f in out:
        by_key.setdefault(f.key, []).append(f)
    out = [group[0] if len(group) == 1 else join(group) for group in by_key.values()]
    return sorted(out, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.source, f.key))


def join(findings: Sequence[Finding]) -> Finding:
    """Findings of one key (from different jobs) as one: the most severe (then the
    returns job's, then by source) leads; the others' titles add what differs
    ("…, 14.3% returned in 90 days and 3 complaints in 90 days"), their details
    and actions follow; the metric is the sum, so either growing re-alerts."""
    ranked = sorted(
        findings,
        key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.source != "returns", f.source),
    )
    lead, rest = ranked[0], ranked[1:]
    title, details, actions = lead.title, [lead.detail], [lead.action]
    for f in rest:
        n = next(
            (i for i, (a, b) in enumerate(zip(lead.title, f.title, strict=False)) if a != b),
            min(len(lead.title), len(f.title)),
        )
        common = lead.title[:n]
        cut = max(common.rfind(", "), common.rfind(": "))
        extra = f.title[cut + 2 :] if cut >= 0 else f.title
        title += f" and {extra}"
        if f.detail and f.detail not in details:
            details.append(f.detail)
        if f.action and f.action not in actions:
            actions.append(f.action)
    tabs = tuple(dict.fromkeys(t for f in ranked for t in f.tabs))
    return replace(
        lead,
        title=title,
        detail=" ".join(details),
        action=" ".join(actions),
        metric=float(sum(f.metric for f in ranked)),
        tabs=tabs,
    )


def published_at(state: Any, source: str) -> datetime | None:
    entry = state.get(NAMESPACE, source)
    return datetime.fromisoformat(entry["at"]) if entry else None
