"""An Orders tab synced in a platform's own layout (``[tabs.orders] preset = "..."``).

A connector (Coupler.io, Zapier, Sheetgo…) writes the platform's export into the
tab as it is: Shopify's ``Name``, ``Lineitem sku``, ``Fulfillment Status``.
:func:`read_synced_orders` reads it through the preset
(:func:`~ops_sheets.domain.importing.read_rows`: status and payment words, dates
and offsets, order-level fields filled down from an order's first line), lays the
lines out in our Orders columns, and parses that as any Orders tab, so ship-by,
late lines, demand and KPIs work as on a tab typed in our columns.

- Rows keep the sheet's row numbers, in the frame (``_row``) and on Problems.
- Columns the team adds to the synced tab under our names (``Forwarder``,
  ``Delivered at``) and the service's own columns (``Ship by``, ``Ops status``)
  are read from the tab as they are; the service writes its columns there, rows
  found by the platform's order and SKU columns.
- A line without a Forwarder is simply not booked for pickup.
- The same SKU twice in one order is one line, quantities added up, as ``import``
  does (our key is Order ID + SKU). Its service cells are not written: two rows
  of the tab hold that key, and the run's summary says it skipped them.
- A preset whose export reports no delivery never makes a line "stuck", unless
  the team keeps a ``Delivered at`` column on the tab
  (:func:`~ops_sheets.domain.fulfilment.rules_from_settings`).
- A sheet drops a row's trailing blank cells: rows are padded to the header's
  width, so a short row is never taken for a line cut short.
"""

from __future__ import annotations

from datetime import datetime

from ops_sheets.config import Settings
from ops_sheets.domain.importing import ORDER_HEADERS, ImportOptions, one_line_per_sku, read_rows
from ops_sheets.errors import ImportFileError
from ops_sheets.sheet.cells import Cell, Grid, normalise_header
from ops_sheets.sheet.presets import Alt, Join, Preset, Source
from ops_sheets.sheet.tables import ORDERS, Problem, Table, layout_for, parse_table


def preset_of(settings: Settings, tab_key: str = "orders") -> str:
    """The tab's ``preset``, or "" for a tab in our own columns."""
    tab = settings.tabs.get(tab_key)
    return tab.preset if tab is not None else ""


def read_synced_orders(grid: Grid, settings: Settings, now: datetime | None) -> Table:
    """The Orders table of a tab laid out as ``[tabs.orders] preset`` says."""
    tab = settings.tabs["orders"]
    title = layout_for(ORDERS, settings).title
    options = ImportOptions(
        tz=settings.tz,
        currency=settings.currency,
        decimal=settings.numbers.decimal,
        values=tab.values,
        now=now,
    )
    # a sheet drops a row's trailing blank cells (memory, Google): a row shorter than
    # the header is not a line cut short, as it would be in a file
    width = max((len(r) for r in grid.rows), default=0)
    padded = [r + [None] * (width - len(r)) if len(r) < width else r for r in grid.rows]
    try:
        read = read_rows(
            padded,
            source=title,
            options=options,
            format=tab.preset,
            header_row=tab.header_row or None,
        )
    except ImportFileError as error:
        table = parse_table(ORDERS, Grid(title, [[]]), settings.tz, settings, now=now)
        table.problems = [
            Problem(
                title,
                error.line,
                error.column or "",
                "",
                "",
                f"the tab is not laid out as preset {tab.preset!r} says: {error}",
                f"check [tabs.orders] preset in {settings.source}, or the connector's columns",
            )
        ]
        return table
    header_index = read.header_line - 1
    sheet_header = grid.rows[header_index]
    ours = {normalise_header(h) for h in ORDER_HEADERS.values()}
    # the team's and the service's columns under our names, read from the tab as typed
    kept = {
        c.header: i
        for c in ORDERS.columns
        for i, h in enumerate(sheet_header)
        if normalise_header(h) == normalise_header(c.header)
        and (normalise_header(c.header) not in ours or c.key not in read.preset.carried)
    }
    carried = [k for k in ORDER_HEADERS if k in read.preset.carried]
    header: list[Cell] = [ORDER_HEADERS[k] for k in carried] + list(kept)
    rows: list[list[Cell]] = [header]
    sheet_rows: list[int] = []
    for line in one_line_per_sku(read, []):
        original = grid.rows[line.line - 1] if line.line - 1 < len(grid.rows) else []
        row: list[Cell] = [line.values.get(k) for k in carried]
        row += [original[i] if i < len(original) else None for i in kept.values()]
        rows.append(row)
        sheet_rows.append(line.line)
    table = parse_table(
        ORDERS, Grid(title, rows), settings.tz, settings, day_first=settings.day_first, now=now
    )
    renumber_rows(table, sheet_rows)
    # a cell the preset could not read (a date not as the platform writes it) is one
    # problem, said in the platform's column: not again as our column left blank
    rejected = {
        (p.row, normalise_header(ORDER_HEADERS[k]))
        for p in read.problems
        for k in _keys_from(read.preset, p.column)
        if k in ORDER_HEADERS
    }
    table.problems = list(read.problems) + [
        p for p in table.problems if (p.row, normalise_header(p.column)) not in rejected
    ]
    table.header_row = read.header_line
    table.headers.update(_key_headers(read.preset, sheet_header))
    return table


def renumber_rows(table: Table, sheet_rows: list[int]) -> None:
    """Rows of the laid-out grid (2, 3…) back to the rows the sheet shows."""

    def sheet_row(r: int | None) -> int | None:
        if r is None or r < 2 or r - 2 >= len(sheet_rows):
            return r
        return sheet_rows[r - 2]

    for frame in {id(table.frame): table.frame, id(table.all_rows): table.all_rows}.values():
        frame["_row"] = [sheet_row(int(r)) for r in frame["_row"]]
    table.problems = [
        Problem(p.tab, sheet_row(p.row), p.column, p.key, p.value, p.problem, p.fix)
        for p in table.problems
    ]


def _keys_from(preset: Preset, column: str) -> list[str]:
    """Our Orders columns the preset fills from this export column."""

    def names(source: Source | None) -> list[str]:
        if isinstance(source, str):
            return [source]
        if isinstance(source, Alt):
            return [n for o in source.options for n in names(o)]
        if isinstance(source, Join):
            return [n for part in source.parts for n in names(part)]
        return []

    wanted = normalise_header(column)
    return [
        key
        for key, source in preset.columns.items()
        if wanted and any(normalise_header(n) == wanted for n in names(source))
    ]


def _key_headers(preset: Preset, header: list[Cell]) -> dict[str, str]:
    """Order ID and SKU as the synced tab names them: writes find rows by these."""
    out: dict[str, str] = {}
    for key in ("order_id", "sku"):
        source = preset.columns.get(key)
        if isinstance(source, str):
            shown = next(
                (str(h) for h in header if normalise_header(h) == normalise_header(source)), None
            )
            if shown is not None:
                out[key] = shown
    return out
