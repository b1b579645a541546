"""In-memory spreadsheets: the state behind the emulator.

Everything here is plain Python and thread-unsafe by itself; the emulator holds
``Store.lock`` (one re-entrant lock) around every request and every test edit,
so a request never sees half of an edit.

Rows are stored as a ragged ``list[list[Cell | None]]`` covering only the used
part of the grid; the grid size lives in the sheet properties
(``gridProperties.rowCount/columnCount``), as in Google.

Not modelled: data validation is stored and echoed but never enforced (API
writes are not rejected), protected ranges do not block the caller (Google
lets their creator edit them too), and only en_US input/number formats exist.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import random
import secrets
import string
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from .a1 import A1ParseError, A1Range, GridRect, format_range, parse_a1, parse_cells, quote_title
from .errors import ApiError, bad_request
from .formula import ErrorValue, Unsupported, evaluate
from .values import (
    DATE_KINDS,
    Cell,
    Scalar,
    cell_from_python,
    format_number,
    json_number,
)

__all__ = ["Calc", "Sheet", "Spreadsheet", "Store", "grid_limit_error", "render_cell"]

DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26

FORMATTED_VALUE = "FORMATTED_VALUE"
UNFORMATTED_VALUE = "UNFORMATTED_VALUE"
FORMULA = "FORMULA"
SERIAL_NUMBER = "SERIAL_NUMBER"
FORMATTED_STRING = "FORMATTED_STRING"


def grid_limit_error(sheet: Sheet, shown_range: str) -> ApiError:
    """Google's answer to a range outside the grid, e.g. (google/hyou#15)
    ``Range (Blad1!BB1) exceeds grid limits. Max rows: 1000, max columns: 30``."""
    return bad_request(
        f"Range ({shown_range}) exceeds grid limits."
        f" Max rows: {sheet.row_count}, max columns: {sheet.column_count}"
    )


class Sheet:
    """One tab: properties as Google reports them, cells, protected ranges."""

    def __init__(
        self,
        sheet_id: int,
        title: str,
        index: int,
        row_count: int = DEFAULT_ROWS,
        column_count: int = DEFAULT_COLUMNS,
    ) -> None:
        self.properties: dict[str, Any] = {
            "sheetId": sheet_id,
            "title": title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": row_count, "columnCount": column_count},
        }
        self.cells: list[list[Cell | None]] = []
        self.protected_ranges: list[dict[str, Any]] = []
        #: merged ranges, GridRanges as Google lists them in ``sheets[].merges``
        self.merges: list[dict[str, Any]] = []
        #: basicFilter, conditionalFormats (as sheets[] lists them) and column/row
        #: metadata (index -> pixelSize...), kept as the requests gave them
        self.decor: dict[str, Any] = {}
        #: set while an atomic request runs (see :meth:`Spreadsheet.atomic`)
        self.journal: _SheetJournal | None = None

    # -- properties --------------------------------------------------------

    @property
    def sheet_id(self) -> int:
        return int(self.properties["sheetId"])

    @property
    def title(self) -> str:
        return str(self.properties["title"])

    @property
    def grid(self) -> dict[str, Any]:
        return self.properties.setdefault("gridProperties", {})

    @property
    def row_count(self) -> int:
        return int(self.grid.get("rowCount", 0))

    @property
    def column_count(self) -> int:
        return int(self.grid.get("columnCount", 0))

    def full_rect(self) -> GridRect:
        return GridRect(0, 0, max(self.row_count - 1, 0), max(self.column_count - 1, 0))

    # -- cells -------------------------------------------------------------

    def get(self, row: int, col: int) -> Cell | None:
        if row < len(self.cells):
            cells = self.cells[row]
            if col < len(cells):
                return cells[col]
        return None

    def has_value(self, row: int, col: int) -> bool:
        cell = self.get(row, col)
        return cell is not None and cell.has_value

    def ensure(self, row: int, col: int) -> Cell:
        """The cell at (row, col), created if needed (the grid must already be big enough).

        The caller may change the cell it gets: an atomic request keeps its old
        content first (see :meth:`Spreadsheet.atomic`).
        """
        if self.journal is not None:
            self.journal.cell(row, col)
        while len(self.cells) <= row:
            self.cells.append([])
        cells = self.cells[row]
        if len(cells) <= col:
            cells.extend([None] * (col + 1 - len(cells)))
        cell = cells[col]
        if cell is None:
            cell = cells[col] = Cell()
        return cell

    def before_decor(self) -> None:
        """Keep the filter, rules and widths before a request changes them (atomic)."""
        if self.journal is not None and self.journal.decor is None:
            self.journal.decor = copy.deepcopy(self.decor)

    def before_change(self, row: int, col: int) -> None:
        """Call before changing the cell at (row, col) other than through :meth:`ensure`."""
        if self.journal is not None:
            self.journal.cell(row, col)

    def before_restructure(self) -> None:
        """Call before moving cells between rows or columns, or dropping rows or columns."""
        if self.journal is not None:
            self.journal.everything()

    def used_extent(self) -> tuple[int, int]:
        """(rows, columns) up to the last cell holding a value or formula."""
        last_row = -1
        last_col = -1
        for r, cells in enumerate(self.cells):
            for c in range(len(cells) - 1, -1, -1):
                cell = cells[c]
                if cell is not None and cell.has_value:
                    last_row = r
                    last_col = max(last_col, c)
                    break
        return last_row + 1, last_col + 1

    # -- grid shape --------------------------------------------------------

    def grow_to(self, rows: int, cols: int) -> None:
        """Expand the grid (never shrink) so writes beyond it fit, as Google does."""
        if rows > self.row_count:
            self.grid["rowCount"] = rows
        if cols > self.column_count:
            self.grid["columnCount"] = cols

    def resize(self, rows: int | None = None, cols: int | None = None) -> None:
        """Set the grid size; data outside the new grid is dropped."""
        self.before_restructure()
        if rows is not None:
            if rows < 1:
                raise bad_request("rowCount must be at least 1")
            self.grid["rowCount"] = rows
            del self.cells[rows:]
        if cols is not None:
            if cols < 1:
                raise bad_request("columnCount must be at least 1")
            self.grid["columnCount"] = cols
            for cells in self.cells:
                del cells[cols:]
        self._clip_frozen()

    def _clip_frozen(self) -> None:
        for key, limit in (
            ("frozenRowCount", self.row_count),
            ("frozenColumnCount", self.column_count),
        ):
            if self.grid.get(key, 0) > limit:
                self.grid[key] = limit

    def insert(self, dimension: str, start: int, count: int) -> None:
        """Insert empty rows/columns before ``start`` (0-based); later data moves down/right."""
        self.before_restructure()
        if dimension == "ROWS":
            if start > self.row_count:
                raise bad_request(f"startIndex {start} is after the last row")
            if start < len(self.cells):
                self.cells[start:start] = [[] for _ in range(count)]
            self.grid["rowCount"] = self.row_count + count
        else:
            if start > self.column_count:
                raise bad_request(f"startIndex {start} is after the last column")
            for cells in self.cells:
                if start < len(cells):
                    cells[start:start] = [None] * count
            self.grid["columnCount"] = self.column_count + count
        self._shift_ranges(dimension, start, count)

    def delete(self, dimension: str, start: int, end: int) -> None:
        """Delete rows/columns ``start`` to ``end`` (exclusive)."""
        limit = self.row_count if dimension == "ROWS" else self.column_count
        end = min(end, limit)
        if start >= end:
            raise bad_request("Invalid dimension range: startIndex must be less than endIndex")
        if end - start >= limit:
            what = "rows" if dimension == "ROWS" else "columns"
            raise bad_request(f"You can't delete all the {what} on the sheet.")
        self.before_restructure()
        if dimension == "ROWS":
            del self.cells[start:end]
            self.grid["rowCount"] = limit - (end - start)
        else:
            for cells in self.cells:
                del cells[start:end]
            self.grid["columnCount"] = limit - (end - start)
        self._shift_ranges(dimension, start, -(end - start))
        self._clip_frozen()

    def _shift_ranges(self, dimension: str, start: int, delta: int) -> None:
        """Keep protected ranges and merges on the same cells when rows/columns move."""
        lo_key, hi_key = (
            ("startRowIndex", "endRowIndex")
            if dimension == "ROWS"
            else ("startColumnIndex", "endColumnIndex")
        )

        def shifted(grid_range: dict[str, Any]) -> bool:
            """Move the range; False when every row/column of it was deleted."""
            lo, hi = grid_range.get(lo_key), grid_range.get(hi_key)
            new_lo, new_hi = _shift_span(lo, hi, start, delta)
            if new_lo is not None and new_hi is not None and new_lo >= new_hi:
                return False
            if lo is not None:
                grid_range[lo_key] = new_lo
            if hi is not None:
                grid_range[hi_key] = new_hi
            return True

        self.protected_ranges = [p for p in self.protected_ranges if shifted(p.get("range", {}))]
        self.merges = [m for m in self.merges if shifted(m)]

    def sort(self, rect: GridRect, specs: Sequence[tuple[int, bool]], calc: Calc) -> None:
        """Sort rows of ``rect`` by (column index, ascending) keys, moving whole
        cells (value, formula, format) within the rectangle's columns only."""
        self.before_restructure()
        rows = [
            [self.get(r, c) for c in range(rect.col0, rect.col1 + 1)]
            for r in range(rect.row0, rect.row1 + 1)
        ]
        for col, ascending in reversed(specs):  # stable sorts, least significant key first
            offset = col - rect.col0
            if not 0 <= offset < rect.cols:
                raise bad_request(f"sortSpecs dimensionIndex {col} is outside the range")
            filled: list[tuple[tuple[int, Any], list[Cell | None]]] = []
            blanks: list[list[Cell | None]] = []  # blank keys go last either way, as in Google
            for row in rows:
                key = _sort_key(calc.cell_value_of(row[offset], self))
                if key is None:
                    blanks.append(row)
                else:
                    filled.append((key, row))
            filled.sort(key=lambda item: item[0], reverse=not ascending)
            rows = [row for _, row in filled] + blanks
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                r, c = rect.row0 + i, rect.col0 + j
                if cell is None and self.get(r, c) is None:
                    continue
                self.ensure(r, c)
                self.cells[r][c] = cell


