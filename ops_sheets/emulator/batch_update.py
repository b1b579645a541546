"""``spreadsheets.batchUpdate``: the structural requests the project and gspread use.

Supported: addSheet, deleteSheet, updateSheetProperties, updateSpreadsheetProperties,
appendDimension, insertDimension, deleteDimension, setDataValidation,
addProtectedRange, updateProtectedRange, deleteProtectedRange, repeatCell,
updateCells, sortRange, mergeCells, unmergeCells (merges are listed in the
metadata, and a merge keeps only its top-left value, as Google does).  Pure
presentation requests (borders, column widths, conditional formats, filters)
are accepted and ignored: they change nothing a values read can see.  Anything
else is rejected with Google's "Unknown name" error so a test notices.

The whole batch runs in :meth:`Spreadsheet.atomic`, which undoes it if any
request fails, because Google applies a batch atomically.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from .a1 import GridRect
from .errors import ApiError, bad_request
from .metadata import field_paths, grid_range_json, spreadsheet_json
from .store import Sheet, Spreadsheet, merge_range, unmerge_range
from .values import Cell

__all__ = ["batch_update"]

Handler = Callable[[Spreadsheet, Mapping[str, Any]], dict[str, Any] | None]

IGNORED_REQUESTS = frozenset(
    {
        "autoResizeDimensions",
        "updateBorders",
        "updateConditionalFormatRule",
        "deleteConditionalFormatRule",
    }
)


def _grid_rect(ss: Spreadsheet, grid_range: Mapping[str, Any]) -> tuple[Sheet, GridRect]:
    """A GridRange (half-open, sheetId 0 by default) as a sheet and inclusive rectangle."""
    sheet = ss.sheet_by_id(int(grid_range.get("sheetId", 0)))
    r0 = int(grid_range.get("startRowIndex", 0))
    c0 = int(grid_range.get("startColumnIndex", 0))
    r1 = int(grid_range.get("endRowIndex", sheet.row_count))
    c1 = int(grid_range.get("endColumnIndex", sheet.column_count))
    if r1 > sheet.row_count or c1 > sheet.column_count or r0 < 0 or c0 < 0:
        raise bad_request(
            f"Range ({sheet.title}) exceeds grid limits. Max rows: {sheet.row_count},"
            f" max columns: {sheet.column_count}"
        )
    if r0 >= r1 or c0 >= c1:
        raise bad_request("The range is empty: start index must be less than end index.")
    return sheet, GridRect(r0, c0, r1 - 1, c1 - 1)


def _dimension(params: Mapping[str, Any]) -> str:
    dimension = params.get("dimension")
    if dimension not in ("ROWS", "COLUMNS"):
        raise bad_request("dimension must be ROWS or COLUMNS")
    return str(dimension)


def _get_path(obj: Mapping[str, Any], path: list[str]) -> tuple[bool, Any]:
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return False, None
        current = current[key]
    return True, current


def _set_path(obj: dict[str, Any], path: list[str], present: bool, value: Any) -> None:
    """Set (or, when absent in the request, reset) one field: a field named in
    ``fields`` but missing from the body is cleared, as Google does."""
    for key in path[:-1]:
        obj = obj.setdefault(key, {})
    if present and value is not None and value != 0 and value is not False:
        obj[path[-1]] = copy.deepcopy(value)
    else:
        obj.pop(path[-1], None)  # proto3 leaves defaults (0, false, empty) out


def _paths(params: Mapping[str, Any], body: Mapping[str, Any]) -> list[list[str]]:
    fields = params.get("fields")
    if not fields:
        raise bad_request("At least one field must be updated.")
    if fields.strip() == "*":
        return [[key] for key in body]
    return field_paths(fields)


# ---------------------------------------------------------------- sheets


def _add_sheet(ss: Spreadsheet, params: Mapping[str, Any]) -> dict[str, Any]:
    props = params.get("properties") or {}
    grid = props.get("gridProperties") or {}
    sheet = ss.add_sheet(
        props.get("title"),
        int(grid.get("rowCount", 1000)),
        int(grid.get("columnCount", 26)),
        index=props.get("index"),
        sheet_id=props.get("sheetId"),
    )
    for key in ("frozenRowCount", "frozenColumnCount", "hideGridlines"):
        if grid.get(key):
            sheet.grid[key] = grid[key]
    for key in ("hidden", "tabColor", "tabColorStyle", "rightToLeft"):
        if props.get(key):
            sheet.properties[key] = copy.deepcopy(props[key])
    return {"addSheet": {"properties": copy.deepcopy(sheet.properties)}}


def _delete_sheet(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    ss.delete_sheet(int(params.get("sheetId", 0)))


def _update_sheet_properties(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    props = params.get("properties") or {}
    sheet = ss.sheet_by_id(int(props.get("sheetId", 0)))
    for path in _paths(params, props):
        if path == ["gridProperties"]:  # the whole message: expand to its fields
            expanded = [["gridProperties", k] for k in props.get("gridProperties", {})]
        else:
            expanded = [path]
        for leaf in expanded:
            present, value = _get_path(props, leaf)
            _apply_sheet_field(ss, sheet, leaf, present, value)


def _apply_sheet_field(
    ss: Spreadsheet, sheet: Sheet, path: list[str], present: bool, value: Any
) -> None:
    if path == ["sheetId"]:
        return
    if path == ["title"]:
        title = str(value or "")
        if not title.strip():
            raise bad_request("Sheet names must be non-empty.")
        clash = ss.find_sheet(title)
        if clash is not None and clash is not sheet:
            raise bad_request(
                f'A sheet with the name "{title}" already exists. Please enter another name.'
            )
        sheet.properties["title"] = title
    elif path == ["index"]:
        ss.move_sheet(sheet, int(value or 0))
    elif path == ["gridProperties", "rowCount"]:
        sheet.resize(rows=int(value or 0))
    elif path == ["gridProperties", "columnCount"]:
        sheet.resize(cols=int(value or 0))
    elif path[0] in ("sheetType",):
        raise bad_request(f"Cannot update {path[0]}")
    else:
        _set_path(sheet.properties, path, present, value)


def _update_spreadsheet_properties(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    props = params.get("properties") or {}
    for path in _paths(params, props):
        present, value = _get_path(props, path)
        if path[0] in ("defaultFormat", "spreadsheetTheme", "iterativeCalculationSettings"):
            continue  # presentation only
        if path == ["title"] and not value:
            raise bad_request("Spreadsheet title must be non-empty.")
        _set_path(ss.properties, path, present, value)


# ---------------------------------------------------------------- dimensions


def _append_dimension(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    sheet = ss.sheet_by_id(int(params.get("sheetId", 0)))
    length = int(params.get("length", 0))
    if length <= 0:
        raise bad_request("length must be greater than 0")
    if _dimension(params) == "ROWS":
        sheet.grow_to(sheet.row_count + length, 0)
    else:
        sheet.grow_to(0, sheet.column_count + length)


def _dimension_range(ss: Spreadsheet, params: Mapping[str, Any]) -> tuple[Sheet, str, int, int]:
    grid_range = params.get("range") or {}
    sheet = ss.sheet_by_id(int(grid_range.get("sheetId", 0)))
    dimension = _dimension(grid_range)
    start = int(grid_range.get("startIndex", 0))
    limit = sheet.row_count if dimension == "ROWS" else sheet.column_count
    end = int(grid_range.get("endIndex", limit))
    if start < 0 or end <= start:
        raise bad_request("Invalid dimension range: startIndex must be less than endIndex")
    return sheet, dimension, start, end


def _insert_dimension(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    sheet, dimension, start, end = _dimension_range(ss, params)
    if params.get("inheritFromBefore") and start == 0:
        raise bad_request("Cannot inherit from before the first row or column.")
    sheet.insert(dimension, start, end - start)


def _delete_dimension(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    sheet, dimension, start, end = _dimension_range(ss, params)
    sheet.delete(dimension, start, end)


# ---------------------------------------------------------------- cells


def _set_data_validation(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    sheet, rect = _grid_rect(ss, params.get("range") or {})
    rule = params.get("rule")
    for r in range(rect.row0, rect.row1 + 1):
        for c in range(rect.col0, rect.col1 + 1):
            if rule:
                sheet.ensure(r, c).validation = copy.deepcopy(dict(rule))
            else:
                cell = sheet.get(r, c)
                if cell is not None:
                    sheet.before_change(r, c)
                    cell.validation = None


def _apply_cell_data(cell: Cell, data: Mapping[str, Any], paths: list[list[str]]) -> None:
    """Apply the ``fields`` of one CellData (userEnteredValue/Format, validation, note)."""
    for path in paths:
        root = path[0]
        present, value = _get_path(data, path)
        if root == "userEnteredValue":
            _apply_user_value(cell, value if present else None)
        elif root == "userEnteredFormat":
            _apply_format(cell, path[1:], present, value)
        elif root == "dataValidation":
            cell.validation = copy.deepcopy(value) if present and value else None
        elif root == "note":
            cell.note = value if present else None
        elif root in ("textFormatRuns", "hyperlink", "pivotTable", "effectiveFormat"):
            continue  # presentation, or read-only in Google too
        else:
            raise bad_request(f"Unsupported cell field: {'.'.join(path)}")


def _apply_user_value(cell: Cell, value: Mapping[str, Any] | None) -> None:
    cell.value, cell.formula = None, None
    if not value:
        return
    if "formulaValue" in value:
        cell.formula = str(value["formulaValue"])
    elif "stringValue" in value:
        cell.value = str(value["stringValue"]) or None
    elif "numberValue" in value:
        cell.value = value["numberValue"]
    elif "boolValue" in value:
        cell.value = bool(value["boolValue"])


def _check_links(fmt: Any, where: str) -> None:
    """A cell-level link (``textFormat.link``) is a Link message: ``{"uri": "..."}``,
    nothing else (Google answers other names with "Unknown name")."""
    text = fmt.get("textFormat") if isinstance(fmt, Mapping) else None
    link = text.get("link") if isinstance(text, Mapping) else None
    if link is None:
        return
    if not isinstance(link, Mapping):
        raise bad_request(f"Invalid value at '{where}.text_format.link': expected a Link")
    for name in link:
        if name != "uri":
            raise bad_request(
                f'Invalid JSON payload received. Unknown name "{name}" at '
                f"'{where}.text_format.link': Cannot find field."
            )
    if not isinstance(link.get("uri", ""), str):
        raise bad_request(f"Invalid value at '{where}.text_format.link.uri': expected a string")


def _apply_format(cell: Cell, sub: list[str], present: bool, value: Any) -> None:
    if present and value is not None:  # the link inside whatever part is written
        wrapped: Any = value
        for key in reversed(sub):
            wrapped = {key: wrapped}
        _check_links(wrapped, "user_entered_format")
    if not sub:  # the whole userEnteredFormat
        fmt = copy.deepcopy(dict(value)) if present and value else {}
        number_format = fmt.pop("numberFormat", None)
        cell.kind = number_format.get("type") if number_format else None
        cell.pattern = number_format.get("pattern") if number_format else None
        cell.fmt = fmt or None
        return
    if sub[0] == "numberFormat":
        number_format = value if present and isinstance(value, Mapping) else {}
        if len(sub) == 1:
            cell.kind = number_format.get("type")
            cell.pattern = number_format.get("pattern")
        elif sub[1] == "type":
            cell.kind = value if present else None
        elif sub[1] == "pattern":
            cell.pattern = value if present else None
        return
    fmt = cell.fmt or {}
    target = fmt
    trail = []
    for key in sub[:-1]:
        trail.append((target, key))
        target = target.setdefault(key, {})
    if present and value is not None:
        target[sub[-1]] = copy.deepcopy(value)
    else:
        target.pop(sub[-1], None)
        for parent, key in reversed(trail):  # a cleared field leaves no empty message
            if parent.get(key) == {}:
                del parent[key]
    cell.fmt = fmt or None


def _repeat_cell(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    sheet, rect = _grid_rect(ss, params.get("range") or {})
    data = params.get("cell") or {}
    paths = _paths(params, data)
    for r in range(rect.row0, rect.row1 + 1):
        for c in range(rect.col0, rect.col1 + 1):
            _apply_cell_data(sheet.ensure(r, c), data, paths)
    ss.touch()


def _update_cells(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    rows = params.get("rows") or []
    if "range" in params:
        sheet, rect = _grid_rect(ss, params["range"])
        top, left = rect.row0, rect.col0
    else:
        start = params.get("start") or {}
        sheet = ss.sheet_by_id(int(start.get("sheetId", 0)))
        top, left = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        height = len(rows)
        width = max((len(row.get("values") or []) for row in rows), default=0)
        rect = GridRect(top, left, top + max(height, 1) - 1, left + max(width, 1) - 1)
        if rect.row1 >= sheet.row_count or rect.col1 >= sheet.column_count:
            raise bad_request(
                f"Range ({sheet.title}) exceeds grid limits. Max rows: {sheet.row_count},"
                f" max columns: {sheet.column_count}"
            )
    paths = _paths(params, {"userEnteredValue": 1, "userEnteredFormat": 1})
    for r in range(rect.row0, rect.row1 + 1):
        row = rows[r - top] if r - top < len(rows) else {}
        values = row.get("values") or []
        for c in range(rect.col0, rect.col1 + 1):
            # With a range, cells the rows do not cover get the named fields cleared.
            data = values[c - left] if c - left < len(values) else {}
            _apply_cell_data(sheet.ensure(r, c), data or {}, paths)
    ss.touch()


def _sort_range(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    sheet, rect = _grid_rect(ss, params.get("range") or {})
    specs = [
        (int(spec.get("dimensionIndex", 0)), spec.get("sortOrder", "ASCENDING") != "DESCENDING")
        for spec in params.get("sortSpecs") or []
    ]
    if not specs:
        raise bad_request("sortSpecs must not be empty")
    sheet.sort(rect, specs, ss.calc())
    ss.touch()


# ---------------------------------------------------------------- protection


def _without_nulls(obj: Any) -> Any:
    """Google drops JSON nulls (``"description": null``) when reading a request."""
    if isinstance(obj, dict):
        return {k: _without_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_without_nulls(v) for v in obj]
    return obj


def _find_protected(ss: Spreadsheet, protected_id: int) -> tuple[Sheet, dict[str, Any]]:
    for sheet in ss.sheets:
        for protected in sheet.protected_ranges:
            if protected.get("protectedRangeId") == protected_id:
                return sheet, protected
    raise bad_request(f"No protected range with id: {protected_id}")


def _add_protected_range(ss: Spreadsheet, params: Mapping[str, Any]) -> dict[str, Any]:
    protected = _without_nulls(copy.deepcopy(dict(params.get("protectedRange") or {})))
    grid_range = protected.get("range") or {}
    sheet, _ = _grid_rect(ss, grid_range)
    protected_id = protected.get("protectedRangeId") or ss.store.new_object_id()
    stored: dict[str, Any] = {"protectedRangeId": protected_id, "range": grid_range}
    for key in ("description", "warningOnly", "unprotectedRanges"):
        if protected.get(key):
            stored[key] = protected[key]
    if protected.get("editors") and not protected.get("warningOnly"):
        stored["editors"] = protected["editors"]
    sheet.protected_ranges.append(stored)
    # The caller created it, so the caller can edit; the reply lists no other
    # editors (the metadata read then shows the caller, see metadata.py).
    reply = copy.deepcopy(stored)
    reply["range"] = grid_range_json(grid_range)
    reply["requestingUserCanEdit"] = True
    reply.setdefault("editors", {})
    return {"addProtectedRange": {"protectedRange": reply}}


def _update_protected_range(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    change = _without_nulls(dict(params.get("protectedRange") or {}))
    _, protected = _find_protected(ss, int(change.get("protectedRangeId", 0)))
    for path in _paths(params, change):
        present, value = _get_path(change, path)
        _set_path(protected, path, present, value)


def _delete_protected_range(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    sheet, protected = _find_protected(ss, int(params.get("protectedRangeId", 0)))
    sheet.protected_ranges.remove(protected)


def _merge_cells(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    grid_range = dict(params.get("range") or {})
    sheet, rect = _grid_rect(ss, grid_range)
    kind = params.get("mergeType", "MERGE_ALL")
    if kind == "MERGE_ALL":
        pieces = [rect]
    elif kind == "MERGE_COLUMNS":
        pieces = [GridRect(rect.row0, c, rect.row1, c) for c in range(rect.col0, rect.col1 + 1)]
    elif kind == "MERGE_ROWS":
        pieces = [GridRect(r, rect.col0, r, rect.col1) for r in range(rect.row0, rect.row1 + 1)]
    else:
        raise bad_request(f"Invalid value at 'mergeType' ({kind})")
    for piece in pieces:
        merge_range(
            sheet,
            {
                "sheetId": sheet.sheet_id,
                "startRowIndex": piece.row0,
                "endRowIndex": piece.row1 + 1,
                "startColumnIndex": piece.col0,
                "endColumnIndex": piece.col1 + 1,
            },
        )


def _unmerge_cells(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    grid_range = dict(params.get("range") or {})
    sheet, rect = _grid_rect(ss, grid_range)
    unmerge_range(
        sheet,
        {
            "startRowIndex": rect.row0,
            "endRowIndex": rect.row1 + 1,
            "startColumnIndex": rect.col0,
            "endColumnIndex": rect.col1 + 1,
        },
    )


def _set_basic_filter(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    """The tab's one filter; a range of just a sheetId means the whole grid, which
    Google reports back with every index filled in (recorded: test_basic_filters)."""
    filt = copy.deepcopy(dict(params.get("filter") or {}))
    grid_range = filt.get("range") or {}
    sheet, rect = _grid_rect(ss, grid_range)
    stored: dict[str, Any] = {
        "startRowIndex": rect.row0,
        "endRowIndex": rect.row1 + 1,
        "startColumnIndex": rect.col0,
        "endColumnIndex": rect.col1 + 1,
    }
    if sheet.sheet_id:
        stored = {"sheetId": sheet.sheet_id, **stored}
    filt["range"] = stored
    sheet.before_decor()
    sheet.decor["basicFilter"] = filt


def _clear_basic_filter(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    sheet = ss.sheet_by_id(int(params.get("sheetId", 0)))
    sheet.before_decor()
    sheet.decor.pop("basicFilter", None)


def _add_conditional_format_rule(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    rule = copy.deepcopy(dict(params.get("rule") or {}))
    ranges = rule.get("ranges") or []
    if not ranges:
        raise bad_request("Conditional format rule must have at least one range.")
    if "booleanRule" not in rule and "gradientRule" not in rule:
        raise bad_request("Conditional format rule must have a booleanRule or a gradientRule.")
    sheet, _ = _grid_rect(ss, ranges[0])
    for grid_range in ranges[1:]:
        _grid_rect(ss, grid_range)
    rules = sheet.decor.setdefault("conditionalFormats", [])
    index = int(params.get("index", 0))
    if not 0 <= index <= len(rules):
        raise bad_request(f"Invalid index {index}: the sheet has {len(rules)} rules.")
    sheet.before_decor()
    rules = sheet.decor.setdefault("conditionalFormats", [])
    rules.insert(index, rule)


def _update_dimension_properties(ss: Spreadsheet, params: Mapping[str, Any]) -> None:
    """Column widths and row heights (pixelSize), kept per index; hiding is not modelled."""
    sheet, dimension, start, end = _dimension_range(ss, params)
    props = params.get("properties") or {}
    paths = _paths(params, props)
    key = "columnMetadata" if dimension == "COLUMNS" else "rowMetadata"
    sheet.before_decor()
    metadata = sheet.decor.setdefault(key, {})
    for i in range(start, end):
        entry = metadata.setdefault(i, {})
        for path in paths:
            present, value = _get_path(props, path)
            _set_path(entry, path, present, value)


HANDLERS: dict[str, Handler] = {
    "setBasicFilter": _set_basic_filter,
    "clearBasicFilter": _clear_basic_filter,
    "addConditionalFormatRule": _add_conditional_format_rule,
    "updateDimensionProperties": _update_dimension_properties,
    "addSheet": _add_sheet,
    "deleteSheet": _delete_sheet,
    "updateSheetProperties": _update_sheet_properties,
    "updateSpreadsheetProperties": _update_spreadsheet_properties,
    "appendDimension": _append_dimension,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "setDataValidation": _set_data_validation,
    "repeatCell": _repeat_cell,
    "updateCells": _update_cells,
    "sortRange": _sort_range,
    "addProtectedRange": _add_protected_range,
    "updateProtectedRange": _update_protected_range,
    "deleteProtectedRange": _delete_protected_range,
    "mergeCells": _merge_cells,
    "unmergeCells": _unmerge_cells,
}


def batch_update(ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
    requests = body.get("requests")
    if not requests:
        raise bad_request("Must specify at least one request.")
    replies: list[dict[str, Any]] = []
    for i, request in enumerate(requests):
        if not isinstance(request, Mapping) or len(request) != 1:
            raise bad_request(f"Invalid requests[{i}]: exactly one request kind must be set.")
        ((kind, params),) = request.items()
        if kind in IGNORED_REQUESTS:
            replies.append({})
            continue
        handler = HANDLERS.get(kind)
        if handler is None:
            raise bad_request(
                f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]':"
                " Cannot find field."
            )
        try:
            reply = handler(ss, params or {})
        except ApiError as error:
            if error.code == 400:
                raise bad_request(f"Invalid requests[{i}].{kind}: {error}") from None
            raise
        replies.append(reply or {})
    ss.touch()
    out: dict[str, Any] = {"spreadsheetId": ss.id, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        out["updatedSpreadsheet"] = spreadsheet_json(
            ss,
            include_grid_data=bool(body.get("responseIncludeGridData")),
            ranges=body.get("responseRanges") or (),
        )
    return out
