"""Write planning at scale: many updates into a large tab land exactly where the
row-by-row scan of the sheet put them (issue 14: the look-ups became dictionaries).

The oracle below is the planner's update loop as it was before, scanning the whole
tab for every update. The new planner must agree with it cell for cell and skip
for skip, on a change set that has everything: unique, duplicate, blank, numeric
and missing keys, key changes that later updates follow, look-ups on columns that
are not the anchors, and upserts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from ops_sheets.sheet.workbook.base import (
    Cell,
    CellWrite,
    ChangeSet,
    Skipped,
    TabSnapshot,
    Update,
    key_text,
    normalise_header,
    plan_writes,
    snapshot_from_rows,
)
from ops_sheets.sheet.workbook.memory import MemoryWorkbook

HEADER = ["SKU", "Product", "RMA", "Status", "Note"]
ROWS = 6_000
UPDATES = 4_000

Index = dict[tuple[str, ...], dict[tuple[str, ...], list[int]]]


def _scan_lookup(snap: TabSnapshot, key: Mapping[str, str]) -> list[int]:
    """The old ``_lookup``: every row of the tab compared with the key."""
    cols = []
    for k in key:
        c = snap.columns.get(normalise_header(k))
        if c is None:
            return []
        cols.append((c, key[k]))
    height = max(len(c) for c, _ in cols)
    return [
        i + 2
        for i in range(height)
        if all(key_text(c[i] if i < len(c) else None) == want for c, want in cols)
    ]


def _scan_rekey(index: Index, row: int, values: Mapping[str, Cell]) -> None:
    """The old ``_rekey``: the row's old key found by a scan of every key."""
    for key_cols, by_key in index.items():
        changed = {
            normalise_header(h): key_text(v)
            for h, v in values.items()
            if normalise_header(h) in key_cols
        }
        if not changed:
            continue
        old = next((k for k, rows in by_key.items() if row in rows), None)
        if old is None:
            continue
        by_key[old].remove(row)
        new = tuple(changed.get(c, old[i]) for i, c in enumerate(key_cols))
        by_key.setdefault(new, []).append(row)


def _scan_plan(
    changes: ChangeSet, snap: TabSnapshot, anchors: list[str]
) -> tuple[list[CellWrite], list[Skipped]]:
    """The old update loop, for a change set of updates to one tab whose columns exist."""
    column = {normalise_header(h): i for i, h in enumerate(snap.header, start=1)}
    by_key: dict[tuple[str, ...], list[int]] = {}
    key_cols = tuple(sorted(normalise_header(a) for a in anchors))
    for i in range(max(len(snap.columns[k]) for k in key_cols)):
        key = tuple(
            key_text(snap.columns[k][i]) if i < len(snap.columns[k]) else "" for k in key_cols
        )
        if any(key):
            by_key.setdefault(key, []).append(i + 2)
    index: Index = {key_cols: by_key}
    cells: list[CellWrite] = []
    skipped: list[Skipped] = []
    next_row = snap.last_row + 1
    for upd in changes.updates:
        wanted = tuple(upd.key[k] for k in sorted(upd.key, key=normalise_header))
        label = " / ".join(wanted)
        cols = tuple(sorted(normalise_header(k) for k in upd.key))
        rows = index[cols].get(wanted) if cols in index else _scan_lookup(snap, upd.key)
        if not rows:
            if upd.upsert:
                values = {**upd.key, **upd.values}
                cells += [
                    CellWrite(upd.tab, next_row, column[normalise_header(h)], v)
                    for h, v in values.items()
                ]
                next_row += 1
            else:
                reason = "no row has this key any more (deleted or renamed?)"
                skipped.append(Skipped(upd.tab, label, reason))
            continue
        if len(rows) > 1:
            listed = ", ".join(str(r) for r in rows)
            skipped.append(
                Skipped(upd.tab, label, f"{len(rows)} rows have this key (rows {listed})")
            )
            continue
        cells += [
            CellWrite(upd.tab, rows[0], column[normalise_header(h)], v)
            for h, v in upd.values.items()
        ]
        _scan_rekey(index, rows[0], upd.values)
    return cells, skipped