def _clone(cell: Cell | None) -> Cell | None:
    """A copy of a cell that later edits of the cell cannot reach (its dicts are nested)."""
    if cell is None:
        return None
    copied = Cell.__new__(Cell)  # copy.copy, without its generic machinery
    copied.__dict__.update(cell.__dict__)
    if cell.fmt is not None:
        copied.fmt = copy.deepcopy(cell.fmt)
    if cell.validation is not None:
        copied.validation = copy.deepcopy(cell.validation)
    return copied


class _SheetJournal:
    """What one sheet looked like before an atomic request, kept as the request goes.

    Cells are kept one by one as they are first changed, so undoing a write costs
    in proportion to the write, not to the sheet. A request that moves cells
    between rows or drops rows or columns (insert, delete, resize, sort) copies
    all the cells once, first.
    """

    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.properties = copy.deepcopy(sheet.properties)
        self.protected_ranges = copy.deepcopy(sheet.protected_ranges)
        self.merges = copy.deepcopy(sheet.merges)
        self.decor: dict[str, Any] | None = None  # copied on the first change
        self.height = len(sheet.cells)
        #: row -> its length before the request (-1: the row was not stored)
        self.widths: dict[int, int] = {}
        #: (row, column) -> a copy of the cell before the request
        self.cells: dict[tuple[int, int], Cell | None] = {}
        #: every row, copied before the first change that moved cells
        self.all_rows: list[list[Cell | None]] | None = None

    def cell(self, row: int, col: int) -> None:
        if self.all_rows is not None or (row, col) in self.cells:
            return  # already kept
        rows = self.sheet.cells
        if row not in self.widths:
            self.widths[row] = len(rows[row]) if row < len(rows) else -1
        self.cells[row, col] = _clone(self.sheet.get(row, col))

    def everything(self) -> None:
        if self.all_rows is None:
            self.all_rows = [[_clone(c) for c in row] for row in self.sheet.cells]

    def restore(self) -> None:
        sheet = self.sheet
        if self.decor is not None:
            sheet.decor = self.decor
        if self.all_rows is not None:
            sheet.cells = self.all_rows
        rows = sheet.cells
        # the cells kept one by one were kept before any move, so they fit
        # either the rows as they are now or the copy of all rows
        for (r, c), cell in self.cells.items():
            if r < len(rows) and c < len(rows[r]):
                rows[r][c] = cell
        for r, width in self.widths.items():
            if width >= 0 and r < len(rows):
                del rows[r][width:]
        del rows[self.height :]
        sheet.properties = self.properties
        sheet.protected_ranges = self.protected_ranges
        sheet.merges = self.merges


