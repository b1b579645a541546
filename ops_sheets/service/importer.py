"""``ops-sheets import FILE...``: a store's orders exports into the Orders tab.

The reading and the merge rules are pure (:mod:`ops_sheets.domain.importing`);
this module does the I/O around them, in this order:

1. every file is read and understood before anything is written: one file that
   cannot be read (wrong encoding, cut short, a layout no preset knows) stops the
   import with exit 2 and a message naming the file, line and column, and the
   workbook is left as it was;
2. one read of the Orders tab (and Stock, whose product names stand in for a SKU
   an export lacks);
3. the plan: lines the tab does not know are appended in our columns; known lines
   change only in the fields the platform owns (Status, Shipped at, Tracking,
   Qty shipped, Payment) and only where the Orders tab has that column; team
   columns (Forwarder, Notes, anything the export lacks) are never touched;
4. one write, rows located by key at the moment of writing, like every job's
   write. Nothing to change means no write at all, so importing the same file
   twice leaves the workbook's bytes as they were.

The same SKU twice in one order (two Shopify line items, e.g. with different
discounts) becomes one Orders line with the quantities added up: the Orders tab
keys a line by Order ID + SKU, and two rows with one key would both be skipped.

Values from a file are written as data: a customer named ``=HYPERLINK(...)``
stays text, as every backend stores every value (DESIGN.md principle 5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from ops_sheets.config import Settings
from ops_sheets.domain.importing import (
    ORDER_HEADERS,
    ExportRead,
    ImportOptions,
    ImportPlan,
    one_line_per_sku,
    plan_import,
    read_export,
)
from ops_sheets.errors import ImportFileError, UsageError
from ops_sheets.service.runner import to_cell
from ops_sheets.sheet.cells import Cell, Grid, key_text, normalise_header
from ops_sheets.sheet.tab_input import locate_header
from ops_sheets.sheet.tables import (
    ORDERS,
    STOCK,
    Problem,
    layout_for,
    parse_table,
)
from ops_sheets.sheet.workbook import open_workbook
from ops_sheets.sheet.workbook.base import Append, ChangeSet, Update, Workbook, WriteReport


@dataclass
class ImportReport:
    """What one ``import`` read, planned and wrote."""

    reads: list[ExportRead]
    plan: ImportPlan
    tab: str
    dry_run: bool
    write: WriteReport | None = None
    #: things worth telling that are not problems (columns the tab lacks, lines joined)
    notices: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [p for r in self.reads for p in r.problems]

    @property
    def exit_code(self) -> int:
        """0 imported, 1 imported with problems (lines or cells left out)."""
        return 1 if self.problems else 0

    def lines(self) -> list[str]:
        """The summary a person reads (and, in a dry run, every change it would make)."""
        out: list[str] = []
        for read in self.reads:
            out.append(
                f"{read.source}: {read.preset.title} ({read.preset.name}), header on line "
                f"{read.header_line}, {len(read.lines)} line(s) read"
            )
            out += [f"  note: {n}" for n in read.notices]
        out += [f"note: {n}" for n in (*self.notices, *self.plan.notices)]
        verb = "would be " if self.dry_run else ""
        out.append(
            f"{self.tab}: {self.plan.added} {verb}added, {self.plan.changed} {verb}changed, "
            f"{self.plan.unchanged} unchanged"
        )
        if self.dry_run:
            out += [f"  add {line.key}" for line in self.plan.appends]
            out += [f"  change {change}" for change in self.plan.changes]
            out.append("dry run: nothing written")
        elif self.write is not None:
            out.append(
                f"wrote {self.write.cells_written} cells, appended {self.write.rows_appended} rows"
            )
            out += [f"skipped {s.tab} {s.key}: {s.reason}" for s in self.write.skipped]
        problems = self.problems
        if problems:
            out.append(f"{len(problems)} problem(s) in the file(s); those values were left out:")
            out += [f"  - {p}" for p in problems[:20]]
            if len(problems) > 20:
                out.append(f"  … and {len(problems) - 20} more")
        return out


def import_files(
    settings: Settings,
    paths: Sequence[str | Path],
    *,
    format: str = "auto",
    dry_run: bool = False,
    now: datetime | None = None,
    workbook: Workbook | None = None,
) -> ImportReport:
    """Import these export files into the Orders tab (see the module docstring).

    Raises :class:`~ops_sheets.errors.ImportFileError` (exit 2) for a file that
    cannot be read, and :class:`~ops_sheets.errors.UsageError` when the workbook
    has no Orders tab to import into.
    """
    now = now or datetime.now(settings.tz)
    data = [(str(p), _read_bytes(Path(p))) for p in paths]
    orders_layout = layout_for(ORDERS, settings)
    tab_settings = settings.tabs.get("orders")
    if tab_settings is not None and tab_settings.preset:
        raise UsageError(
            f"{settings.source}: [tabs.orders] preset = {tab_settings.preset!r}: the Orders tab "
            "is synced in the platform's own layout, and import writes our columns. Let the "
            "connector bring the orders, or remove the preset and import into an Orders tab "
            "in our columns"
        )
    own = workbook is None
    wb = workbook or open_workbook(settings)
    try:
        title = orders_layout.title
        stock_title = layout_for(STOCK, settings).title
        grids = wb.read([title, stock_title])
        grid = grids.get(title)
        if grid is not None:
            grid = locate_header(ORDERS, grid, settings)  # below a title row, perhaps
        if grid is None:
            raise UsageError(
                f"{wb.name}: no tab {title!r} to import into: run `ops-sheets init` to create "
                f'it, or name yours in {settings.source}: [tabs.orders] name = "Your tab"'
            )
        options = ImportOptions(
            tz=settings.tz,
            currency=settings.currency,
            decimal=settings.numbers.decimal,
            values=tab_settings.values if tab_settings is not None else {},
            products=_products(grids.get(stock_title), settings),
            now=now,
        )
        reads = [
            read_export(content, filename=name, options=options, format=format)
            for name, content in data
        ]
        table = parse_table(ORDERS, grid, settings.tz, settings, day_first=settings.day_first)
        if not table.available:
            missing = [p.problem for p in table.problems if p.row in (None, 1)]
            raise UsageError(
                f"{wb.name}: tab {title!r} cannot take imported lines: "
                + "; ".join(missing or ["its headers are not ours"])
            )
        columns = _column_positions(grid, table.headers)
        existing = _existing_rows(grid, columns)
        notices: list[str] = []
        lines = [
            # a field the tab has no column for is not the import's to change
            replace(line, owned=tuple(c for c in line.owned if c in columns))
            for read in reads
            for line in one_line_per_sku(read, notices)
        ]
        plan = plan_import(existing, lines, tz=settings.tz)
        changes = _changes(plan, existing, title, table.headers, notices)
        if grid.header_index:
            changes.header_rows[title] = grid.header_index + 1
        report = ImportReport(reads, plan, title, dry_run, notices=notices)
        if not dry_run and changes:
            report.write = wb.write(changes)
        return report
    finally:
        if own:
            wb.close()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImportFileError(
            f"{path}: no such file: give the path of the export you downloaded",
            filename=str(path),
        ) from None
    except OSError as error:
        raise ImportFileError(
            f"{path}: cannot be read ({error.strerror or error}): check the path and its "
            "permissions",
            filename=str(path),
        ) from None


def _products(grid: Grid | None, settings: Settings) -> dict[str, str]:
    """Product name → SKU from the Stock tab, for exports that name products only."""
    if grid is None:
        return {}
    table = parse_table(STOCK, grid, settings.tz, settings, day_first=settings.day_first)
    if not table.available or "product" not in table.headers:
        return {}
    out: dict[str, str] = {}
    for sku, product in zip(table.frame["sku"], table.frame["product"], strict=True):
        if isinstance(product, str) and product.strip() and sku:
            out.setdefault(product.strip(), str(sku))
    return out


def _column_positions(grid: Grid, headers: Mapping[str, str]) -> dict[str, int]:
    """Column key → 0-based position in the tab, for the columns the tab has."""
    at: dict[str, int] = {}
    for i, h in enumerate(grid.header):
        norm = normalise_header(h)
        for key, header in headers.items():
            if key not in at and norm and normalise_header(header) == norm:
                at[key] = i
    return at


def _existing_rows(grid: Grid, columns: Mapping[str, int]) -> list[dict[str, Cell]]:
    """The tab's data rows as typed (raw cells), by column key, with ``_row``."""
    rows: list[dict[str, Cell]] = []
    start = grid.header_index + 1
    for r, row in enumerate(grid.rows[start:], start=start + 1):
        if not any(v not in (None, "") for v in row):
            continue
        values: dict[str, Cell] = {k: row[i] if i < len(row) else None for k, i in columns.items()}
        values["_row"] = r
        rows.append(values)
    return rows


