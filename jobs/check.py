"""`check`: read every tab, rewrite the Problems tab, summarise what was found.

The runner already parses every team tab and runs the cross-tab checks for every
job; this job adds nothing to the sheet but the summary a person reads.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ops_sheets.config import config_warnings
from ops_sheets.domain.calendar import day_first_disagreement
from ops_sheets.mail.channels.preview import channel_problems
from ops_sheets.service.runner import JobContext
from ops_sheets.sheet.tab_input import value_map_problems
from ops_sheets.sheet.tables import Problem

#: the spreadsheet's locale decides how Google reads a typed date (see calendar)
READS_LOCALE = True


def run(ctx: JobContext) -> None:
    for line in config_warnings(ctx.settings, ctx.now.year):
        ctx.note(f"warning: {line}")
    disagreement = day_first_disagreement(ctx.settings.day_first, ctx.sheet_locale)
    if disagreement:
        ctx.problem(
            Problem(
                Path(ctx.settings.source).name or "config",
                None,
                "day_first",
                "",
                str(ctx.settings.day_first).lower(),
                disagreement,
                f"set day_first = {str(not ctx.settings.day_first).lower()} in the config, "
                "or change the spreadsheet's locale (File > Settings) to the shop's own",
            )
        )
    for problem in value_map_problems(ctx.settings):
        ctx.problem(problem)
    for problem in channel_problems(ctx.settings):  # [channels.<name>]: secrets readable, https
        ctx.problem(problem)
    for key, table in ctx.tables.items():
        rows = len(table.frame)
        if not table.exists:
            ctx.note(f"{table.title}: tab missing")
            continue
        bad = len(table.problems)
        ctx.note(f"{table.title}: {rows} rows" + (f", {bad} cell problem(s)" if bad else ""))
        ctx.counts[f"rows_{key}"] = rows
    by_tab = Counter(p.tab for t in ctx.tables.values() for p in t.problems)
    ctx.counts["tabs_with_problems"] = len(by_tab)