def _shift_span(
    lo: int | None, hi: int | None, start: int, delta: int
) -> tuple[int | None, int | None]:
    """Move a half-open span [lo, hi) for an insert (delta > 0) or delete (delta < 0) at start."""

    def move(x: int | None, is_end: bool) -> int | None:
        if x is None:
            return None
        if delta > 0:
            # An insert exactly at a range's start lands before it; at its end, outside it.
            return x + delta if (x > start or (x == start and not is_end)) else x
        end = start - delta
        if x >= end:
            return x + delta
        return min(x, start) if x > start else x

    return move(lo, False), move(hi, True)


def merge_range(sheet: Sheet, grid_range: dict[str, Any]) -> None:
    """Merge a GridRange (half-open indexes) as Google does: only the top-left
    value stays, and a merge it overlaps is replaced."""
    r0, r1 = grid_range["startRowIndex"], grid_range["endRowIndex"]
    c0, c1 = grid_range["startColumnIndex"], grid_range["endColumnIndex"]
    for r in range(r0, r1):
        for c in range(c0, c1):
            if (r, c) != (r0, c0) and sheet.get(r, c) is not None:
                sheet.before_change(r, c)
                sheet.cells[r][c] = None
    sheet.merges = [m for m in sheet.merges if not _overlap(m, grid_range)]
    sheet.merges.append(dict(grid_range))