def _large_tab(rng: random.Random) -> list[list[Cell]]:
    """A tab with unique keys, duplicates, blank keys, numeric keys and blank RMAs."""
    rows: list[list[Cell]] = [list(HEADER)]
    for i in range(ROWS):
        roll = rng.random()
        if roll < 0.03:
            sku: Cell = None  # a note row, a TOTAL row: no key
        elif roll < 0.08:
            sku = f"DUP-{rng.randrange(40)}"  # the same SKU on several rows
        elif roll < 0.12:
            sku = float(100_000 + i)  # typed as a number: its key is "100123"
        else:
            sku = f"SKU-{i}"
        rma = f"RMA-{rng.randrange(ROWS // 2)}" if rng.random() < 0.7 else None
        rows.append([sku, f"Product {i}", rma, "open", None])
    return rows


def _many_updates(rng: random.Random, rows: list[list[Cell]]) -> ChangeSet:
    changes = ChangeSet()
    changes.declare("Stock", HEADER, ["SKU"])
    known = [key_text(r[0]) for r in rows[1:] if key_text(r[0])]
    renamed: list[str] = []
    for n in range(UPDATES):
        roll = rng.random()
        values: dict[str, Cell] = {"Status": f"s{n}"}
        upsert = False
        if roll < 0.50:
            key = {"SKU": rng.choice(known)}
        elif roll < 0.58:
            key = {"SKU": f"GONE-{n}"}  # deleted since the read
            upsert = rng.random() < 0.5
        elif roll < 0.68:
            old = rng.choice(known)
            new = f"NEW-{n}"
            key, values = {"SKU": old}, {"SKU": new, "Note": "renamed"}
            renamed += [old, new]
        elif roll < 0.78 and renamed:
            key = {"SKU": rng.choice(renamed)}  # follows the rename, or finds nothing left
        elif roll < 0.90:
            key = {"RMA": f"RMA-{rng.randrange(ROWS // 2)}"}  # not the anchor: the lookup
        elif roll < 0.93:
            key = {"RMA": ""}  # blank matches the blank cells of the lookup column
        elif roll < 0.97:
            key = {"SKU": rng.choice(known), "rma": f"RMA-{rng.randrange(ROWS // 2)}"}
        else:
            key = {"Missing column": "x"}
        changes.updates.append(Update("Stock", key, values, upsert=upsert))
    return changes


def test_many_updates_into_a_large_tab_land_where_the_scan_put_them() -> None:
    rng = random.Random(14)
    rows = _large_tab(rng)
    changes = _many_updates(rng, rows)
    snap = snapshot_from_rows("Stock", rows)

    plan = plan_writes(changes, {"Stock": snap})

    cells, skipped = _scan_plan(changes, snap, ["SKU"])
    assert plan.cells == cells
    assert plan.skipped == skipped
    # the change set exercised every path, not just the easy one
    reasons = {s.reason.split(" ")[1] for s in plan.skipped}
    assert {"row", "rows"} <= reasons
    assert plan.appended_rows > 0
    assert any(c.value == "renamed" for c in plan.cells)
    assert len(plan.cells) > UPDATES // 2


def test_many_updates_after_rows_moved_follow_their_keys() -> None:
    """Read, a person sorts the tab in reverse, then thousands of updates by key."""
    rows: list[list[Cell]] = [["SKU", "Status"]] + [[f"SKU-{i:05d}", "open"] for i in range(ROWS)]
    wb = MemoryWorkbook({"Stock": rows})
    wb.read(["Stock"])

    def sort_descending(book: MemoryWorkbook) -> None:
        tab = book.tabs["Stock"]
        tab[1:] = sorted(tab[1:], key=lambda r: str(r[0]), reverse=True)

    wb.before_write = sort_descending
    changes = ChangeSet()
    changes.declare("Stock", ["SKU", "Status"], ["SKU"])
    for i in range(0, ROWS, 2):
        changes.updates.append(Update("Stock", {"SKU": f"SKU-{i:05d}"}, {"Status": f"done {i}"}))
    changes.updates.append(Update("Stock", {"SKU": "SKU-GONE"}, {"Status": "x"}))

    report = wb.write(changes)

    assert [s.key for s in report.skipped] == ["SKU-GONE"]
    status = {r[0]: r[1] for r in wb.tabs["Stock"][1:]}
    assert all(status[f"SKU-{i:05d}"] == f"done {i}" for i in range(0, ROWS, 2))
    assert all(status[f"SKU-{i:05d}"] == "open" for i in range(1, ROWS, 2))
