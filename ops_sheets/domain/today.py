"""The Today tab: the team's to-do list, what an operations assistant hands over.

Every run rewrites it from what all jobs found (DESIGN.md wave 2): each job's run
publishes its to-dos into the state, replacing what it published before (as
findings are published, see :mod:`.findings`), and the tab shows every job's
latest set, so a run of ``orders`` does not drop the POs ``stock`` wants approved.
Rows are ordered by priority (1 highest), then due, then area; each has a
reference the team can find in the sheet (order, SKU, PO, RMA or a cell).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from ops_sheets.domain.findings import Finding

NAMESPACE = "today"
_PRIORITY = {"critical": 1, "warning": 2, "info": 3}
_AREA = {
    "stock": "Stock",
    "orders": "Orders",
    "returns": "Returns",
    "monitor": "Monitor",
    "weekly": "Weekly",
    "complaints": "Complaints",
    "content": "Content",
    "customers": "Customers",
    "listings": "Listings",
    "check": "Sheet",
}
_OPEN_ORDER = {"NEW", "PACKED", "READY", "ON HOLD"}


@dataclass(frozen=True)
class Todo:
    priority: int  # 1 highest
    area: str
    what: str
    reference: str
    due: date | None = None

    def row(self) -> dict[str, Any]:
        return {
            "Priority": self.priority,
            "Area": self.area,
            "What to do": self.what,
            "Reference": self.reference,
            "Due": self.due,
        }

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["due"] = self.due.isoformat() if self.due else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Todo:
        due = data.get("due")
        return cls(
            int(data["priority"]),
            str(data["area"]),
            str(data["what"]),
            str(data["reference"]),
            date.fromisoformat(due) if due else None,
        )


def ordered(todos: Iterable[Todo]) -> list[Todo]:
    """Priority first, then what is due soonest (no due date last), then area."""
    return sorted(todos, key=lambda t: (t.priority, t.due or date.max, t.area, t.reference, t.what))


def from_findings(findings: Iterable[Finding], today: date) -> list[Todo]:
    out = []
    for f in findings:
        reference = f.key.split(":")[-1] if ":" in f.key else f.key
        priority = _PRIORITY.get(f.severity, 3)
        due = today if priority == 1 else None
        out.append(Todo(priority, _AREA.get(f.source, f.source.title()), _what(f), reference, due))
    return out


def _what(f: Finding) -> str:
    action = f.action.strip()
    return f"{f.title}: {action}" if action else f.title


def from_problems(problems: Iterable[Any], today: date) -> list[Todo]:
    """Sheet problems to fix (ops_sheets.sheet.tables.Problem), one row each."""
    out = []
    for p in problems:
        where = p.where
        what = f"Fix {where}: {p.problem}" + (f" — {p.fix}" if p.fix else "")
        out.append(Todo(3, "Sheet", what, p.key or where, None))
    return out


def from_tables(frames: Mapping[str, pd.DataFrame], now: datetime) -> list[Todo]:
    """To-dos the team's own tabs show: POs to approve, lines to ship by today,
    returns to process. Only the tabs a run read are looked at."""
    today = now.date()
    out: list[Todo] = []
    po = frames.get("purchase_orders")
    if po is not None and len(po) and {"status", "po_number"} <= set(po.columns):
        drafts = po[po["status"] == "DRAFT"]
        for number, lines in drafts.groupby("po_number", sort=True):
            supplier = _first(lines, "supplier")
            out.append(
                Todo(
                    2,
                    "Purchasing",
                    f"Approve PO {number}{f' to {supplier}' if supplier else ''}: "
                    f"{len(lines)} DRAFT line(s); set Status to APPROVED",
                    str(number),
                    today,
                )
            )
    orders = frames.get("orders")
    if (
        orders is not None
        and len(orders)
        and {"status", "ship_by", "order_id"} <= set(orders.columns)
    ):
        open_lines = orders[orders["status"].isin(_OPEN_ORDER)]
        held = _held(orders)
        for order_id, lines in open_lines.groupby("order_id", sort=True):
            ship_by = _earliest_date(lines["ship_by"])
            if ship_by is None or ship_by > today:
                continue
            if str(order_id) in held:  # packing day (issue 22): not to ship as it stands
                words = held[str(order_id)]
                fix = (
                    "chase the payment (or cancel the order); it ships once Payment is PAID"
                    if "UNPAID" in words
                    else "correct the delivery address (see the Problems tab)"
                )
                out.append(Todo(2, "Orders", f"Order {order_id} is on {words}: {fix}",
                                str(order_id), ship_by))  # fmt: skip
                continue
            late = ship_by < today
            out.append(
                Todo(
                    1 if late else 2,
                    "Orders",
                    f"{'Late: ship' if late else 'Ship'} order {order_id} "
                    f"({len(lines)} line(s)) by end of day",
                    str(order_id),
                    ship_by,
                )
            )
    returns = frames.get("returns")
    if returns is not None and len(returns) and {"status", "return_id"} <= set(returns.columns):
        for _, r in returns[returns["status"].isin(["REQUESTED", "RECEIVED"])].iterrows():
            step = "approve or reject" if r["status"] == "REQUESTED" else "refund or reject"
            reference = r["return_id"] if isinstance(r["return_id"], str) else r.get("order_id")
            out.append(Todo(2, "Returns", f"Return {reference}: {step}", str(reference), today))
    return out


def _held(orders: pd.DataFrame) -> dict[str, str]:
    """Orders on HOLD: UNPAID or HOLD: ADDRESS (domain.packing), as the tab reads now."""
    from ops_sheets.domain.packing import held_orders

    return held_orders(orders, state_column="state" in orders.columns)


def _first(frame: pd.DataFrame, column: str) -> str:
    if column not in frame.columns:
        return ""
    values = [v for v in frame[column] if isinstance(v, str) and v]
    return values[0] if values else ""


def _earliest_date(values: pd.Series) -> date | None:
    days = []
    for v in values:
        if v is None or (not isinstance(v, str) and pd.isna(v)):  # NaT is a datetime too
            continue
        if isinstance(v, datetime):
            days.append(v.date())
        elif isinstance(v, date):
            days.append(v)
    return min(days) if days else None