def unmerge_range(sheet: Sheet, grid_range: Mapping[str, Any]) -> None:
    sheet.merges = [m for m in sheet.merges if not _overlap(m, grid_range)]


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (
        a["startRowIndex"] < b["endRowIndex"]
        and b["startRowIndex"] < a["endRowIndex"]
        and a["startColumnIndex"] < b["endColumnIndex"]
        and b["startColumnIndex"] < a["endColumnIndex"]
    )


def _sort_key(value: Scalar) -> tuple[int, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value).casefold())


class Calc:
    """Computes formula results for one read; memoised, with cycle detection.

    Implements :class:`formula.FormulaContext`.  A formula the evaluator does
    not support evaluates to its own text (see formula.py for why).
    """

    def __init__(self, spreadsheet: Spreadsheet) -> None:
        self.spreadsheet = spreadsheet
        self._memo: dict[tuple[int, int, int], Scalar] = {}
        self._active: set[tuple[int, int, int]] = set()

    def value(self, sheet: Sheet, row: int, col: int) -> Scalar:
        return self.cell_value_of(sheet.get(row, col), sheet, row, col)

    def cell_value_of(
        self, cell: Cell | None, sheet: Sheet, row: int = -1, col: int = -1
    ) -> Scalar:
        if cell is None or not cell.has_value:
            return None
        if cell.formula is None:
            return cell.value
        key = (sheet.sheet_id, row, col) if row >= 0 else (sheet.sheet_id, id(cell), -1)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:
            return ErrorValue("#REF!")  # circular dependency
        self._active.add(key)
        try:
            result: Scalar = evaluate(cell.formula, self, sheet.title)
        except Unsupported:
            result = cell.formula
        finally:
            self._active.discard(key)
        self._memo[key] = result
        return result

    # FormulaContext
    def cell_value(self, sheet: str | None, row: int, col: int) -> Scalar:
        target = self.spreadsheet.find_sheet(sheet) if sheet else None
        if target is None:
            raise KeyError(sheet)
        if row >= target.row_count or col >= target.column_count:
            return None
        return self.value(target, row, col)

    def grid_size(self, sheet: str | None) -> tuple[int, int]:
        target = self.spreadsheet.find_sheet(sheet) if sheet else None
        if target is None:
            raise KeyError(sheet)
        return target.row_count, target.column_count


