"""Service column looks on an openpyxl worksheet (see :mod:`ops_sheets.sheet.looks`).

Used on the openpyxl path of the xlsx backend: when a write creates a tab or a
column, or meets a service column whose header is not dressed yet (found without
its look), the column gets its width, number format, header fill and note and
status colours; the tab a frozen header row and a filter when it has none; a
team Status column its dropdown when no validation covers it. A column already
dressed is left alone, so a run changes nothing the team changed since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openpyxl.cell.cell import MergedCell
from openpyxl.comments import Comment
from openpyxl.formatting.rule import Rule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.differential import DifferentialStyle
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ops_sheets.sheet.cells import normalise_header
from ops_sheets.sheet.looks import HEADER_FILL, HEADER_NOTE, HEADER_TEXT, STATUS_RULES, ColumnLook

#: the last row Excel has: formats and rules cover rows appended later too
LAST_ROW = 1048576


def columns_of(
    header: Iterable[object], looks: Mapping[str, ColumnLook]
) -> dict[int, tuple[str, ColumnLook]]:
    """1-based column -> (header, look) for the looked-after headers of a header row."""
    wanted = {normalise_header(h): (h, look) for h, look in looks.items()}
    out: dict[int, tuple[str, ColumnLook]] = {}
    seen: set[str] = set()
    for i, h in enumerate(header, start=1):
        norm = normalise_header(h)
        if norm in wanted and norm not in seen:
            seen.add(norm)
            out[i] = wanted[norm]
    return out


def is_dressed(cell: Any) -> bool:
    """Whether a header cell already has the service's look (its fill)."""
    fill = cell.fill
    colour = getattr(getattr(fill, "fgColor", None), "rgb", None)
    return isinstance(colour, str) and colour.upper().endswith(HEADER_FILL)


def dress(ws: Any, looks: Mapping[str, ColumnLook]) -> None:
    """Give the tab's looked-after columns their look where they lack it."""
    header = [c.value for c in ws[1]] if ws.max_row >= 1 else []
    columns = columns_of(header, looks)
    dressed_any = False
    for col, (_, look) in columns.items():
        if look.choices:
            _dropdown(ws, col, look.choices)
        head = ws.cell(row=1, column=col)
        if not look.service or isinstance(head, MergedCell) or is_dressed(head):
            continue
        _dress_column(ws, col, look)
        dressed_any = True
    if dressed_any or any(not look.service for _, look in columns.values()):
        if ws.freeze_panes is None:
            ws.freeze_panes = "A2"
        if not ws.auto_filter.ref and not ws.tables:
            width = max((i for i, h in enumerate(header, 1) if h not in (None, "")), default=1)
            ws.auto_filter.ref = f"A1:{get_column_letter(width)}{max(ws.max_row, 2)}"


def _dress_column(ws: Any, col: int, look: ColumnLook) -> None:
    letter = get_column_letter(col)
    head = ws.cell(row=1, column=col)
    head.fill = PatternFill("solid", fgColor=HEADER_FILL)
    head.font = Font(bold=True, color=HEADER_TEXT)
    head.alignment = Alignment(vertical="center")
    head.comment = Comment(HEADER_NOTE, "ops-sheets", width=220, height=60)
    dim = ws.column_dimensions[letter]
    if look.width:
        dim.width = look.width
    if look.number_format:
        dim.number_format = look.number_format
    if look.wrap:
        dim.alignment = Alignment(wrap_text=True, vertical="top")
    if look.number_format or look.wrap:
        for row in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            for cell in row:
                if look.number_format and cell.number_format == "General":
                    cell.number_format = look.number_format
                if look.wrap:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
    if look.statuses or look.centred:
        # a status word (or a rank) centred: clear of what is next to it
        dim.alignment = Alignment(horizontal="center")
        for row in ws.iter_rows(min_row=2, min_col=col, max_col=col):
            for cell in row:
                cell.alignment = Alignment(horizontal="center")
    if look.statuses:
        target = f"{letter}2:{letter}{LAST_ROW}"
        for how, word, (fill, text) in STATUS_RULES:
            ws.conditional_formatting.add(target, _status_rule(how, word, fill, text, letter))


def _status_rule(how: str, word: str, fill: str, text: str, letter: str) -> Rule:
    style = DifferentialStyle(
        font=Font(color=text, bold=True), fill=PatternFill(bgColor=fill, fill_type="solid")
    )
    cell = f"{letter}2"
    if how == "contains":
        return Rule(
            type="containsText",
            operator="containsText",
            text=word,
            dxf=style,
            formula=[f'NOT(ISERROR(SEARCH("{word}",{cell})))'],
        )
    if how == "begins":
        return Rule(
            type="beginsWith",
            operator="beginsWith",
            text=word,
            dxf=style,
            formula=[f'LEFT({cell},{len(word)})="{word}"'],
        )
    return Rule(type="cellIs", operator="equal", dxf=style, formula=[f'"{word}"'])


def _dropdown(ws: Any, col: int, choices: tuple[str, ...]) -> None:
    """A list validation on a team Status column, unless one covers it already."""
    letter = get_column_letter(col)
    for dv in ws.data_validations.dataValidation:
        if any(r.min_col <= col <= r.max_col for r in dv.sqref.ranges):
            return
    dv = DataValidation(
        type="list",
        formula1='"' + ",".join(choices) + '"',
        allow_blank=True,
        showErrorMessage=False,  # a word the list lacks is reported on Problems, not refused
    )
    dv.add(f"{letter}2:{letter}{LAST_ROW}")
    ws.add_data_validation(dv)
