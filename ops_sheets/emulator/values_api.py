"""``spreadsheets.values.*``: get, batchGet, update, batchUpdate, append, clear, batchClear.

Each function takes a :class:`Spreadsheet` plus the decoded request and returns
the JSON body Google would send.  Behaviours checked against the recordings:

* the echoed range is clipped to the grid and quoted like Google
  (``'Sheet1'!A:A`` -> ``Sheet1!A1:A1000``, ``'🌵 tab'!A1:C2``);
* trailing empty cells and rows are trimmed, blank rows inside stay ``[]``,
  and an empty result has no ``values`` key at all;
* ``null`` in written data leaves the cell unchanged and is not counted in
  ``updatedCells``/``updatedRows``/``updatedColumns`` (zero counts are omitted,
  as proto3 JSON omits zero); ``""`` clears a cell and *is* counted;
* append looks for the "table" the way Google appears to (see ``find_table``);
* writes never widen the grid; append alone adds the rows it needs (see ``_write``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .a1 import GridRect, index_to_col, quote_title
from .errors import ApiError, bad_request
from .store import (
    FORMATTED_STRING,
    FORMATTED_VALUE,
    FORMULA,
    SERIAL_NUMBER,
    UNFORMATTED_VALUE,
    Sheet,
    Spreadsheet,
    grid_limit_error,
    render_cell,
)
from .values import cell_from_raw, cell_from_user_entered

__all__ = [
    "append_values",
    "batch_clear",
    "batch_get",
    "batch_update_values",
    "clear_values",
    "find_table",
    "get_values",
    "update_values",
]

VALUE_RENDER = (FORMATTED_VALUE, UNFORMATTED_VALUE, FORMULA)
DATE_RENDER = (SERIAL_NUMBER, FORMATTED_STRING)
INPUT_OPTIONS = ("RAW", "USER_ENTERED")
DIMENSIONS = ("ROWS", "COLUMNS")


def _enum(value: str | None, allowed: Sequence[str], default: str, field_name: str) -> str:
    if value is None or value == "":
        return default
    if value not in allowed:
        raise bad_request(f"Invalid value at '{field_name}', \"{value}\"")
    return value


@dataclass(frozen=True)
class RenderOptions:
    value: str = FORMATTED_VALUE
    date: str = SERIAL_NUMBER
    major: str = "ROWS"

    @classmethod
    def parse(
        cls,
        value: str | None = None,
        date: str | None = None,
        major: str | None = None,
        prefix: str = "",
    ) -> RenderOptions:
        return cls(
            _enum(value, VALUE_RENDER, FORMATTED_VALUE, f"{prefix}value_render_option"),
            _enum(date, DATE_RENDER, SERIAL_NUMBER, f"{prefix}date_time_render_option"),
            _enum(major, DIMENSIONS, "ROWS", "major_dimension"),
        )


# ---------------------------------------------------------------- reading


def _render_rect(
    ss: Spreadsheet, sheet: Sheet, rect: GridRect, options: RenderOptions
) -> list[list[Any]]:
    """Rendered, trimmed values of a rectangle in the requested major dimension."""
    calc = ss.calc()
    # Nothing exists past the stored rows/columns, so do not walk the empty grid.
    used_rows = min(rect.row1, len(sheet.cells) - 1)
    used_cols = min(rect.col1, max((len(r) for r in sheet.cells), default=0) - 1)
    rows = [
        [
            render_cell(calc, sheet, r, c, options.value, options.date)
            for c in range(rect.col0, used_cols + 1)
        ]
        for r in range(rect.row0, used_rows + 1)
    ]
    if options.major == "COLUMNS":
        width = max((len(r) for r in rows), default=0)
        rows = [[row[c] if c < len(row) else None for row in rows] for c in range(width)]
    return _trim(rows)


def _trim(lines: list[list[Any]]) -> list[list[Any]]:
    out = []
    for line in lines:
        end = len(line)
        while end and line[end - 1] is None:
            end -= 1
        out.append(["" if v is None else v for v in line[:end]])
    while out and not out[-1]:
        out.pop()
    return out


def _value_range(
    ss: Spreadsheet, sheet: Sheet, rect: GridRect, options: RenderOptions
) -> dict[str, Any]:
    body: dict[str, Any] = {"range": ss.echo(sheet, rect), "majorDimension": options.major}
    values = _render_rect(ss, sheet, rect, options)
    if values:  # Google leaves the key out entirely for an empty range
        body["values"] = values
    return body


def get_values(ss: Spreadsheet, range_text: str, options: RenderOptions) -> dict[str, Any]:
    sheet, rect = ss.read_rect(range_text)
    return _value_range(ss, sheet, rect, options)


def batch_get(ss: Spreadsheet, ranges: Sequence[str], options: RenderOptions) -> dict[str, Any]:
    value_ranges = []
    for text in ranges:
        sheet, rect = ss.read_rect(text)
        value_ranges.append(_value_range(ss, sheet, rect, options))
    body: dict[str, Any] = {"spreadsheetId": ss.id}
    if value_ranges:
        body["valueRanges"] = value_ranges
    return body


# ---------------------------------------------------------------- writing


def _check_values(values: Any, field_name: str) -> list[list[Any]]:
    """Validate ``values`` like Google's JSON-to-proto conversion does."""
    if values is None:
        return []

    def invalid(where: str, item: Any) -> ApiError:
        shown = f'"{item}"' if isinstance(item, str) else json.dumps(item)
        message = (
            f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.ListValue), {shown}"
        )
        violation = {"field": where, "description": message}
        return ApiError(
            400,
            message,
            [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [violation],
                }
            ],
        )

    if not isinstance(values, list):
        raise invalid(field_name, values)
    for i, row in enumerate(values):
        if not isinstance(row, list):
            raise invalid(f"{field_name}[{i}]", row)
        for j, item in enumerate(row):
            if isinstance(item, (dict, list)):
                raise bad_request(f"Invalid {field_name}[{i}][{j}]: {json.dumps(item)}")
    return values