def render_cell(
    calc: Calc,
    sheet: Sheet,
    row: int,
    col: int,
    value_render: str = FORMATTED_VALUE,
    date_render: str = SERIAL_NUMBER,
) -> Any:
    """One cell as the values API shows it; ``None`` for an empty cell."""
    cell = sheet.get(row, col)
    if cell is None or not cell.has_value:
        return None
    if value_render == FORMULA and cell.formula is not None:
        return cell.formula
    value = calc.cell_value_of(cell, sheet, row, col)
    if isinstance(value, ErrorValue):
        return str(value)
    if isinstance(value, bool):
        if value_render == FORMATTED_VALUE:
            return "TRUE" if value else "FALSE"
        return value
    if isinstance(value, (int, float)):
        if value_render == FORMATTED_VALUE or (
            cell.kind in DATE_KINDS and date_render == FORMATTED_STRING
        ):
            return format_number(value, cell.kind, cell.pattern)
        return json_number(value)
    return value


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Run a Spreadsheet helper under the store lock: tests call these from their
    own thread while the server's threads may be serving requests."""

    @functools.wraps(method)
    def wrapper(self: Spreadsheet, *args: Any, **kwargs: Any) -> Any:
        with self.store.lock:
            return method(self, *args, **kwargs)

    return cast(_F, wrapper)


