"""The Today tab: the team's to-do list, rewritten by every run (issue 17)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd

from ops_sheets.domain.findings import Finding
from ops_sheets.domain.today import Todo, from_findings, from_tables, ordered
from ops_sheets.service.demo import run_demo

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/London"))


def test_todos_are_ordered_by_priority_then_due() -> None:
    todos = [
        Todo(2, "Orders", "ship", "SO-2", date(2026, 11, 24)),
        Todo(1, "Orders", "late", "SO-1", date(2026, 11, 20)),
        Todo(2, "Purchasing", "approve", "PO-1", date(2026, 11, 23)),
        Todo(3, "Sheet", "fix", "A1", None),
    ]
    assert [t.reference for t in ordered(todos)] == ["SO-1", "PO-1", "SO-2", "A1"]


def test_draft_po_lines_become_one_approval_per_po_and_due_lines_one_per_order() -> None:
    frames = {
        "purchase_orders": pd.DataFrame(
            {
                "po_number": ["PO-1", "PO-1", "PO-2"],
                "supplier": ["Acme", "Acme", "Brook"],
                "status": ["DRAFT", "DRAFT", "SENT"],
            }
        ),
        "orders": pd.DataFrame(
            {
                "order_id": ["SO-1", "SO-1", "SO-2", "SO-3"],
                "status": ["NEW", "READY", "SHIPPED", "NEW"],
                "ship_by": [date(2026, 11, 20), date(2026, 11, 23), date(2026, 11, 20), pd.NaT],
            }
        ),
    }
    todos = from_tables(frames, NOW)
    assert [(t.priority, t.reference) for t in ordered(todos)] == [(1, "SO-1"), (2, "PO-1")]
    assert "Approve PO PO-1 to Acme" in ordered(todos)[1].what


def test_a_critical_finding_is_due_today_with_its_reference() -> None:
    finding = Finding("returns:faulty:KIT-4", "returns", "critical", "Faulty KIT-4", "", "Check it")
    (todo,) = from_findings([finding], NOW.date())
    assert (todo.priority, todo.area, todo.reference, todo.due) == (
        1,
        "Returns",
        "KIT-4",
        NOW.date(),
    )


def test_the_demo_writes_a_today_tab_with_the_contract_columns_in_priority_order(
    tmp_path: Path,
) -> None:
    run_demo(tmp_path / "demo")
    ws = openpyxl.load_workbook(tmp_path / "demo" / "workbook.xlsx", read_only=True)["Today"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("Priority", "Area", "What to do", "Reference", "Due")
    body = rows[1:]
    assert body and all(r[3] for r in body)  # every to-do has a reference
    keys = [(r[0], r[4] or datetime.max) for r in body]
    assert keys == sorted(keys)
    areas = {r[1] for r in body}
    assert {"Orders", "Returns"} <= areas
