"""``spreadsheets.get`` / ``spreadsheets.create`` bodies, grid data and field masks."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .a1 import GridRect
from .errors import ApiError, bad_request
from .formula import ErrorValue
from .store import Calc, Sheet, Spreadsheet, Store, render_cell
from .values import Cell, json_number

__all__ = [
    "DEFAULT_FORMAT",
    "SPREADSHEET_THEME",
    "apply_field_mask",
    "create_from_body",
    "grid_range_json",
    "spreadsheet_json",
    "with_color_styles",
]

# What every recorded spreadsheets.get returns for a new spreadsheet; the
# emulator returns the same so metadata compares equal.
DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}


def _theme_color(kind: str, **rgb: float) -> dict[str, Any]:
    return {"colorType": kind, "color": {"rgbColor": rgb}}


SPREADSHEET_THEME: dict[str, Any] = {
    "primaryFontFamily": "Arial",
    "themeColors": [
        _theme_color("TEXT"),
        _theme_color("BACKGROUND", red=1, green=1, blue=1),
        _theme_color("ACCENT1", red=0.25882354, green=0.52156866, blue=0.95686275),
        _theme_color("ACCENT2", red=0.91764706, green=0.2627451, blue=0.20784314),
        _theme_color("ACCENT3", red=0.9843137, green=0.7372549, blue=0.015686275),
        _theme_color("ACCENT4", red=0.20392157, green=0.65882355, blue=0.3254902),
        _theme_color("ACCENT5", red=1, green=0.42745098, blue=0.003921569),
        _theme_color("ACCENT6", red=0.27450982, green=0.7411765, blue=0.7764706),
        _theme_color("LINK", red=0.06666667, green=0.33333334, blue=0.8),
    ],
}

DEFAULT_ROW_PIXELS = 21
DEFAULT_COLUMN_PIXELS = 100


def grid_range_json(grid_range: Mapping[str, Any]) -> dict[str, Any]:
    """A GridRange as Google echoes it: ``sheetId`` 0 is left out (proto3
    omits default values) while explicit 0 indexes stay."""
    out = dict(grid_range)
    if out.get("sheetId", 0) == 0:
        out.pop("sheetId", None)
    return out


def _protected_json(protected: Mapping[str, Any], user_email: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(protected))
    out["range"] = grid_range_json(out.get("range", {}))
    # Whoever creates a protected range stays an editor; Google lists them.
    editors = out.get("editors") or {}
    users = list(editors.get("users", []))
    if user_email not in users:
        users.insert(0, user_email)
    out["editors"] = {**editors, "users": users}
    out["requestingUserCanEdit"] = True
    return out


def sheet_json(sheet: Sheet, user_email: str) -> dict[str, Any]:
    out: dict[str, Any] = {"properties": copy.deepcopy(sheet.properties)}
    if sheet.protected_ranges:
        out["protectedRanges"] = [_protected_json(p, user_email) for p in sheet.protected_ranges]
    if sheet.merges:
        out["merges"] = [grid_range_json(m) for m in sheet.merges]
    if "basicFilter" in sheet.decor:
        out["basicFilter"] = copy.deepcopy(sheet.decor["basicFilter"])
    if sheet.decor.get("conditionalFormats"):
        out["conditionalFormats"] = copy.deepcopy(sheet.decor["conditionalFormats"])
    return out


def spreadsheet_json(
    ss: Spreadsheet,
    *,
    include_grid_data: bool = False,
    ranges: Sequence[str] = (),
) -> dict[str, Any]:
    user = ss.store.user_email
    sheets: list[dict[str, Any]]
    if ranges:
        # With ranges, only the sheets they touch are returned (with data if asked).
        picked: dict[int, tuple[Sheet, list[GridRect]]] = {}
        for text in ranges:
            sheet, rect = ss.read_rect(text)
            picked.setdefault(sheet.sheet_id, (sheet, []))[1].append(rect)
        sheets = []
        for sheet in ss.sheets:
            if sheet.sheet_id not in picked:
                continue
            body = sheet_json(sheet, user)
            body["data"] = [_grid_data(ss, sheet, rect) for rect in picked[sheet.sheet_id][1]]
            sheets.append(body)
    else:
        sheets = []
        for sheet in ss.sheets:
            body = sheet_json(sheet, user)
            if include_grid_data:
                body["data"] = [_grid_data(ss, sheet, sheet.full_rect())]
            sheets.append(body)
    return {
        "spreadsheetId": ss.id,
        "properties": {
            **copy.deepcopy(ss.properties),
            "defaultFormat": copy.deepcopy(DEFAULT_FORMAT),
            "spreadsheetTheme": copy.deepcopy(SPREADSHEET_THEME),
        },
        "sheets": sheets,
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{ss.id}/edit",
    }


# ---------------------------------------------------------------- grid data


def with_color_styles(fmt: Mapping[str, Any]) -> dict[str, Any]:
    """Google answers every colour with its ``*ColorStyle`` twin (and back)."""
    out = copy.deepcopy(dict(fmt))
    _pair(out, "backgroundColor", "backgroundColorStyle")
    text = out.get("textFormat")
    if isinstance(text, dict):
        _pair(text, "foregroundColor", "foregroundColorStyle")
    return out


def _pair(obj: dict[str, Any], color_key: str, style_key: str) -> None:
    if color_key in obj and style_key not in obj:
        obj[style_key] = {"rgbColor": copy.deepcopy(obj[color_key])}
    elif style_key in obj and color_key not in obj and "rgbColor" in obj[style_key]:
        obj[color_key] = copy.deepcopy(obj[style_key]["rgbColor"])


def _typed_value(value: Any) -> dict[str, Any]:
    if isinstance(value, ErrorValue):
        return {
            "errorValue": {"type": _ERROR_TYPES.get(str(value), "ERROR"), "message": str(value)}
        }
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, (int, float)):
        return {"numberValue": json_number(value)}
    return {"stringValue": "" if value is None else str(value)}


_ERROR_TYPES = {
    "#DIV/0!": "DIVIDE_BY_ZERO",
    "#VALUE!": "VALUE",
    "#REF!": "REF",
    "#NAME?": "NAME",
    "#NUM!": "NUM",
    "#N/A": "N_A",
}


def _cell_data(calc: Calc, sheet: Sheet, r: int, c: int, cell: Cell) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if cell.has_value:
        out["userEnteredValue"] = (
            {"formulaValue": cell.formula} if cell.formula is not None else _typed_value(cell.value)
        )
        out["effectiveValue"] = _typed_value(calc.value(sheet, r, c))
        out["formattedValue"] = render_cell(calc, sheet, r, c)
    fmt: dict[str, Any] = with_color_styles(cell.fmt) if cell.fmt else {}
    if cell.kind:
        fmt["numberFormat"] = {"type": cell.kind, "pattern": cell.pattern or ""}
    if fmt:
        out["userEnteredFormat"] = fmt
        link = (fmt.get("textFormat") or {}).get("link") or {}
        if link.get("uri"):
            out["hyperlink"] = link["uri"]  # read-only in Google: the cell-level link
    if cell.validation:
        out["dataValidation"] = copy.deepcopy(cell.validation)
    if cell.note:
        out["note"] = cell.note
    return out


def _grid_data(ss: Spreadsheet, sheet: Sheet, rect: GridRect) -> dict[str, Any]:
    calc = ss.calc()
    rows: list[dict[str, Any]] = []
    for r in range(rect.row0, min(rect.row1, len(sheet.cells) - 1) + 1):
        values: list[dict[str, Any]] = []
        for c in range(rect.col0, rect.col1 + 1):
            cell = sheet.get(r, c)
            values.append(_cell_data(calc, sheet, r, c, cell) if cell else {})
        while values and not values[-1]:
            values.pop()
        rows.append({"values": values} if values else {})
    while rows and not rows[-1]:
        rows.pop()
    data: dict[str, Any] = {}
    if rect.row0:
        data["startRow"] = rect.row0
    if rect.col0:
        data["startColumn"] = rect.col0
    if rows:
        data["rowData"] = rows
    data["rowMetadata"] = [{"pixelSize": DEFAULT_ROW_PIXELS} for _ in range(rect.rows)]
    data["columnMetadata"] = [{"pixelSize": DEFAULT_COLUMN_PIXELS} for _ in range(rect.cols)]
    return data


# ---------------------------------------------------------------- field masks


def _parse_mask(mask: str) -> dict[str, Any]:
    """``a.b,c(d,e/f)`` -> ``{"a": {"b": {}}, "c": {"d": {}, "e": {"f": {}}}}``.

    ``/`` is accepted as a path separator too: gspread sends
    ``gridProperties/frozenRowCount`` and Google takes it.
    """
    tree: dict[str, Any] = {}
    pos = 0

    def parse_list(node: dict[str, Any]) -> None:
        nonlocal pos
        while pos < len(mask):
            parse_path(node)
            if pos < len(mask) and mask[pos] == ",":
                pos += 1
                continue
            break

    def parse_path(node: dict[str, Any]) -> None:
        nonlocal pos
        start = pos
        while pos < len(mask) and mask[pos] not in ".,()/":
            pos += 1
        name = mask[start:pos].strip()
        if not name:
            raise bad_request(f"Invalid field selection {mask}")
        child = node.setdefault(name, {})
        if pos < len(mask) and mask[pos] in "./":
            pos += 1
            parse_path(child)
        elif pos < len(mask) and mask[pos] == "(":
            pos += 1
            parse_list(child)
            if pos >= len(mask) or mask[pos] != ")":
                raise bad_request(f"Invalid field selection {mask}")
            pos += 1

    parse_list(tree)
    if pos != len(mask):
        raise bad_request(f"Invalid field selection {mask}")
    return tree


def _filter(value: Any, tree: Mapping[str, Any]) -> Any:
    if not tree or "*" in tree:
        return value
    if isinstance(value, list):
        return [_filter(item, tree) for item in value]
    if isinstance(value, dict):
        return {key: _filter(value[key], sub) for key, sub in tree.items() if key in value}
    return value


def apply_field_mask(body: Mapping[str, Any], mask: str | None) -> Any:
    if not mask or mask.strip() == "*":
        return body
    return _filter(body, _parse_mask(mask.replace(" ", "")))


def field_paths(mask: str) -> list[list[str]]:
    """Leaf paths of a mask: ``gridProperties/rowCount,title`` ->
    ``[["gridProperties", "rowCount"], ["title"]]``."""
    out: list[list[str]] = []

    def walk(node: Mapping[str, Any], prefix: list[str]) -> None:
        for key, sub in node.items():
            if sub:
                walk(sub, [*prefix, key])
            else:
                out.append([*prefix, key])

    walk(_parse_mask(mask.replace(" ", "")), [])
    return out


# ---------------------------------------------------------------- create


def create_from_body(store: Store, body: Mapping[str, Any]) -> Spreadsheet:
    """``POST /v4/spreadsheets``: properties and sheet properties from the body."""
    props = body.get("properties") or {}
    with store.lock:
        spreadsheet_id = body.get("spreadsheetId") or store.new_spreadsheet_id()
        if spreadsheet_id in store.spreadsheets:
            raise ApiError(409, f"Spreadsheet {spreadsheet_id} already exists.")
        ss = Spreadsheet(
            store,
            spreadsheet_id,
            props.get("title", "Untitled spreadsheet"),
            props.get("locale", "en_US"),
            props.get("timeZone", "Etc/GMT"),
        )
        for item in body.get("sheets") or [{}]:
            sp = item.get("properties") or {}
            grid = sp.get("gridProperties") or {}
            sheet = ss.add_sheet(
                sp.get("title"),
                grid.get("rowCount", 1000),
                grid.get("columnCount", 26),
                index=sp.get("index"),
                sheet_id=sp.get("sheetId"),
            )
            for key in ("frozenRowCount", "frozenColumnCount"):
                if grid.get(key):
                    sheet.grid[key] = grid[key]
        store.spreadsheets[ss.id] = ss
        return ss
