"""A workbook held in memory: the backend of unit tests and of dry runs.

It behaves like the others (fresh snapshot at write time, cells placed by key),
so a test that sorts ``wb.tabs["Stock"]`` between ``read`` and ``write`` checks
the same write-safety rule the real backends follow.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

from ops_sheets.sheet.workbook.base import (
    Cell,
    ChangeSet,
    Grid,
    Merge,
    TabSnapshot,
    Workbook,
    WritePlan,
    snapshot_from_rows,
)


class MemoryWorkbook(Workbook):
    def __init__(
        self,
        tabs: Mapping[str, Sequence[Sequence[Cell]]] | None = None,
        merges: Mapping[str, Sequence[Merge]] | None = None,
    ) -> None:
        self.name = "memory"
        self.tabs: dict[str, list[list[Cell]]] = {
            title: [list(r) for r in rows] for title, rows in (tabs or {}).items()
        }
        #: merged ranges per tab (see ``Grid.merges``); a tab not named has none
        self.merges: dict[str, list[Merge]] = {t: list(m) for t, m in (merges or {}).items()}
        self.reads = 0
        self.writes = 0
        #: called between a job's read and its write, to simulate people editing
        self.before_write: Callable[[MemoryWorkbook], None] | None = None

    def tab_titles(self) -> list[str]:
        return list(self.tabs)

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        self.reads += 1
        return {
            t: Grid(t, copy.deepcopy(self.tabs[t]), list(self.merges.get(t, ())))
            for t in tabs
            if t in self.tabs
        }

    def snapshot(self, changes: ChangeSet) -> dict[str, TabSnapshot]:
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook(self)
        return {
            t: snapshot_from_rows(t, self.tabs.get(t), changes.header_rows.get(t, 1))
            for t in changes.tabs
        }

    def apply(self, plan: WritePlan, changes: ChangeSet) -> None:
        self.writes += 1
        for tab in plan.new_tabs:
            self.tabs.setdefault(tab, [])
        for c in plan.cells:
            rows = self.tabs[c.tab]
            while len(rows) < c.row:
                rows.append([])
            row = rows[c.row - 1]
            while len(row) < c.col:
                row.append(None)
            row[c.col - 1] = c.value
        for tab, rows in self.tabs.items():
            # trailing blank rows left by a shrinking Replace are not data
            while rows and all(v in (None, "") for v in rows[-1]) and len(rows) > 1:
                rows.pop()
            self.tabs[tab] = rows

    def values(self, tab: str) -> list[list[Cell]]:
        return copy.deepcopy(self.tabs[tab])