class Spreadsheet:
    """A spreadsheet: properties, ordered sheets, and edit helpers for tests."""

    def __init__(
        self,
        store: Store,
        spreadsheet_id: str,
        title: str,
        locale: str = "en_US",
        time_zone: str = "Etc/GMT",
    ) -> None:
        self.store = store
        self.id = spreadsheet_id
        self.properties: dict[str, Any] = {
            "title": title,
            "locale": locale,
            "autoRecalc": "ON_CHANGE",
            "timeZone": time_zone,
        }
        self.sheets: list[Sheet] = []
        now = dt.datetime.now(dt.UTC)
        self.created_time = now
        self.modified_time = now

    @property
    def title(self) -> str:
        return str(self.properties["title"])

    def touch(self) -> None:
        self.modified_time = dt.datetime.now(dt.UTC)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Undo everything the block did if it raises :class:`ApiError`: Google
        applies a batch request whole or not at all.

        The caller holds the store lock. Sheets keep their identity (a test's
        reference to a sheet stays good) and only what the block changed is
        kept and put back, so a write into a big sheet costs what it writes.
        """
        sheets = list(self.sheets)
        properties = copy.deepcopy(self.properties)
        journals = [_SheetJournal(sheet) for sheet in sheets]
        for journal in journals:
            journal.sheet.journal = journal
        try:
            yield
        except ApiError:
            for journal in journals:
                journal.restore()
            self.sheets, self.properties = sheets, properties
            self._renumber()
            raise
        finally:
            for journal in journals:
                journal.sheet.journal = None

    # -- sheets ------------------------------------------------------------

    def find_sheet(self, title: str | None) -> Sheet | None:
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        return None

    def sheet(self, title: str) -> Sheet:
        """The sheet with this title; ``KeyError`` if there is none."""
        found = self.find_sheet(title)
        if found is None:
            raise KeyError(f"no sheet titled {title!r} in {self.id}")
        return found

    def sheet_by_id(self, sheet_id: int) -> Sheet:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise bad_request(f"No grid with id: {sheet_id}")

    def _renumber(self) -> None:
        for i, sheet in enumerate(self.sheets):
            sheet.properties["index"] = i

    def add_sheet(
        self,
        title: str | None = None,
        rows: int = DEFAULT_ROWS,
        cols: int = DEFAULT_COLUMNS,
        index: int | None = None,
        sheet_id: int | None = None,
    ) -> Sheet:
        if title is None:
            n = len(self.sheets) + 1
            while self.find_sheet(f"Sheet{n}") is not None:
                n += 1
            title = f"Sheet{n}"
        if not title.strip():
            raise bad_request("Sheet names must be non-empty.")
        if any(s.title.casefold() == title.casefold() for s in self.sheets):
            raise bad_request(
                f'A sheet with the name "{title}" already exists. Please enter another name.'
            )
        if sheet_id is None:
            sheet_id = 0 if not self.sheets else self.store.new_object_id()
            while any(s.sheet_id == sheet_id for s in self.sheets):
                sheet_id = self.store.new_object_id()
        elif any(s.sheet_id == sheet_id for s in self.sheets):
            raise bad_request(
                f"A sheet with id {sheet_id} already exists. Please enter another id."
            )
        sheet = Sheet(sheet_id, title, 0, rows, cols)
        position = len(self.sheets) if index is None else max(0, min(index, len(self.sheets)))
        self.sheets.insert(position, sheet)
        self._renumber()
        return sheet

    def delete_sheet(self, sheet_id: int) -> None:
        sheet = self.sheet_by_id(sheet_id)
        if len(self.sheets) == 1:
            raise bad_request("You can't remove all the sheets in a document.")
        self.sheets.remove(sheet)
        self._renumber()

    def move_sheet(self, sheet: Sheet, index: int) -> None:
        self.sheets.remove(sheet)
        self.sheets.insert(max(0, min(index, len(self.sheets))), sheet)
        self._renumber()

    # -- ranges ------------------------------------------------------------

    def locate(self, text: str) -> tuple[Sheet, A1Range]:
        """Find the sheet a range refers to; 400 "Unable to parse range" otherwise."""
        try:
            parsed = parse_a1(text)
        except A1ParseError:
            raise bad_request(f"Unable to parse range: {text}") from None
        if parsed.ambiguous:
            # Bare "D3" or "Sheet1": a sheet of that name wins, else a cell on the first sheet.
            named = self.find_sheet(parsed.sheet)
            if named is not None:
                return named, A1Range(named.title, sheet_only=True)
            return self.sheets[0], A1Range(
                None, parsed.start_row, parsed.start_col, parsed.end_row, parsed.end_col
            )
        if parsed.sheet is None:
            return self.sheets[0], parsed
        sheet = self.find_sheet(parsed.sheet)
        if sheet is None:
            raise bad_request(f"Unable to parse range: {text}")
        return sheet, parsed

    def read_rect(self, text: str) -> tuple[Sheet, GridRect]:
        """Sheet and rectangle for a read or clear: unbounded sides are clipped to
        the grid; explicit cells outside it are a 400 like Google's."""
        sheet, parsed = self.locate(text)
        rect = parsed.resolve(sheet.row_count, sheet.column_count)
        last_row, last_col = parsed.bounded_end()
        if (last_row is not None and last_row >= sheet.row_count) or (
            last_col is not None and last_col >= sheet.column_count
        ):
            cells = text.rpartition("!")[2] if "!" in text else text
            raise grid_limit_error(sheet, f"{quote_title(sheet.title)}!{cells}")
        return sheet, rect

    def echo(self, sheet: Sheet, rect: GridRect) -> str:
        return format_range(sheet.title, rect)

    def calc(self) -> Calc:
        return Calc(self)

    # -- edits as a person would make them (used by tests) ------------------

    @_locked
    def insert_rows(
        self, sheet_title: str, at_row: int, rows: Sequence[Sequence[Any]] | int = 1
    ) -> None:
        """Insert rows before 1-based ``at_row`` (like "Insert 1 row above"), then
        fill them with ``rows`` (a list of row values, or a count of blank rows)."""
        sheet = self.sheet(sheet_title)
        count = rows if isinstance(rows, int) else len(rows)
        sheet.insert("ROWS", at_row - 1, count)
        if not isinstance(rows, int):
            self._write_python(sheet, at_row - 1, 0, rows, user_entered=False)
        self.touch()

    @_locked
    def delete_rows(self, sheet_title: str, start_row: int, count: int = 1) -> None:
        """Delete ``count`` rows starting at 1-based ``start_row``."""
        self.sheet(sheet_title).delete("ROWS", start_row - 1, start_row - 1 + count)
        self.touch()

    @_locked
    def sort_rows(
        self, sheet_title: str, column_index: int, reverse: bool = False, header_rows: int = 1
    ) -> None:
        """Sort the used rows below the header by a 0-based column, as a person
        using "Sort sheet A→Z" (or Z→A with ``reverse``) would."""
        sheet = self.sheet(sheet_title)
        used_rows, used_cols = sheet.used_extent()
        if used_rows <= header_rows:
            return
        rect = GridRect(header_rows, 0, used_rows - 1, max(used_cols, column_index + 1) - 1)
        sheet.sort(rect, [(column_index, not reverse)], self.calc())
        self.touch()

    @_locked
    def set_values(
        self,
        sheet_title: str,
        top_left: str,
        rows: Sequence[Sequence[Any]],
        *,
        user_entered: bool = False,
    ) -> None:
        """Write Python values starting at an A1 cell.  ``None`` leaves a cell as
        it is and ``""`` clears it (the API's rules); dates become date cells."""
        sheet = self.sheet(sheet_title)
        anchor = parse_cells(top_left)
        self._write_python(
            sheet, anchor.start_row or 0, anchor.start_col or 0, rows, user_entered=user_entered
        )
        self.touch()

    @_locked
    def merge_cells(self, sheet_title: str, cells: str) -> None:
        """Merge a range such as ``A1:B1`` as a person does in the UI (test helper;
        the API's ``mergeCells`` request does the same)."""
        sheet = self.sheet(sheet_title)
        rect = parse_cells(cells)
        merge_range(
            sheet,
            {
                "sheetId": sheet.sheet_id,
                "startRowIndex": rect.start_row or 0,
                "endRowIndex": (rect.end_row if rect.end_row is not None else 0) + 1,
                "startColumnIndex": rect.start_col or 0,
                "endColumnIndex": (rect.end_col if rect.end_col is not None else 0) + 1,
            },
        )
        self.touch()

    @_locked
    def append_rows(
        self, sheet_title: str, rows: Sequence[Sequence[Any]], *, user_entered: bool = False
    ) -> None:
        """Add rows after the last used row, starting in column A."""
        sheet = self.sheet(sheet_title)
        used_rows, _ = sheet.used_extent()
        self._write_python(sheet, used_rows, 0, rows, user_entered=user_entered)
        self.touch()

    @_locked
    def get_values(self, sheet_title: str, render: str = UNFORMATTED_VALUE) -> list[list[Any]]:
        """The sheet's values as the API would return them for the whole sheet
        (trailing blanks trimmed, ``""`` for blank cells inside the data)."""
        sheet = self.sheet(sheet_title)
        used_rows, used_cols = sheet.used_extent()
        calc = self.calc()
        out: list[list[Any]] = []
        for r in range(used_rows):
            row = [render_cell(calc, sheet, r, c, render) for c in range(used_cols)]
            while row and row[-1] is None:
                row.pop()
            out.append(["" if v is None else v for v in row])
        return out

    @_locked
    def cell(self, sheet_title: str, a1: str) -> Cell | None:
        """The stored cell at an A1 address (for assertions on formulas/formats)."""
        anchor = parse_cells(a1)
        return self.sheet(sheet_title).get(anchor.start_row or 0, anchor.start_col or 0)

    def _write_python(
        self,
        sheet: Sheet,
        top: int,
        left: int,
        rows: Iterable[Sequence[Any]],
        *,
        user_entered: bool,
    ) -> None:
        materialised = [list(row) for row in rows]
        width = max((len(r) for r in materialised), default=0)
        sheet.grow_to(top + len(materialised), left + width)
        for i, row in enumerate(materialised):
            for j, value in enumerate(row):
                if value is None:
                    continue
                sheet.ensure(top + i, left + j).set_content(
                    cell_from_python(value, user_entered=user_entered)
                )


