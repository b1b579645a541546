"""A tab's cells as people type them, made ready for :func:`~ops_sheets.sheet.tables.parse_table`.

Three passes over a tab's :class:`~ops_sheets.sheet.cells.Grid`, before any cell
is parsed (``runner.parse_tables``); each leaves the cells it does not concern
alone, and none raises on bad data:

1. **Where the headers are** (:func:`locate_header`): ``[tabs.<tab>] header_row``
   when set, else the first of rows 1–10 that holds every required header of the
   tab (a title row above the table). The grid's ``header_index`` says which;
   row numbers stay the sheet's.
2. **Value maps** (:func:`apply_value_maps`): ``[tabs.<tab>.values]`` maps the
   words a source writes onto ours, per column (``status = { fulfilled =
   "SHIPPED" }``), compared ignoring case and runs of spaces, ``_`` and ``-``.
   Mapping the raw cell, before parsing, lets any column's words be mapped
   without each parser knowing about maps.
3. **Numbers as typed** (:func:`read_typed_numbers`): number cells typed as text
   are read with the shop's ``[numbers] decimal`` (``12,50``, ``1.234,50``), a
   currency symbol or ISO code before or after the number ignored
   (:func:`~ops_sheets.sheet.amounts.parse_amount`). A code other than the shop's
   ``currency`` is a problem. Cells this pass cannot read are left as typed, so
   the parser reports them, in this pass's words where they say more.

:func:`value_map_problems` is what ``check`` says about maps onto words a column
does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ops_sheets.config import Settings
from ops_sheets.sheet.amounts import parse_amount
from ops_sheets.sheet.cells import Cell, Grid, normalise_header
from ops_sheets.sheet.tables import (
    CellError,
    Problem,
    TabSpec,
    layout_for,
    parse_bool,
    parse_number,
)

#: Rows searched for the header row when ``header_row`` is not set.
HEADER_SEARCH_ROWS = 10


@dataclass(frozen=True)
class Prepared:
    """A grid ready to parse, and better words for the problems the parser will find."""

    grid: Grid
    #: (sheet row, normalised header) → (problem, fix) to say instead of the parser's
    reworded: Mapping[tuple[int, str], tuple[str, str]]

    def reword(self, problems: Sequence[Problem]) -> list[Problem]:
        out = []
        for p in problems:
            better = self.reworded.get((p.row or 0, normalise_header(p.column)))
            out.append(replace(p, problem=better[0], fix=better[1]) if better else p)
        return out


def prepare_grid(spec: TabSpec, grid: Grid, settings: Settings) -> Prepared:
    """The three passes of the module docstring, in order."""
    grid = locate_header(spec, grid, settings)
    grid = apply_value_maps(spec, grid, settings)
    return read_typed_numbers(spec, grid, settings)


# ---------------------------------------------------------------- header row


def _wanted(spec: TabSpec, settings: Settings | None) -> dict[str, set[str]]:
    """Column key → the header forms that name it (the config's and the standard)."""
    layout = layout_for(spec, settings)
    return {
        c.key: {normalise_header(layout.headers[c.key]), normalise_header(c.header)}
        for c in spec.columns
    }


def required_found(spec: TabSpec, row: Sequence[Cell], settings: Settings | None) -> list[str]:
    """The required columns (keys) whose header is in ``row``."""
    present = {normalise_header(v) for v in row if v not in (None, "")}
    wanted = _wanted(spec, settings)
    return [c.key for c in spec.columns if c.required and wanted[c.key] & present]


def find_header_index(
    spec: TabSpec, rows: Sequence[Sequence[Cell]], settings: Settings | None
) -> int | None:
    """0-based index of the header row: ``header_row`` when configured, else the
    first of rows 1–10 holding every required header; None when none does."""
    tab = settings.tabs.get(spec.key) if settings else None
    if tab is not None and tab.header_row:
        return tab.header_row - 1
    required = [c.key for c in spec.columns if c.required]
    if not required:
        return 0
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if len(required_found(spec, row, settings)) == len(required):
            return i
    return None


def locate_header(spec: TabSpec, grid: Grid, settings: Settings | None) -> Grid:
    """The grid with ``header_index`` set (see :func:`find_header_index`); a tab
    whose headers are nowhere keeps row 1, where the parser reports what is missing."""
    if spec.service_owned:
        return grid
    index = find_header_index(spec, grid.rows, settings)
    if index is None or index == grid.header_index:
        return grid
    return replace(grid, header_index=index)


def _positions(spec: TabSpec, grid: Grid, settings: Settings) -> dict[str, int]:
    """Column key → 0-based position in the header row, for the columns found."""
    wanted = _wanted(spec, settings)
    at: dict[str, int] = {}
    for i, h in enumerate(grid.header):
        norm = normalise_header(h)
        for key, forms in wanted.items():
            if norm and norm in forms and key not in at:
                at[key] = i
    return at


# ---------------------------------------------------------------- value maps

_SEPARATORS = re.compile(r"[\s_\-]+")


def _word(text: object) -> str:
    return _SEPARATORS.sub(" ", str(text)).strip().casefold()


def apply_value_maps(spec: TabSpec, grid: Grid, settings: Settings) -> Grid:
    """Cells whose text is a mapped word, replaced by our word (see the module docstring)."""
    tab = settings.tabs.get(spec.key)
    if tab is None or not tab.values or tab.preset:  # a preset tab maps while it converts
        return grid
    at = _positions(spec, grid, settings)
    maps: dict[int, dict[str, str]] = {}
    for name, mapping in tab.values.items():
        column = spec.column(name)
        if column is not None and column.key in at:
            maps[at[column.key]] = {_word(k): v for k, v in mapping.items()}
    if not maps:
        return grid
    rows = list(grid.rows)
    for r in range(grid.header_index + 1, len(rows)):
        row = rows[r]
        changed: list[Cell] | None = None
        for i, words in maps.items():
            if i < len(row) and isinstance(row[i], str):
                ours = words.get(_word(row[i]))
                if ours is not None:
                    changed = changed or list(row)
                    changed[i] = ours
        if changed is not None:
            rows[r] = changed
    return replace(grid, rows=rows)


def value_map_problems(settings: Settings) -> list[Problem]:
    """Maps onto a word the column does not take (a status that is not ours, a yes/no
    column mapped to "maybe"): one problem each, for ``check``."""
    from ops_sheets.sheet.tables import TAB_SPECS

    problems: list[Problem] = []
    for tab_key, tab in settings.tabs.items():
        spec = TAB_SPECS.get(tab_key)
        if spec is None or tab.preset:  # a preset tab's words are checked as it is read
            continue
        title = layout_for(spec, settings).title
        for name, mapping in tab.values.items():
            column = spec.column(name)
            if column is None:
                continue
            for theirs, ours in mapping.items():
                wrong = ""
                if column.kind == "enum":
                    word = _SEPARATORS.sub(" ", ours).strip().upper()
                    if word not in column.choices:
                        wrong = f"one of: {', '.join(column.choices)}"
                elif column.kind == "bool":
                    try:
                        parse_bool(ours)
                    except CellError:
                        wrong = "yes or no"
                elif column.kind in ("number", "int"):
                    try:
                        parse_number(ours)
                    except CellError:
                        wrong = "a number"
                if wrong:
                    problems.append(
                        Problem(
                            title,
                            None,
                            column.header,
                            "",
                            ours,
                            f'[tabs.{tab_key}.values] {name} maps "{theirs}" to "{ours}", '
                            f"which {column.header} does not take",
                            f"map it to {wrong} (in {settings.source})",
                        )
                    )
    return problems


# ---------------------------------------------------------------- numbers


def read_typed_numbers(spec: TabSpec, grid: Grid, settings: Settings) -> Prepared:
    """Number cells typed as text, read as the shop writes numbers (module docstring)."""
    columns = [c for c in spec.columns if c.kind in ("number", "int") and c.owner == "team"]
    at = _positions(spec, grid, settings)
    where = {at[c.key]: normalise_header(grid.header[at[c.key]]) for c in columns if c.key in at}
    reworded: dict[tuple[int, str], tuple[str, str]] = {}
    if not where:
        return Prepared(grid, reworded)
    decimal = settings.numbers.decimal
    shop = settings.currency.upper()
    rows = list(grid.rows)
    for r in range(grid.header_index + 1, len(rows)):
        row = rows[r]
        changed: list[Cell] | None = None
        for i, header in where.items():
            raw = row[i] if i < len(row) else None
            if not isinstance(raw, str) or not raw.strip():
                continue
            try:
                amount = parse_amount(raw, decimal=decimal)
            except CellError as error:
                # only where it says more than the parser will ("a decimal comma, while
                # the shop's numbers use a point"; not a bare "not a number")
                if error.problem != "not a number" and not _plain_number(raw):
                    reworded[(r + 1, header)] = (error.problem, error.fix)
                continue
            if amount is None:
                continue
            if amount.currency is not None and amount.currency != shop:
                reworded[(r + 1, header)] = (
                    f"an amount in {amount.currency}, while the shop's currency is {shop}",
                    "type it in the shop's currency, or set currency in the config if the "
                    f"shop sells in {amount.currency}",
                )
                continue  # left as typed: the parser reports it, in these words
            changed = changed or list(row)
            changed[i] = amount.value
        if changed is not None:
            rows[r] = changed
    return Prepared(replace(grid, rows=rows), reworded)


def _plain_number(text: str) -> bool:
    """Whether the wave-1 parser reads this text (``1e3``): then it is left to it."""
    try:
        parse_number(text)
    except CellError:
        return False
    return True
