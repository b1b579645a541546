"""A Stock tab synced from Shopify's inventory export (``[tabs.stock] preset = "shopify"``).

A connector (or a paste) writes Shopify's inventory CSV into the tab as it is
(:mod:`ops_sheets.sheet.presets.shopify_inventory` says what it looks like and
where that was learnt). :func:`read_synced_stock` reads it as the Stock tab:

- ``SKU`` is Shopify's; ``On hand`` is Shopify's On hand (else Available) summed
  over the locations; ``Product`` is the product's Title and its option values
  ("Linen Apron - Sage"), unless the team keeps a ``Product`` column.
- Columns the team adds under our names (``Supplier``, ``Reorder point``,
  ``Lead time days``, ``Pack size``, ``Unit cost``…) and the service's own columns
  are read from the tab as typed; the service writes its columns there, rows
  found by ``SKU``. In the row-per-location shape a SKU has a row per location:
  the team's cells are taken from the first of its rows that has them, and its
  service cells are not written (two rows hold that key; the run's summary says
  it skipped them). Exporting "Only Available quantities" gives a row per SKU.
- A row with no SKU cannot be a Stock line: it is a Problems row, and its units
  are not counted.
- Rows keep the sheet's row numbers, in the frame and on Problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ops_sheets.config import Settings
from ops_sheets.service.synced_orders import renumber_rows
from ops_sheets.sheet.cells import Cell, Grid, normalise_header
from ops_sheets.sheet.presets import shopify_inventory as layout
from ops_sheets.sheet.tables import STOCK, Problem, Table, layout_for, parse_table

#: how far down the header row is looked for when ``header_row`` is not set
_HEADER_SEARCH_ROWS = 10
_IDENTITY = {normalise_header(h) for h in layout.IDENTITY_HEADERS}
_ROW_SHAPE = {normalise_header(h) for h in layout.ROW_SHAPE_HEADERS}
_OURS = {normalise_header(c.header): c.key for c in STOCK.columns}
#: our columns the export itself fills: never read from a team column of that name
_FROM_EXPORT = ("sku", "on_hand")


@dataclass
class _Line:
    """One SKU as the export gives it, before it is laid out in our columns."""

    sku: str
    row: int  # the sheet's row number of the SKU's first row
    product: str
    on_hand: float = 0.0
    kept: dict[str, Cell] = field(default_factory=dict)


def read_synced_stock(grid: Grid, settings: Settings, now: datetime | None) -> Table:
    """The Stock table of a tab holding Shopify's inventory export."""
    tab = settings.tabs["stock"]
    title = layout_for(STOCK, settings).title
    header_index = _header_index(grid, tab.header_row)
    if header_index is None:
        return _unreadable(grid, settings, now, tab.header_row)
    header = grid.rows[header_index]
    # a CSV pasted as it was saved keeps its UTF-8 byte order mark on the first header
    norm = [normalise_header(str(h or "").lstrip("\ufeff")) for h in header]
    col = {n: i for i, n in reversed(list(enumerate(norm))) if n}
    problems: list[Problem] = []

    quantity_column = next(
        (col[n] for n in map(normalise_header, layout.ON_HAND_HEADERS) if n in col), None
    )
    by_location = normalise_header(layout.LOCATION_HEADER) in col and quantity_column is not None
    if by_location:
        assert quantity_column is not None
        quantity_columns = [quantity_column]
    else:
        quantity_columns = _location_columns(norm)
    # the team's and the service's columns under our names, read from the tab as typed
    kept = {
        _OURS[n]: i
        for i, n in enumerate(norm)
        if n in _OURS
        and _OURS[n] not in _FROM_EXPORT
        and i not in quantity_columns
        and not (by_location and n in _ROW_SHAPE)
    }

    lines: dict[str, _Line] = {}
    for index in range(header_index + 1, len(grid.rows)):
        cells = grid.rows[index]
        row = index + 1

        def at(i: int | None, cells: list[Cell] = cells) -> Cell:
            return cells[i] if i is not None and i < len(cells) else None

        if not any(c not in (None, "") for c in cells):
            continue
        sku = _text(at(col.get("sku")))
        if not sku:
            shown = _text(at(col.get("title"))) or _text(at(col.get("handle")))
            problems.append(
                Problem(
                    title,
                    row,
                    str(header[col["sku"]]),
                    "",
                    shown,
                    f"no SKU on this row ({shown or 'a variant without a title'}): its "
                    "stock is not counted",
                    "give the variant a SKU in Shopify (Products → the product → the "
                    "variant → SKU); the connector brings it on its next sync",
                )
            )
            continue
        line = lines.get(sku)
        if line is None:
            line = lines[sku] = _Line(sku, row, _product_name(cells, col))
        for i in quantity_columns:
            value = at(i)
            quantity = _quantity(value)
            if quantity is None:
                problems.append(
                    Problem(
                        title,
                        row,
                        str(header[i]),
                        sku,
                        _text(value),
                        "not a whole number of units (nor 'Not stocked')",
                        "the connector's value is changed by hand: sync the tab again",
                    )
                )
                continue
            line.on_hand += quantity
        for key, i in kept.items():
            value = at(i)
            if line.kept.get(key) in (None, "") and value not in (None, ""):
                line.kept[key] = value

    kept_keys = list(kept)
    ours: list[Cell] = ["SKU", "Product", "On hand"] + [
        STOCK.column(k).header  # type: ignore[union-attr]
        for k in kept_keys
        if k != "product"
    ]
    rows: list[list[Cell]] = [ours]
    sheet_rows: list[int] = []
    for line in lines.values():
        product = line.kept.get("product") or line.product
        rows.append(
            [line.sku, product, line.on_hand]
            + [line.kept.get(k) for k in kept_keys if k != "product"]
        )
        sheet_rows.append(line.row)
    table = parse_table(
        STOCK, Grid(title, rows), settings.tz, settings, day_first=settings.day_first, now=now
    )
    renumber_rows(table, sheet_rows)
    table.problems = problems + table.problems
    table.header_row = header_index + 1
    table.headers = {"sku": str(header[col["sku"]])} | {k: str(header[i]) for k, i in kept.items()}
    return table


