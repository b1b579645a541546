"""Writing the Today tab in a job run (see :mod:`ops_sheets.domain.today`).

Kept out of the runner: it adds one Replace of the Today tab to the run's single
write, as the Problems tab is written, so a run costs no extra request.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ops_sheets.domain import findings as findings_store
from ops_sheets.domain.today import NAMESPACE, Todo, from_findings, from_problems, from_tables
from ops_sheets.domain.today import ordered as ordered_todos
from ops_sheets.sheet.workbook.base import Replace

if TYPE_CHECKING:
    from ops_sheets.service.runner import JobContext
    from ops_sheets.sheet.tables import Problem


def add_today(ctx: JobContext, problems: list[Problem], now: datetime) -> None:
    """Publish this job's to-dos and rewrite the Today tab from every job's latest."""
    frames = {key: t.frame for key, t in ctx.tables.items() if t.exists and t.readable}
    mine = from_tables(frames, now) + from_problems(problems, now.date())
    published: dict[str, list[Todo]] = {}
    state = ctx.state
    if state is not None:
        for job, records in state.items(NAMESPACE).items():
            published[job] = [Todo.from_dict(r) for r in records or []]
        if not ctx.dry_run:
            state.put(NAMESPACE, ctx.job, [t.to_dict() for t in mine])
    published[ctx.job] = mine
    todos = [t for job_todos in published.values() for t in job_todos]
    if state is not None:
        todos += from_findings(findings_store.current(state), now.date())
    unique = list(dict.fromkeys(ordered_todos(todos)))  # two jobs may see the same PO
    _, title, _ = ctx._spec("today")
    ctx.changes.replaces.append(Replace(title, [t.row() for t in unique]))
