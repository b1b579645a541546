"""The customer and complaint measures of a period, for ``monitor`` (Daily KPIs) and
``weekly`` (Weekly summary and its email): the Complaints tab when the run could
read it, the emails sent by kind from the ledger (issue 18)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ops_sheets.domain.complaints import ComplaintRules, years_for
from ops_sheets.domain.customer_kpis import customer_measures

if TYPE_CHECKING:
    from ops_sheets.service.runner import JobContext


def customer_figures(ctx: JobContext, start: datetime, end: datetime) -> dict[str, Any]:
    table = ctx.tables.get("complaints")
    frame = table.frame if table is not None and table.available else None
    rules = None
    if frame is not None:
        try:
            rules = ComplaintRules.from_settings(ctx.settings, years_for(frame, ctx.now))
        except ValueError:  # the orders calendar is wrong: the orders job says how
            rules = None
    return customer_measures(frame, rules, start, end, ctx.deliveries.sent_by_kind(start, end))
