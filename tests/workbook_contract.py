"""What every workbook backend must do, written once and run against each backend.

A backend's test module supplies ``make_workbook(tabs)``: it builds a workbook holding
``tabs`` (title -> rows, header first) and returns a :class:`BackendUnderTest` whose
``edit(tab, change)`` lets a "person" rewrite a tab between a job's read and its
write (sort, insert, delete rows), through the backend's own medium: the file for
xlsx, the API (or emulator) for Google, the dict for memory.

Use either ``check_backend_contract(make_workbook)`` (runs every check) or
parametrize over ``CONTRACT_CHECKS`` to get one test per rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ops_sheets.sheet.workbook.base import Append, Cell, ChangeSet, Replace, Update, Workbook

Rows = list[list[Cell]]


@dataclass
class BackendUnderTest:
    workbook: Workbook
    #: a person changing a tab: the function gets the tab's rows and returns new ones
    edit: Callable[[str, Callable[[Rows], Rows]], None]


MakeWorkbook = Callable[[Mapping[str, Rows]], BackendUnderTest]

STOCK: Rows = [
    ["SKU", "Product", "On hand", "Notes"],
    ["A-1", "Mug", 10, "keep"],
    ["B-2", "Plate", 0, "team note"],
    ["C-3", "Bowl", 5, None],
]
STOCK_HEADERS = ["SKU", "Product", "On hand", "Notes", "Stock status", "Why"]


def _by_key(wb: Workbook, tab: str, key: str = "SKU") -> dict[str, dict[str, Cell]]:
    """A tab read back as {key: {header: value}} so checks do not depend on row order."""
    rows = wb.read([tab])[tab].rows
    header = [str(h) for h in rows[0]]
    k = header.index(key)
    out: dict[str, dict[str, Cell]] = {}
    for row in rows[1:]:
        if k < len(row) and row[k] not in (None, ""):
            out[str(row[k])] = {h: (row[i] if i < len(row) else None) for i, h in enumerate(header)}
    return out


def _trim(rows: Rows) -> Rows:
    """Rows without trailing blank cells: backends need not keep them."""
    out = []
    for row in rows:
        row = list(row)
        while row and row[-1] in (None, ""):
            row.pop()
        out.append(row)
    return out


def _status_changes(statuses: Mapping[str, str]) -> ChangeSet:
    changes = ChangeSet()
    changes.declare("Stock", STOCK_HEADERS, ["SKU"])
    for sku, status in statuses.items():
        changes.updates.append(
            Update("Stock", {"SKU": sku}, {"Stock status": status, "Why": f"why {sku}"})
        )
    return changes


def check_update_lands_by_key_after_sort(make_workbook: MakeWorkbook) -> None:
    b = make_workbook({"Stock": STOCK})
    b.workbook.read(["Stock"])
    b.edit(
        "Stock", lambda rows: [rows[0], *sorted(rows[1:], key=lambda r: str(r[0]), reverse=True)]
    )
    report = b.workbook.write(_status_changes({"A-1": "OK", "C-3": "LOW"}))
    assert report.skipped == []
    got = _by_key(b.workbook, "Stock")
    assert got["A-1"]["Stock status"] == "OK" and got["A-1"]["Why"] == "why A-1"
    assert got["C-3"]["Stock status"] == "LOW"
    assert got["B-2"]["Stock status"] in (None, "")
    # team columns untouched and still with their own rows
    assert [got[k]["On hand"] for k in ("A-1", "B-2", "C-3")] == [10, 0, 5]
    assert got["B-2"]["Notes"] == "team note"


def check_update_after_insert_and_delete(make_workbook: MakeWorkbook) -> None:
    b = make_workbook({"Stock": STOCK})
    b.workbook.read(["Stock"])
    b.edit("Stock", lambda rows: [rows[0], ["Z-9", "New", 1, None], rows[1], rows[3]])  # B-2 gone
    report = b.workbook.write(_status_changes({"A-1": "OK", "B-2": "OUT", "C-3": "LOW"}))
    assert [(s.tab, s.key) for s in report.skipped] == [("Stock", "B-2")]
    got = _by_key(b.workbook, "Stock")
    assert set(got) == {"Z-9", "A-1", "C-3"}
    assert got["A-1"]["Stock status"] == "OK" and got["C-3"]["Stock status"] == "LOW"
    assert got["Z-9"]["Stock status"] in (None, "") and got["Z-9"]["Product"] == "New"


def check_appends_go_below_the_last_row(make_workbook: MakeWorkbook) -> None:
    po = [["PO number", "SKU", "Qty", "Status"], ["PO-1", "A-1", 6, "SENT"]]
    b = make_workbook({"Purchase orders": po})
    b.workbook.read(["Purchase orders"])
    b.edit("Purchase orders", lambda rows: [*rows, ["PO-0", "B-2", 1, "DRAFT"]])  # typed meanwhile
    changes = ChangeSet()
    changes.declare("Purchase orders", po[0], ["PO number"])
    for n in (2, 3):
        changes.appends.append(Append("Purchase orders", {"PO number": f"PO-{n}", "Qty": n}))
    report = b.workbook.write(changes)
    assert report.rows_appended == 2
    rows = b.workbook.read(["Purchase orders"])["Purchase orders"].rows
    assert [r[0] for r in rows] == ["PO number", "PO-1", "PO-0", "PO-2", "PO-3"]
    assert rows[3][2] == 2 and rows[2][3] == "DRAFT"


def check_replace_shrinks_and_grows(make_workbook: MakeWorkbook) -> None:
    header = ["Tab", "Row", "Problem"]
    problems = [header, ["Stock", 2, "a"], ["Stock", 3, "b"], ["Orders", 4, "c"]]
    b = make_workbook({"Problems": problems})

    def replace(rows: list[dict[str, Cell]]) -> None:
        changes = ChangeSet()
        changes.declare("Problems", header, ["Tab"])
        changes.replaces.append(Replace("Problems", rows))
        b.workbook.write(changes)

    replace([{"Tab": "Orders", "Row": 9, "Problem": "new"}])
    assert b.workbook.read(["Problems"])["Problems"].rows == [header, ["Orders", 9, "new"]]
    replace([{"Tab": "T", "Row": n, "Problem": "p"} for n in (1, 2)])
    assert b.workbook.read(["Problems"])["Problems"].rows == [header, ["T", 1, "p"], ["T", 2, "p"]]
    replace([{"Tab": "U"}])  # a column a row leaves out is blank, not left over
    assert _trim(b.workbook.read(["Problems"])["Problems"].rows) == [header, ["U"]]
    replace([])
    assert b.workbook.read(["Problems"])["Problems"].rows == [header]


def check_appends_land_below_everything_even_rows_without_keys(
    make_workbook: MakeWorkbook,
) -> None:
    """The runner's pattern: new PO lines appended before mail goes out
    (``append_rows``), then the main write with more rows. Neither may land on a
    team row whose key cells are blank (a TOTAL line, a note)."""
    header = ["PO number", "SKU", "Qty", "Notes"]
    b = make_workbook(
        {"Purchase orders": [header, ["PO-1", "A", 1, None], [None, None, 5, "TOTAL"]]}
    )
    b.workbook.read(["Purchase orders"])  # a job reads before it writes
    for number, method in (("PO-2", b.workbook.append_rows), ("PO-3", b.workbook.write)):
        changes = ChangeSet()
        changes.declare("Purchase orders", [], ["PO number", "SKU"])
        changes.appends.append(
            Append("Purchase orders", {"PO number": number, "SKU": "B", "Qty": 2})
        )
        method(changes)
    rows = _trim(b.workbook.read(["Purchase orders"])["Purchase orders"].rows)
    assert [(r[0] or None, r[2], (r + [None] * 4)[3] or None) for r in rows[1:]] == [
        ("PO-1", 1, None),
        (None, 5, "TOTAL"),
        ("PO-2", 2, None),
        ("PO-3", 2, None),
    ]


def check_layout_creates_tabs_and_headers(make_workbook: MakeWorkbook) -> None:
    b = make_workbook({"Stock": STOCK})
    done = b.workbook.ensure_layout(
        {"Stock": STOCK_HEADERS, "Activity log": ["Time", "Job", "Action"]}
    )
    assert "created tab 'Activity log'" in done
    assert "added column 'Stock status' to 'Stock'" in done
    titles = b.workbook.tab_titles()
    assert titles.index("Stock") < titles.index("Activity log")
    grids = b.workbook.read(["Stock", "Activity log"])
    assert grids["Stock"].header == STOCK_HEADERS  # added after the last used column
    assert grids["Activity log"].rows == [["Time", "Job", "Action"]]
    assert _trim(grids["Stock"].rows[1:]) == _trim(STOCK[1:])
    assert b.workbook.ensure_layout({"Stock": STOCK_HEADERS}) == []  # idempotent


def check_headers_match_loosely(make_workbook: MakeWorkbook) -> None:
    b = make_workbook({"Stock": [["sku", "on_hand", "STOCK-STATUS"], ["A-1", 1, None]]})
    b.workbook.write(_status_changes({"A-1": "OK"}))
    rows = b.workbook.read(["Stock"])["Stock"].rows
    assert rows[0][:3] == ["sku", "on_hand", "STOCK-STATUS"]  # existing header reused
    assert rows[1][2] == "OK"


def check_duplicate_keys_are_skipped(make_workbook: MakeWorkbook) -> None:
    b = make_workbook({"Stock": [*STOCK, ["A-1", "Mug again", 3, None]]})
    report = b.workbook.write(_status_changes({"A-1": "OK", "C-3": "LOW"}))
    assert len(report.skipped) == 1
    skipped = report.skipped[0]
    assert (skipped.tab, skipped.key) == ("Stock", "A-1") and "2 rows" in skipped.reason
    rows = b.workbook.read(["Stock"])["Stock"].rows
    status = rows[0].index("Stock status")
    assert all(len(r) <= status or r[status] in (None, "") for r in rows[1:] if r[0] == "A-1")
    assert _by_key(b.workbook, "Stock")["C-3"]["Stock status"] == "LOW"


def check_upsert(make_workbook: MakeWorkbook) -> None:
    b = make_workbook({"Stock": STOCK})
    changes = ChangeSet()
    changes.declare("Stock", STOCK_HEADERS, ["SKU"])
    changes.updates.append(Update("Stock", {"SKU": "A-1"}, {"On hand": 11}, upsert=True))
    changes.updates.append(Update("Stock", {"SKU": "N-1"}, {"On hand": 4}, upsert=True))
    report = b.workbook.write(changes)
    assert report.rows_appended == 1 and report.skipped == []
    got = _by_key(b.workbook, "Stock")
    assert got["A-1"]["On hand"] == 11 and got["N-1"]["On hand"] == 4
    assert list(got) == ["A-1", "B-2", "C-3", "N-1"]


def check_keys_match_as_text(make_workbook: MakeWorkbook) -> None:
    """A number typed in a key column is found by its text; "00123" stays distinct."""
    b = make_workbook({"Stock": [["SKU", "On hand"], [123, 1], ["00123", 2]]})
    b.workbook.write(_status_changes({"123": "A", "00123": "B"}))
    got = _by_key(b.workbook, "Stock")
    assert got["123"]["Stock status"] == "A" and got["00123"]["Stock status"] == "B"


def check_values_are_data(make_workbook: MakeWorkbook) -> None:
    tricky = [
        '=HYPERLINK("http://x","y")',
        '=IMPORTXML("http://x","//a")',
        "+1",
        "-2+3",
        "@SUM(A1)",
    ]
    b = make_workbook({"Stock": STOCK})
    changes = ChangeSet()
    changes.declare("Stock", STOCK_HEADERS, ["SKU"])
    for i, text in enumerate(tricky):
        changes.appends.append(Append("Stock", {"SKU": f"T-{i}", "Why": text}))
    b.workbook.write(changes)
    got = _by_key(b.workbook, "Stock")
    assert [got[f"T-{i}"]["Why"] for i in range(len(tricky))] == tricky


def check_read_leaves_out_missing_tabs(make_workbook: MakeWorkbook) -> None:
    b = make_workbook({"Stock": STOCK, "Empty": []})
    grids = b.workbook.read(["Stock", "Nope", "Empty"])
    assert set(grids) == {"Stock", "Empty"}
    assert _trim(grids["Stock"].rows) == _trim(STOCK) and grids["Empty"].rows == []


CONTRACT_CHECKS: list[Callable[[MakeWorkbook], None]] = [
    check_update_lands_by_key_after_sort,
    check_update_after_insert_and_delete,
    check_appends_go_below_the_last_row,
    check_replace_shrinks_and_grows,
    check_appends_land_below_everything_even_rows_without_keys,
    check_layout_creates_tabs_and_headers,
    check_headers_match_loosely,
    check_duplicate_keys_are_skipped,
    check_upsert,
    check_keys_match_as_text,
    check_values_are_data,
    check_read_leaves_out_missing_tabs,
]


def check_backend_contract(make_workbook: MakeWorkbook) -> None:
    """Every rule above, each on a fresh workbook from ``make_workbook``."""
    for check in CONTRACT_CHECKS:
        check(make_workbook)