def _changes(
    plan: ImportPlan,
    existing: Sequence[Mapping[str, Cell]],
    title: str,
    headers: Mapping[str, str],
    notices: list[str],
) -> ChangeSet:
    """The plan as one change set: updates by Order ID + SKU, appends in our columns."""
    changes = ChangeSet()
    anchors = [headers["order_id"], headers["sku"]]
    changes.declare(title, [], anchors)
    left_out: set[str] = set()
    for change in plan.changes:
        row = existing[change.index]
        values: dict[str, Cell] = {}
        for column, (_, after) in change.changes.items():
            if column in headers:
                values[headers[column]] = to_cell(after)
            else:
                left_out.add(column)
        if values:
            key = {anchors[0]: key_text(row.get("order_id")), anchors[1]: key_text(row.get("sku"))}
            changes.updates.append(Update(title, key, values))
    for line in plan.appends:
        cells: dict[str, Cell] = {}
        for column, value in line.values.items():
            if column in headers:
                cells[headers[column]] = to_cell(value)
            elif value not in (None, ""):
                left_out.add(column)
        changes.appends.append(Append(title, cells))
    if left_out:
        names = ", ".join(ORDER_HEADERS[c] for c in sorted(left_out, key=list(ORDER_HEADERS).index))
        notices.append(
            f"{title} has no column for {names}: not imported (add the column to keep them)"
        )
    return changes