def _header_index(grid: Grid, header_row: int) -> int | None:
    """0-based index of the export's header row: ``header_row``, else the first of
    rows 1-10 holding every :data:`~layout.SIGNATURE` header."""
    wanted = {normalise_header(h) for h in layout.SIGNATURE}
    candidates = [header_row - 1] if header_row else range(min(_HEADER_SEARCH_ROWS, len(grid.rows)))
    for i in candidates:
        found = (
            {normalise_header(str(h or "").lstrip("\ufeff")) for h in grid.rows[i]}
            if (0 <= i < len(grid.rows))
            else set()
        )
        if wanted <= found:
            return i
    return None


def _location_columns(norm: list[str]) -> list[int]:
    """The column-per-location shape: the columns right after the identifying ones,
    up to the first blank header or a header of ours (the team's columns)."""
    last_identity = max((i for i, n in enumerate(norm) if n in _IDENTITY), default=-1)
    out: list[int] = []
    for i in range(last_identity + 1, len(norm)):
        if not norm[i] or norm[i] in _OURS:
            break
        out.append(i)
    return out


def _product_name(cells: list[Cell], col: dict[str, int]) -> str:
    """Title, then the option values that name the variant ("Default Title" names none)."""

    def text(header: str) -> str:
        i = col.get(normalise_header(header))
        return _text(cells[i]) if i is not None and i < len(cells) else ""

    options = [text(f"Option{n} Value") for n in (1, 2, 3)]
    options = [o for o in options if o and o.casefold() != "default title"]
    return " - ".join([p for p in (text("Title") or text("Handle"),) if p] + options)


def _quantity(value: Cell) -> float | None:
    """Units at one location: blank and "Not stocked" are none; None = not a number."""
    if value is None or isinstance(value, bool):
        return 0.0 if value is None else None
    if isinstance(value, int | float):
        return float(value) if float(value).is_integer() else None
    text = _text(value)
    if not text or text.casefold() == layout.NOT_STOCKED:
        return 0.0
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return None
    return number if number.is_integer() else None


def _text(value: Cell) -> str:
    return "" if value is None else str(value).strip()


def _unreadable(grid: Grid, settings: Settings, now: datetime | None, header_row: int) -> Table:
    """No header row with Shopify's columns: the Stock tab cannot be read (nothing
    computed from it is written), and the Problems row says what was looked for."""
    title = layout_for(STOCK, settings).title
    table = parse_table(STOCK, Grid(title, [[]]), settings.tz, settings, now=now)
    where = f"row {header_row}" if header_row else f"rows 1-{_HEADER_SEARCH_ROWS}"
    table.problems = [
        Problem(
            title,
            header_row or None,
            "",
            "",
            "",
            f"the tab is not laid out as Shopify's inventory export: no header with "
            f"{' and '.join(layout.SIGNATURE)} in {where}",
            f'check [tabs.stock] preset = "shopify" in {settings.source}, or the '
            "connector's columns (Shopify: Products → Inventory → Export)",
        )
    ]
    return table