@dataclass
class WriteResult:
    sheet: Sheet
    rect: GridRect  # the data's footprint: anchor + data shape
    cells: set[tuple[int, int]] = field(default_factory=set)

    def response(self, ss: Spreadsheet) -> dict[str, Any]:
        body: dict[str, Any] = {
            "spreadsheetId": ss.id,
            "updatedRange": ss.echo(self.sheet, self.rect),
        }
        rows = len({r for r, _ in self.cells})
        cols = len({c for _, c in self.cells})
        # proto3 JSON leaves out zero counts (an all-null write reports none).
        if rows:
            body["updatedRows"] = rows
        if cols:
            body["updatedColumns"] = cols
        if self.cells:
            body["updatedCells"] = len(self.cells)
        return body


def _as_rows(values: list[list[Any]], major: str) -> list[list[Any]]:
    if major != "COLUMNS":
        return values
    height = max((len(col) for col in values), default=0)
    return [[col[r] if r < len(col) else None for col in values] for r in range(height)]


def _write(
    ss: Spreadsheet,
    sheet: Sheet,
    top: int,
    left: int,
    rows: list[list[Any]],
    input_option: str,
    *,
    grow_rows: bool = False,
) -> WriteResult:
    """Write a block of values with its top-left cell at (top, left).

    Google does not widen the grid for values writes: ``values.update`` past the
    last row or column is a 400 "exceeds grid limits" (google/hyou#15), and
    ``append`` adds the rows it needs but not columns (home-assistant#104198).
    """
    height = len(rows)
    width = max((len(r) for r in rows), default=0)
    rect = GridRect(top, left, top + max(height, 1) - 1, left + max(width, 1) - 1)
    result = WriteResult(sheet, rect)
    if height == 0 or width == 0:
        return result
    too_wide = rect.col1 >= sheet.column_count
    too_tall = rect.row1 >= sheet.row_count and not grow_rows
    if too_wide or too_tall:
        raise grid_limit_error(sheet, ss.echo(sheet, rect))
    sheet.grow_to(top + height, 0)
    parse = cell_from_user_entered if input_option == "USER_ENTERED" else cell_from_raw
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is None:
                continue  # null means "leave this cell alone"
            r, c = top + i, left + j
            sheet.ensure(r, c).set_content(parse(value))
            result.cells.add((r, c))
    ss.touch()
    return result


def _input_option(value: str | None) -> str:
    if not value:
        raise bad_request("'valueInputOption' is required but not specified")
    if value not in INPUT_OPTIONS:
        raise bad_request(
            "Invalid value at 'value_input_option'"
            f' (type.googleapis.com/google.apps.sheets.v4.ValueInputOption), "{value}"'
        )
    return value


