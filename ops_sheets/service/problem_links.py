"""Problems rows you can jump to (issue 17): each row's ``Tab`` cell links to the
cell the problem is about.

Worked out from the grids the run read, so it costs no request: the row is the
problem's own (the header row for a whole-column problem), the column is found
by its header in that tab as read (column A for a whole-row problem). A problem
about a tab the run did not read (a missing tab) gets no link. The backends write
the link as a real link (an xlsx cell hyperlink, a Google ``#gid=…&range=…``
link), never as a formula built from sheet text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ops_sheets.sheet.cells import Grid, normalise_header
from ops_sheets.sheet.tables import Problem
from ops_sheets.sheet.workbook.base import CellLink

#: the Problems column whose cell carries the link (its text is the tab's title)
LINK_HEADER = "Tab"


def problem_links(problems: Sequence[Problem], grids: Mapping[str, Grid]) -> list[CellLink | None]:
    """Per problem, in order: the cell to jump to, or None."""
    positions: dict[str, dict[str, int]] = {}
    out: list[CellLink | None] = []
    for p in problems:
        grid = grids.get(p.tab)
        if grid is None:
            out.append(None)
            continue
        columns = positions.get(p.tab)
        if columns is None:
            columns = {}
            for i, h in enumerate(grid.header, start=1):
                columns.setdefault(normalise_header(h), i)
            positions[p.tab] = columns
        col = columns.get(normalise_header(p.column), 1) if p.column else 1
        row = p.row if p.row else grid.header_index + 1
        out.append(CellLink(p.tab, row, col))
    return out
