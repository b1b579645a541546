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
from ops_sheets.service.problems_tab import live
from ops_sheets.sheet.workbook.base import Replace

if TYPE_CHECKING:
    from ops_sheets.service.runner import JobContext
    from ops_sheets.sheet.tables import Problem


def add_today(ctx: JobContext, problems: list[Problem], now: datetime) -> None:
    """Publish this job's to-dos and rewrite the Today tab from every job's latest."""
    state = ctx.state
    before: dict[str, dict[str, list[Todo]]] = {}
    if state is not None:
        for job, record in state.items(NAMESPACE).items():
            if isinstance(record, dict):  # source (tab key or "problems") -> to-dos
                before[job] = {k: [Todo.from_dict(r) for r in v] for k, v in record.items()}
    # A tab this run could not read keeps the to-dos seen when it last could: a
    # to-do is never dropped because its data was unreadable (DESIGN.md wave 2).
    mine = dict(before.get(ctx.job, {}))
    # a job disabled or removed from the config keeps no to-dos on the tab
    for job in [j for j in before if not live(ctx, j)]:
        del before[job]
        if state is not None and not ctx.dry_run:
            state.put(NAMESPACE, job, None)
    for key, table in ctx.tables.items():
        if table.exists and table.readable:
            mine[key] = from_tables({key: table.frame}, now)
    mine["problems"] = from_problems([p for p in problems if p.todo], now.date())
    for source, todos in ctx.todos.items():  # the job's own (complaints due today)
        mine[f"{ctx.job}.{source}"] = list(todos)
    if state is not None and not ctx.dry_run:
        state.put(NAMESPACE, ctx.job, {k: [t.to_dict() for t in v] for k, v in mine.items()})
    before[ctx.job] = mine
    todos = [t for sources in before.values() for group in sources.values() for t in group]
    if state is not None:
        todos += from_findings(findings_store.current(state), now.date())
    unique = list(dict.fromkeys(ordered_todos(todos)))  # two jobs may see the same PO
    _, title, _ = ctx._spec("today")
    ctx.changes.replaces.append(Replace(title, [t.row() for t in unique]))
