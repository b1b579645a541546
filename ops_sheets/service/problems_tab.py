"""The Problems rows only one job finds, kept on the tab across other jobs' runs.

Every run rewrites the Problems tab. The data problems every job finds (cells,
cross-tab checks, missing tabs) come from the run itself; the rows only one job
finds (READY on a held or backordered line, an order on hold, a forwarder the
orders job cannot use, an email that was rejected...) would vanish whenever
another job ran. So, as the Today tab does with to-dos, each job publishes its own
set into the state, and the tab shows this run's rows plus every other job's
latest set:

* a job's set is replaced only by that job's next run;
* a run that left an output as it was because a tab could not be read
  (``JobContext.requires`` failed) keeps its previous rows next to this run's:
  nothing is reported resolved because its data could not be read;
* a stored row keeps the job and the "Found at" of the run that found it, so
  another job's run changes none of its cells (no write when nothing changed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ops_sheets.sheet.cells import Cell
from ops_sheets.sheet.tables import Problem

if TYPE_CHECKING:
    from ops_sheets.service.runner import JobContext

#: state namespace: job name -> {"at": iso time, "problems": [stored rows]}
NAMESPACE = "problems_tab"


@dataclass(frozen=True)
class Found:
    """One job-specific Problems row: the problem, the job and when it found it."""

    problem: Problem
    job: str
    at: datetime

    def row(self) -> dict[str, Cell]:
        return self.problem.as_row(self.job, self.at)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self.problem), "job": self.job, "at": self.at.isoformat()}

    @classmethod
    def from_dict(cls, record: dict[str, object]) -> Found | None:
        """A stored row; None for one this version cannot read (it is dropped)."""
        try:
            problem = Problem(
                str(record["tab"]),
                None if record.get("row") is None else int(record["row"]),  # type: ignore[arg-type]
                str(record.get("column") or ""),
                str(record.get("key") or ""),
                str(record.get("value") or ""),
                str(record["problem"]),
                str(record.get("fix") or ""),
            )
            return cls(problem, str(record["job"]), datetime.fromisoformat(str(record["at"])))
        except (KeyError, TypeError, ValueError):
            return None


def _same(p: Problem) -> tuple[str, int | None, str, str, str]:
    return (p.tab, p.row, p.column, p.key, p.problem)


def _stored(ctx: JobContext) -> dict[str, list[Found]]:
    if ctx.state is None:
        return {}
    out: dict[str, list[Found]] = {}
    for job, record in ctx.state.items(NAMESPACE).items():
        if not isinstance(record, dict):
            continue
        found = [Found.from_dict(r) for r in record.get("problems", []) if isinstance(r, dict)]
        out[job] = [f for f in found if f is not None]
    return out


def publish(ctx: JobContext, own: Sequence[Problem], now: datetime) -> list[Found]:
    """Record this job's own rows (``own``) and return the other jobs' latest rows,
    to be shown after this run's. Nothing is recorded on a dry run."""
    stored = _stored(ctx)
    mine = [Found(p, ctx.job, now) for p in own]
    carried: list[Found] = []
    if ctx.skipped:  # a tab could not be read: what was found before stays
        fresh = {_same(f.problem) for f in mine}
        carried = [f for f in stored.get(ctx.job, []) if _same(f.problem) not in fresh]
        mine += carried
    if ctx.state is not None and not ctx.dry_run:
        ctx.state.put(
            NAMESPACE, ctx.job, {"at": now.isoformat(), "problems": [f.to_dict() for f in mine]}
        )
    others = [f for job in sorted(stored) if job != ctx.job for f in stored[job]]
    return carried + others


def shown(this_run: Sequence[Problem], earlier: Sequence[Found]) -> list[Found]:
    """The earlier rows not already among this run's (two jobs may find the same)."""
    seen = {_same(p) for p in this_run}
    out: list[Found] = []
    for f in earlier:
        key = _same(f.problem)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
