"""The Problems rows kept on the tab across runs: the rows only one job finds, and
the rows worked out from a tab a run could not see whole.

Every run rewrites the Problems tab. The data problems every job finds (cells,
cross-tab checks, missing tabs) come from the run itself; the rows only one job
finds (READY on a held or backordered line, an order on hold, a forwarder the
orders job cannot use, an email that was rejected...) would vanish whenever
another job ran. So, as the Today tab does with to-dos, each job publishes its own
set into the state, and the tab shows this run's rows plus every other job's
latest set:

* a job's set is replaced only by that job's next run, and dropped once the job
  is no longer enabled in the config (or no longer exists);
* each stored row records the tabs it was worked out from (its own tab, the tabs
  its check looks up, and for a job's own rows every tab the job's ``requires``
  found readable): a row depending on a tab this run could not read (missing, a
  required column missing, or not read by this job) is kept as it was, next to
  this run's rows: nothing is reported resolved because its data could not be
  read. A row whose tabs were all read is replaced by what this run found;
* the shared rows (cells, cross-tab checks) are kept the same way, in one set all
  jobs share: an unknown SKU on Orders stays while Stock cannot be read. The rows
  that say why a tab cannot be read are never kept: each run says that afresh;
* a stored row keeps the job and the "Found at" of the run that found it, so
  another job's run changes none of its cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ops_sheets.sheet.cells import Cell
from ops_sheets.sheet.tables import TAB_SPECS, TEAM_TABS, Problem, layout_for

if TYPE_CHECKING:
    from ops_sheets.service.runner import JobContext

#: state namespace: job name -> {"at": iso time, "problems": [stored rows]}
NAMESPACE = "problems_tab"
#: state namespace of the shared rows (cells, cross-tab checks): key SHARED_KEY
SHARED = "problems_tab.shared"
SHARED_KEY = "rows"


@dataclass(frozen=True)
class Found:
    """One kept Problems row: the problem, the job and when it found it, and the
    keys of the tabs it was worked out from (None: not recorded, every team tab)."""

    problem: Problem
    job: str
    at: datetime
    tabs: tuple[str, ...] | None = None

    def row(self) -> dict[str, Cell]:
        return self.problem.as_row(self.job, self.at)

    def to_dict(self) -> dict[str, object]:
        return {
            **asdict(self.problem),
            "job": self.job,
            "at": self.at.isoformat(),
            "tabs": None if self.tabs is None else list(self.tabs),
        }

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
                todo=bool(record.get("todo", True)),
                depends=tuple(str(k) for k in record.get("depends") or ()),  # type: ignore[attr-defined]
            )
            tabs = record.get("tabs")
            return cls(
                problem,
                str(record["job"]),
                datetime.fromisoformat(str(record["at"])),
                None if tabs is None else tuple(str(k) for k in tabs),  # type: ignore[attr-defined]
            )
        except (KeyError, TypeError, ValueError):
            return None


def _same(p: Problem) -> tuple[str, int | None, str, str, str]:
    return (p.tab, p.row, p.column, p.key, p.problem)


# ---------------------------------------------------------------- which tabs


def _keys_by_title(ctx: JobContext) -> dict[str, str]:
    """The team's tabs by title as a Problems row names them (this run's titles win)."""
    out = {
        layout_for(spec, ctx.settings).title: key
        for key, spec in TAB_SPECS.items()
        if not spec.service_owned
    }
    out.update({t.title: k for k, t in ctx.tables.items() if not TAB_SPECS[k].service_owned})
    return out


def _tabs_of(p: Problem, by_title: dict[str, str], also: Iterable[str] = ()) -> tuple[str, ...]:
    keys = [by_title[p.tab]] if p.tab in by_title else []
    return tuple(dict.fromkeys([*keys, *p.depends, *also]))


def unreadable(ctx: JobContext, key: str) -> bool:
    """Whether this run could not see the tab whole: missing (a team tab), a
    required column missing, or not read by this job at all. An optional tab
    that is missing is known: the shop has none (no kits), so no row about it stays."""
    if key not in TAB_SPECS or TAB_SPECS[key].service_owned:
        return False
    table = ctx.tables.get(key)
    if table is None:
        return True
    if not table.exists:
        return key in TEAM_TABS
    return not table.readable


def _kept(ctx: JobContext, found: Found) -> bool:
    tabs = TEAM_TABS if found.tabs is None else found.tabs
    return any(unreadable(ctx, k) for k in tabs)


def _load(records: object) -> list[Found]:
    if not isinstance(records, list):
        return []
    found = [Found.from_dict(r) for r in records if isinstance(r, dict)]
    return [f for f in found if f is not None]


def _stored(ctx: JobContext) -> dict[str, list[Found]]:
    if ctx.state is None:
        return {}
    out: dict[str, list[Found]] = {}
    for job, record in ctx.state.items(NAMESPACE).items():
        if isinstance(record, dict):
            out[job] = _load(record.get("problems"))
    return out


def _recording(ctx: JobContext) -> bool:
    return ctx.state is not None and not ctx.dry_run


# ---------------------------------------------------------------- which jobs


def live(ctx: JobContext, job: str) -> bool:
    """Whether ``job``'s kept rows (Problems, Today) stay: the running job, or one
    present and enabled in the config (``JobContext.live_jobs``). A job disabled
    or removed keeps nothing on the tabs."""
    return job == ctx.job or ctx.live_jobs is None or job in ctx.live_jobs


# ---------------------------------------------------------------- publishing


def publish(ctx: JobContext, own: Sequence[Problem], now: datetime) -> list[Found]:
    """Record this job's own rows (``own``) and return the rows to show after this
    run's: its earlier rows that depend on a tab this run could not read, then
    every other live job's latest set. Nothing is recorded on a dry run."""
    stored = _stored(ctx)
    by_title = _keys_by_title(ctx)
    read = sorted(ctx.read_for)
    mine = [Found(p, ctx.job, now, _tabs_of(p, by_title, read)) for p in own]
    fresh = {_same(f.problem) for f in mine}
    carried = [
        f for f in stored.get(ctx.job, []) if _same(f.problem) not in fresh and _kept(ctx, f)
    ]
    mine += carried
    if _recording(ctx):
        ctx.state.put(
            NAMESPACE, ctx.job, {"at": now.isoformat(), "problems": [f.to_dict() for f in mine]}
        )
        for job in stored:
            if not live(ctx, job):
                ctx.state.put(NAMESPACE, job, None)  # disabled or removed: its rows go
    others = [f for job in sorted(stored) if job != ctx.job and live(ctx, job) for f in stored[job]]
    return carried + others


def keep_shared(ctx: JobContext, shared: Sequence[Problem], now: datetime) -> list[Found]:
    """Record this run's shared rows (``shared``: cells of the tabs it read whole and
    the cross-tab checks) and return the earlier ones that depend on a tab this run
    could not read, to be shown as they were."""
    if ctx.state is None:
        return []
    by_title = _keys_by_title(ctx)
    fresh = {_same(p) for p in shared}
    earlier = _load(ctx.state.get(SHARED, SHARED_KEY))
    carried = [f for f in earlier if _same(f.problem) not in fresh and _kept(ctx, f)]
    if _recording(ctx):
        rows = [Found(p, ctx.job, now, _tabs_of(p, by_title)) for p in shared] + carried
        ctx.state.put(SHARED, SHARED_KEY, [f.to_dict() for f in rows])
    return carried


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