def _anchored_write(
    ss: Spreadsheet,
    range_text: str,
    body: Mapping[str, Any],
    input_option: str,
    field_name: str,
) -> WriteResult:
    sheet, parsed = ss.locate(range_text)
    major = _enum(body.get("majorDimension"), DIMENSIONS, "ROWS", "data.major_dimension")
    rows = _as_rows(_check_values(body.get("values"), field_name), major)
    if parsed.sheet_only:
        top = left = 0
    else:
        top = parsed.start_row or 0
        left = parsed.start_col or 0
        is_single_cell = parsed.start_row == parsed.end_row and parsed.start_col == parsed.end_col
        if not is_single_cell:
            # A single cell is only an anchor; a real range must hold the data.
            _check_fits(sheet, range_text, parsed.end_row, parsed.end_col, top, left, rows)
    return _write(ss, sheet, top, left, rows, input_option)


def _check_fits(
    sheet: Sheet,
    range_text: str,
    end_row: int | None,
    end_col: int | None,
    top: int,
    left: int,
    rows: list[list[Any]],
) -> None:
    cells = range_text.rpartition("!")[2] if "!" in range_text else range_text
    shown = f"{quote_title(sheet.title)}!{cells}"
    if end_row is not None and top + len(rows) - 1 > end_row:
        raise bad_request(
            f"Requested writing within range [{shown}], but tried writing to row [{end_row + 2}]"
        )
    width = max((len(r) for r in rows), default=0)
    if end_col is not None and left + width - 1 > end_col:
        raise bad_request(
            f"Requested writing within range [{shown}], but tried writing to column"
            f" [{index_to_col(end_col + 1)}]"
        )


def _with_data(
    ss: Spreadsheet,
    result: WriteResult,
    body: dict[str, Any],
    include: bool,
    options: RenderOptions,
) -> dict[str, Any]:
    if include:
        body["updatedData"] = _value_range(ss, result.sheet, result.rect, options)
    return body


def update_values(
    ss: Spreadsheet,
    range_text: str,
    body: Mapping[str, Any],
    *,
    input_option: str | None,
    include_values: bool = False,
    response_options: RenderOptions | None = None,
) -> dict[str, Any]:
    option = _input_option(input_option)
    result = _anchored_write(ss, range_text, body, option, "data.values")
    return _with_data(
        ss, result, result.response(ss), include_values, response_options or RenderOptions()
    )