class Store:
    """All spreadsheets of one emulator, behind one lock."""

    def __init__(self, user_email: str = "emulator@example.com") -> None:
        self.lock = threading.RLock()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.denied: set[str] = set()
        # The identity requests run as; Google lists it as the editor of
        # protected ranges the caller creates.
        self.user_email = user_email
        # Source of new sheet ids / protected range ids.  Google picks random
        # positive int32s; tests may replace this to get predictable ids.
        self.id_source: Callable[[], int] | None = None
        self._random = random.Random()

    @staticmethod
    def new_spreadsheet_id() -> str:
        # Google ids are 44 characters of [A-Za-z0-9_-]; the emulator's look alike.
        alphabet = string.ascii_letters + string.digits + "_-"
        return "1" + "".join(secrets.choice(alphabet) for _ in range(43))

    def new_object_id(self) -> int:
        if self.id_source is not None:
            return self.id_source()
        return self._random.randint(1, 2**31 - 1)

    def create_spreadsheet(
        self,
        spreadsheet_id: str | None = None,
        title: str = "Untitled spreadsheet",
        sheets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
        *,
        locale: str = "en_US",
        time_zone: str = "Etc/GMT",
        user_entered: bool = False,
    ) -> Spreadsheet:
        """Create a spreadsheet.  ``sheets`` maps tab titles to rows of values;
        without it there is one empty ``Sheet1`` of 1000×26 like a new Google sheet."""
        with self.lock:
            spreadsheet_id = spreadsheet_id or self.new_spreadsheet_id()
            if spreadsheet_id in self.spreadsheets:
                raise ValueError(f"spreadsheet {spreadsheet_id} already exists")
            ss = Spreadsheet(self, spreadsheet_id, title, locale, time_zone)
            # A spreadsheet always has at least one sheet, like a new Google one.
            for tab, rows in (sheets or {"Sheet1": []}).items():
                rows = [list(r) for r in rows]
                width = max((len(r) for r in rows), default=0)
                sheet = ss.add_sheet(tab, max(DEFAULT_ROWS, len(rows)), max(DEFAULT_COLUMNS, width))
                ss._write_python(sheet, 0, 0, rows, user_entered=user_entered)
            self.spreadsheets[spreadsheet_id] = ss
            return ss

    def get(self, spreadsheet_id: str) -> Spreadsheet:
        """The spreadsheet, or the 403/404 Google would answer."""
        if spreadsheet_id in self.denied:
            raise ApiError(403)
        try:
            return self.spreadsheets[spreadsheet_id]
        except KeyError:
            raise ApiError(404) from None

    def __getitem__(self, spreadsheet_id: str) -> Spreadsheet:
        return self.spreadsheets[spreadsheet_id]

    def delete(self, spreadsheet_id: str) -> None:
        with self.lock:
            self.spreadsheets.pop(spreadsheet_id, None)

    def deny(self, spreadsheet_id: str) -> None:
        """Make the spreadsheet answer 403 PERMISSION_DENIED (someone else's private file)."""
        with self.lock:
            self.denied.add(spreadsheet_id)

    def load(self, data: Mapping[str, Any]) -> list[str]:
        """Create spreadsheets from JSON: ``{"spreadsheets": [{"id", "title",
        "sheets": {"Tab": [[...], ...]}, "locale", "timeZone"}]}`` (or just the list)."""
        items = data.get("spreadsheets", []) if isinstance(data, Mapping) else data
        created = []
        for item in items:
            ss = self.create_spreadsheet(
                item.get("id"),
                item.get("title", "Untitled spreadsheet"),
                item.get("sheets"),
                locale=item.get("locale", "en_US"),
                time_zone=item.get("timeZone", "Etc/GMT"),
                user_entered=bool(item.get("userEntered", False)),
            )
            created.append(ss.id)
        return created
