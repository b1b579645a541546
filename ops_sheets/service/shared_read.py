"""One read of the sheet for every job of a ``run all`` (issue 14).

Each job used to read and parse every team tab again: six reads of the whole
sheet, six parses of every cell. Here the first job reads what all of them will
read, in one request; each tab is parsed once; and every job's own write is
applied to the copy in memory, so the next job sees the sheet as the last one
left it, without reading it again. Writes stay what they are: located by key
against a fresh look at the sheet (the backend's snapshot, a few columns), so a
row a person moved meanwhile is still found.

A write that fails, or one this copy cannot follow (an append whose columns are
not all in the header read), makes the tabs it touched be read again by the
next job that needs them: the copy is never trusted past what it knows.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence

from ops_sheets.sheet.cells import Cell, Grid, normalise_header
from ops_sheets.sheet.tables import Problem, Table
from ops_sheets.sheet.workbook.base import ChangeSet, Workbook, WriteReport

log = logging.getLogger(__name__)


class SharedRead:
    """The grids and parsed tables a sequence of jobs shares, kept true to their writes."""

    def __init__(self, workbook: Workbook, titles: Iterable[str] = ()) -> None:
        self.workbook = workbook
        #: every tab a job of the run will ask for: read together, the first time
        self.titles = list(dict.fromkeys(titles))
        self._grids: dict[str, Grid] = {}
        self._absent: set[str] = set()  # asked for, and the workbook has no such tab
        self._read_once = False
        #: parsed tables by (tab key, title), dropped when their grid changes
        self._tables: dict[tuple[str, str], Table] = {}
        #: the cross-tab checks of the tables as parsed (see ``JobContext.checks``)
        self._checks: list[Problem] | None = None
        #: how many times the workbook itself was read (tests and benchmarks look)
        self.reads = 0

    # ------------------------------------------------------------ reading

    def read(self, titles: Sequence[str]) -> dict[str, Grid]:
        """These tabs, as the workbook holds them after this run's own writes."""
        wanted = list(dict.fromkeys(titles))
        if not self._read_once:
            self._read_once = True
            fetch = list(dict.fromkeys([*self.titles, *wanted]))
        else:
            fetch = [t for t in wanted if t not in self._grids and t not in self._absent]
        if fetch:
            self.reads += 1
            got = self.workbook.read(fetch)
            self._grids.update(got)
            self._absent.update(t for t in fetch if t not in got)
            self._absent.difference_update(got)
        return {t: self._grids[t] for t in wanted if t in self._grids}

    def parsed(self, key: str, title: str, parse: Callable[[], Table]) -> Table:
        """The tab parsed once for the whole run; each job gets its own copy to change."""
        table = self._tables.get((key, title))
        if table is None:
            table = self._tables[(key, title)] = parse()
        return _own_copy(table)

    def checked(self, check: Callable[[], list[Problem]]) -> list[Problem]:
        """The cross-tab checks, run once until a tab they read is written."""
        if self._checks is None:
            self._checks = check()
        return list(self._checks)

    # ------------------------------------------------------------ following writes

    def wrote(self, report: WriteReport | None, changes: ChangeSet) -> None:
        """Apply a write the workbook accepted to the copy in memory."""
        if not changes:
            return
        plan = report.plan if report is not None else None
        if plan is None:
            self._follow_appends(changes)
            return
        for tab in plan.new_tabs:
            self._grids.setdefault(tab, Grid(tab, []))
            self._absent.discard(tab)
        for cell in plan.cells:
            grid = self._grids.get(cell.tab)
            if grid is None:
                continue  # a tab no job of this run reads
            rows = grid.rows
            while len(rows) < cell.row:
                rows.append([])
            row = rows[cell.row - 1]
            if len(row) < cell.col:
                row.extend([None] * (cell.col - len(row)))
            row[cell.col - 1] = cell.value
        self._changed(changes.tabs)

    def forget(self, tabs: Iterable[str]) -> None:
        """These tabs may differ from the copy (a write failed midway): read them again."""
        for tab in tabs:
            self._grids.pop(tab, None)
            self._absent.discard(tab)
        self._changed(tabs)

    def _follow_appends(self, changes: ChangeSet) -> None:
        """Rows a backend appended without a plan (Google's values:append): below the
        last row that holds anything, in the columns of the header read."""
        unknown: set[str] = set()
        for append in changes.appends:
            grid = self._grids.get(append.tab)
            if grid is None:
                continue
            position = {normalise_header(h): i for i, h in enumerate(grid.header)}
            if any(normalise_header(h) not in position for h in append.values):
                unknown.add(append.tab)
                continue
            row: list[Cell] = [None] * len(grid.header)
            for header, value in append.values.items():
                row[position[normalise_header(header)]] = value
            while len(grid.rows) > grid.header_index + 1 and not any(
                v not in (None, "") for v in grid.rows[-1]
            ):
                grid.rows.pop()
            grid.rows.append(row)
        if changes.updates or changes.replaces:
            log.debug("an unplanned write with updates: its tabs are read again")
            unknown.update(u.tab for u in changes.updates)
            unknown.update(r.tab for r in changes.replaces)
        self.forget(unknown)
        self._changed(changes.tabs)

    def _changed(self, tabs: Iterable[str]) -> None:
        touched = set(tabs)
        stale = [k for k in self._tables if k[1] in touched]
        for key in stale:
            del self._tables[key]
        if stale:
            self._checks = None


def _own_copy(table: Table) -> Table:
    """A copy a job may change without changing the next job's: pandas copies a
    column on write, so a shallow copy of the frames is enough."""
    all_rows = table._all_rows
    return dataclasses.replace(
        table,
        frame=table.frame.copy(deep=False),
        headers=dict(table.headers),
        problems=list(table.problems),
        _all_rows=None if all_rows is None else all_rows.copy(deep=False),
    )