def batch_update_values(ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
    option = _input_option(body.get("valueInputOption"))
    include = bool(body.get("includeValuesInResponse", False))
    options = RenderOptions.parse(
        body.get("responseValueRenderOption"), body.get("responseDateTimeRenderOption")
    )
    results = []
    for i, item in enumerate(body.get("data") or []):
        try:
            results.append(
                _anchored_write(ss, item.get("range", ""), item, option, f"data[{i}].values")
            )
        except ApiError as error:
            # Google names the failing part: "Invalid data[0]: Range (...) exceeds grid limits."
            if error.code == 400 and not error.details:
                raise bad_request(f"Invalid data[{i}]: {error}") from None
            raise
    responses = [_with_data(ss, r, r.response(ss), include, options) for r in results]
    cells = {(r.sheet.sheet_id, *cell) for r in results for cell in r.cells}
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    # Totals count distinct rows/columns, not the sum per range: the recording
    # writes A1:D1 and A4:D4 and Google reports 2 rows and 4 columns.
    totals = {
        "totalUpdatedRows": len({(s, r) for s, r, _ in cells}),
        "totalUpdatedColumns": len({(s, c) for s, _, c in cells}),
        "totalUpdatedCells": len(cells),
        "totalUpdatedSheets": len({s for s, _, _ in cells}),
    }
    out.update({k: v for k, v in totals.items() if v})
    if responses:
        out["responses"] = responses
    return out


# ---------------------------------------------------------------- append


def find_table(sheet: Sheet, rect: GridRect) -> GridRect | None:
    """The "table" values.append writes after, as Google appears to find it.

    The recordings (and gspread issues #537/#603) show that Google does not
    take the first block of data in the range: with ``A1`` and ``C1`` filled
    and ``B1`` empty, appending to ``Sheet1`` reports ``tableRange: Sheet1!C1``
    and writes at ``C2``, while appending to ``Sheet1!A1`` reports ``A1`` and
    writes at ``A2``.  Both fit this rule: start from the *last* cell with a
    value inside the range (bottom row first, rightmost in that row), then grow
    a box around it while any cell touching the box (diagonals included) has a
    value, like Excel's "current region".  No value in the range: no table,
    and the data goes to the range's first cell.
    """
    seed: tuple[int, int] | None = None
    for r in range(min(rect.row1, len(sheet.cells) - 1), rect.row0 - 1, -1):
        cells = sheet.cells[r]
        for c in range(min(rect.col1, len(cells) - 1), rect.col0 - 1, -1):
            if sheet.has_value(r, c):
                seed = (r, c)
                break
        if seed:
            break
    if seed is None:
        return None
    r0 = r1 = seed[0]
    c0 = c1 = seed[1]

    def any_value(rows: range, cols: range) -> bool:
        return any(sheet.has_value(r, c) for r in rows for c in cols)

    grown = True
    while grown:
        grown = False
        cols = range(max(c0 - 1, 0), c1 + 2)
        if r0 > 0 and any_value(range(r0 - 1, r0), cols):
            r0 -= 1
            grown = True
        if any_value(range(r1 + 1, r1 + 2), cols):
            r1 += 1
            grown = True
        rows = range(max(r0 - 1, 0), r1 + 2)
        if c0 > 0 and any_value(rows, range(c0 - 1, c0)):
            c0 -= 1
            grown = True
        if any_value(rows, range(c1 + 1, c1 + 2)):
            c1 += 1
            grown = True
    return GridRect(r0, c0, r1, c1)


def append_values(
    ss: Spreadsheet,
    range_text: str,
    body: Mapping[str, Any],
    *,
    input_option: str | None,
    insert_data_option: str | None = None,
    include_values: bool = False,
    response_options: RenderOptions | None = None,
) -> dict[str, Any]:
    option = _input_option(input_option)
    insert = _enum(
        insert_data_option, ("OVERWRITE", "INSERT_ROWS"), "OVERWRITE", "insert_data_option"
    )
    sheet, rect = ss.read_rect(range_text)
    major = _enum(body.get("majorDimension"), DIMENSIONS, "ROWS", "data.major_dimension")
    rows = _as_rows(_check_values(body.get("values"), "data.values"), major)
    table = find_table(sheet, rect)
    if table is None:
        top, left = rect.row0, rect.col0
    else:
        top, left = table.row1 + 1, table.col0
    width = max((len(r) for r in rows), default=0)
    if rows and left + width > sheet.column_count:
        # Checked before anything moves; Google names the first column past the
        # grid on the range's first row ("Range (Solar!Y1) exceeds grid limits").
        shown = f"{quote_title(sheet.title)}!{index_to_col(sheet.column_count)}{rect.row0 + 1}"
        raise grid_limit_error(sheet, shown)
    if insert == "INSERT_ROWS" and rows and top < sheet.row_count:
        # New rows are inserted for the data, so nothing below is overwritten.
        sheet.insert("ROWS", top, len(rows))
    result = _write(ss, sheet, top, left, rows, option, grow_rows=True)
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    if table is not None:
        out["tableRange"] = ss.echo(sheet, table)
    out["updates"] = _with_data(
        ss, result, result.response(ss), include_values, response_options or RenderOptions()
    )
    return out


# ---------------------------------------------------------------- clear


def _clear_rect(ss: Spreadsheet, sheet: Sheet, rect: GridRect) -> None:
    # Only values go; formatting and validation stay (documented Google behaviour).
    for r in range(rect.row0, min(rect.row1, len(sheet.cells) - 1) + 1):
        cells = sheet.cells[r]
        for c in range(rect.col0, min(rect.col1, len(cells) - 1) + 1):
            cell = cells[c]
            if cell is not None:
                sheet.before_change(r, c)
                cell.value = None
                cell.formula = None
                if cell.is_blank():
                    cells[c] = None
    ss.touch()


def clear_values(ss: Spreadsheet, range_text: str) -> dict[str, Any]:
    sheet, rect = ss.read_rect(range_text)
    _clear_rect(ss, sheet, rect)
    return {"spreadsheetId": ss.id, "clearedRange": ss.echo(sheet, rect)}


def batch_clear(ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
    targets = [ss.read_rect(text) for text in body.get("ranges") or []]
    for sheet, rect in targets:
        _clear_rect(ss, sheet, rect)
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    if targets:
        out["clearedRanges"] = [ss.echo(sheet, rect) for sheet, rect in targets]
    return out
