"""Reading a shop platform's orders export, and planning what it adds to the Orders tab.

Pure: bytes or rows in, lines and a plan out; no workbook, no clock, no network.

Two steps, for ``ops-sheets import`` and for a tab synced in a platform's layout
(``[tabs.orders] preset = "..."``):

1. :func:`read_export` (a file's bytes) or :func:`read_rows` (a tab's rows) finds
   the layout (by header, among the presets ``format`` allows), the header row
   (within the first 10 rows), drops what the platform adds around the table
   (eBay's preamble, footer and order summary rows), fills an order's first-row
   fields down to its other rows, and turns every row into an
   :class:`ImportedLine` in our Orders columns, with our Status and Payment words,
   numbers and dates parsed (dates in the shop's time zone). A bad cell is a
   :class:`~ops_sheets.sheet.tables.Problem` (the file's name as ``tab``, the physical
   line as ``row``, the header as ``column``) and a blank value; a line without an
   order ID or a SKU is a problem and is left out. A file that cannot be read at
   all raises :class:`~ops_sheets.errors.ImportFileError` naming the file, line
   and column and saying how to fix it.
2. :func:`plan_import` compares those lines with the Orders tab's rows: lines it
   does not know are appended; known lines change only in the fields the platform
   owns (:data:`PLATFORM_FIELDS`, where the export has them), never in what the team
   typed. Importing the same file again plans nothing.

Lines are matched by :class:`LineKey`: order ID + SKU + which of that SKU's lines
in the order it is (1, 2…: the same SKU twice in one order is two lines), or by
the platform's own line id (``line_id``) where the Orders tab keeps one.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from ops_sheets.errors import ImportFileError
from ops_sheets.sheet.amounts import parse_amount
from ops_sheets.sheet.cells import Cell, key_text
from ops_sheets.sheet.cells import normalise_header as _normalise_header
from ops_sheets.sheet.presets import (
    PRESETS,
    Alt,
    Join,
    Preset,
    Source,
    platform_label,
    presets_for,
)
from ops_sheets.sheet.tables import (
    ORDER_STATUSES,
    CellError,
    Problem,
    check_date_window,
    date_window,
    parse_datetime,
)

#: Our Orders columns an import can fill: key → header as the Orders tab shows it.
ORDER_HEADERS: dict[str, str] = {
    "order_id": "Order ID",
    "order_date": "Order date",
    "customer": "Customer",
    "email": "Email",
    "address": "Address",
    "city": "City",
    "state": "State",
    "postcode": "Postcode",
    "country": "Country",
    "sku": "SKU",
    "qty": "Qty",
    "unit_price": "Unit price",
    "status": "Status",
    "tracking": "Tracking",
    "shipped_at": "Shipped at",
    "delivered_at": "Delivered at",
    "payment": "Payment",
    "qty_shipped": "Qty shipped",
}
#: The fields a platform owns on a line it already knows: an import changes these
#: (where its export has them) and nothing else.
PLATFORM_FIELDS: tuple[str, ...] = ("status", "shipped_at", "tracking", "qty_shipped", "payment")
PAYMENTS: tuple[str, ...] = ("PAID", "PENDING", "PARTIALLY PAID", "REFUNDED", "VOIDED")
#: Rows searched for the header row.
HEADER_SEARCH_ROWS = 10

#: Every row looks its headers up by name: normalise each name once.
normalise_header = lru_cache(maxsize=8192)(_normalise_header)

_TEXT_COLUMNS = ("customer", "email", "address", "city", "state", "postcode", "country", "tracking")
_DATE_COLUMNS = ("order_date", "shipped_at", "delivered_at")
_SHIPPED = ("SHIPPED", "DELIVERED")


@dataclass(frozen=True)
class ImportOptions:
    """The shop's settings an import needs (from the config, passed in)."""

    tz: ZoneInfo  # the shop's time zone: dates without an offset are in it
    currency: str  # the shop's ISO currency: a price in another is a problem
    decimal: str = "."  # [numbers] decimal, for exports that follow the store's locale
    #: [tabs.orders.values]: column (key or header) → {platform word → our word};
    #: ``status`` and ``payment`` map the platform's words, ``sku`` product names
    #: or platform SKUs, any other column its text
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: product name → SKU (e.g. the Stock tab's Product column), for exports that
    #: name products without a SKU
    products: Mapping[str, str] = field(default_factory=dict)
    #: the job's ``now``: dates outside 2000-01-01 … now + 2 years are problems
    now: datetime | None = None


@dataclass(frozen=True, order=True)
class LineKey:
    """Which order line: order ID, SKU, and which of that SKU's lines in the order."""

    order_id: str
    sku: str
    occurrence: int = 1

    def __str__(self) -> str:
        if not self.sku:
            return self.order_id
        return f"{self.order_id} / {self.sku}" + (
            f" (line {self.occurrence} of that SKU)" if self.occurrence > 1 else ""
        )


@dataclass(frozen=True)
class ImportedLine:
    """One order line of an export, in our Orders columns."""

    source: str  # the file (or tab) it was read from
    line: int  # the physical line (or row) where its record starts
    preset: str
    order_id: str
    sku: str  # "" for an order-level row (a file with one row per order)
    occurrence: int  # 1 for the first line of this SKU in this order, 2 for the next…
    line_id: str | None  # the platform's own id of the line, when it has one
    #: our column key → value, for every column the export carries (None = blank)
    values: Mapping[str, Cell]
    #: the :data:`PLATFORM_FIELDS` this export carries: the only ones an import
    #: changes on a known line
    owned: tuple[str, ...]

    @property
    def key(self) -> LineKey:
        return LineKey(self.order_id, self.sku, self.occurrence)

    @property
    def order_level(self) -> bool:
        """A row that stands for a whole order: it updates the order's lines."""
        return self.sku == ""

    def as_row(self) -> dict[str, Cell]:
        """The line as an Orders row: header → value, in the tab's column order."""
        return {ORDER_HEADERS[k]: self.values[k] for k in ORDER_HEADERS if k in self.values}


@dataclass(frozen=True)
class ExportRead:
    """What one export file (or synced tab) holds, in our columns."""

    source: str
    preset: Preset
    header_line: int
    lines: tuple[ImportedLine, ...]
    problems: tuple[Problem, ...]
    #: things worth telling that are not problems ("read as Windows-1252",
    #: "left out 2 lines fulfilled by Amazon")
    notices: tuple[str, ...]


# ---------------------------------------------------------------- reading bytes


def decode_export(data: bytes, *, filename: str) -> tuple[str, list[str]]:
    """The text of an export file, and notices about how it was decoded.

    UTF-8 with or without a byte order mark; UTF-16 with one (Excel's "Unicode
    text"); otherwise Windows-1252 (older European and Amazon files), said in a
    notice because names may then be wrong.
    """
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            f"{filename}: this is an Excel workbook (or another zip file), not a CSV export: "
            'download the platform\'s CSV again, or open it and save it as "CSV UTF-8"',
            filename=filename,
        )
    notices: list[str] = []
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as error:
            line, column = _position(data, error.start)
            raise ImportFileError(
                f"{filename}, line {line}, character {column}: the file says it is UTF-16 "
                'but is not valid UTF-16 there; save it again as "CSV UTF-8"',
                filename=filename,
                line=line,
            ) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line, column = _position(data, error.start)
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                raise ImportFileError(
                    f"{filename}, line {line}, character {column}: byte "
                    f"0x{data[error.start]:02X} is neither UTF-8 nor Windows-1252 text, so this "
                    "is not a text export (or it is damaged): download the CSV again, or open "
                    'it and save it as "CSV UTF-8"',
                    filename=filename,
                    line=line,
                ) from None
            notices.append(
                f"{filename} is not UTF-8 (first at line {line}, character {column}): read as "
                "Windows-1252. If names look wrong (Ã© for é), save the file as CSV UTF-8 "
                "and import it again"
            )
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ImportFileError(
            f"{filename}, line {line}: holds NUL characters, so it is not a text export "
            '(a spreadsheet file, or UTF-16 without its byte order mark): save it as "CSV UTF-8"',
            filename=filename,
            line=line,
        )
    return text, notices


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character of a byte offset."""
    line_start = max(data.rfind(b"\n", 0, offset), data.rfind(b"\r", 0, offset)) + 1
    line = data.count(b"\n", 0, offset) + 1
    if b"\n" not in data[:offset]:
        line = data.count(b"\r", 0, offset) + 1
    return line, offset - line_start + 1


def _records(
    text: str, delimiter: str, quoting: bool, filename: str
) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the record starts, its fields) for each CSV/TSV record."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=quoting,
    )
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _quote_error(text, start, delimiter, filename, str(error)) from None
        yield start, fields
        start = reader.line_num + 1


def _quote_error(text: str, line: int, delimiter: str, filename: str, why: str) -> ImportFileError:
    """Where a quoting mistake is: the field (1-based) on the record starting at ``line``."""
    # physical lines as the csv module counts them: \r\n, \r or \n
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    record = text[starts[line - 1] :] if line - 1 < len(starts) else ""
    field_no, in_quotes, at_start, opened_at, i = 1, False, True, 0, 0
    problem = "a quoted value is never closed"
    while i < len(record):
        ch = record[i]
        if in_quotes:
            if ch == '"':
                if record[i + 1 : i + 2] == '"':
                    i += 1
                else:
                    in_quotes = False
                    nxt = record[i + 1 : i + 2]
                    if nxt not in (delimiter, "\r", "\n", ""):
                        problem = "a quote inside a value is not doubled"
                        break
        elif ch == '"' and at_start:
            in_quotes, opened_at = True, field_no
        elif ch == delimiter:
            field_no += 1
        elif ch in "\r\n":
            break
        at_start = ch == delimiter
        i += 1
    column = opened_at if problem.startswith("a quoted value") and opened_at else field_no
    if "field larger than field limit" in why:
        problem = "a value longer than 131,072 characters (a quote that is never closed?)"
    return ImportFileError(
        f"{filename}, line {line}, column {column}: {problem} "
        '(the file may be cut short, or a value holds a stray "): download the export '
        'again; if it repeats, fix that value so every " inside it is doubled ("")',
        filename=filename,
        line=line,
        column=str(column),
    )


# ---------------------------------------------------------------- finding the layout


def _header_set(fields: Sequence[Cell]) -> set[str]:
    return {normalise_header(f) for f in fields if f is not None and str(f).strip()}


def _fits(preset: Preset, headers: set[str]) -> bool:
    return all(normalise_header(h) in headers for h in preset.signature)


def _known_headers(preset: Preset) -> set[str]:
    names: set[str] = set(preset.signature) | set(preset.order_fields)

    def walk(source: Source | None) -> None:
        if isinstance(source, str):
            names.add(source)
        elif isinstance(source, Alt):
            for option in source.options:
                walk(option)
        elif isinstance(source, Join):
            for part in source.parts:
                walk(part)

    for source in (*preset.columns.values(), preset.product_name, preset.line_id):
        walk(source)
    walk(preset.currency)
    walk(preset.order_group)
    return {normalise_header(n) for n in names}


def _best(presets: Sequence[Preset], headers: set[str]) -> Preset | None:
    """The fitting preset that knows most of the file's headers (the most specific)."""
    fitting = [p for p in presets if _fits(p, headers)]
    if not fitting:
        return None
    return max(fitting, key=lambda p: (len(p.signature), len(_known_headers(p) & headers)))


def _candidates(format_name: str, filename: str) -> tuple[Preset, ...]:
    presets = presets_for(format_name)
    if not presets:
        choices = ", ".join(("auto", *sorted({p.platform for p in PRESETS.values()}), *PRESETS))
        raise ImportFileError(
            f'{filename}: --format "{format_name}" is not a known export; use one of: {choices}',
            filename=filename,
        )
    return presets


def _no_header(
    filename: str, presets: Sequence[Preset], seen: list[tuple[int, list[str]]]
) -> ImportFileError:
    """The message for a file none of ``presets`` fits: what was found and what lacks."""
    if not seen:
        return ImportFileError(
            f"{filename}: the file is empty: export the orders again", filename=filename
        )
    best: tuple[int, int, Preset, int] | None = None
    for line, fields in seen:
        headers = _header_set(fields)
        for preset in presets:
            hits = sum(normalise_header(h) in headers for h in preset.signature)
            if best is None or hits > best[0]:
                best = (hits, line, preset, len(preset.signature))
    first_line, first_fields = seen[0]
    shown = ", ".join(str(f) for f in first_fields[:8] if str(f).strip())
    if len(presets) == 1 or (best and best[0] >= 2):
        assert best is not None
        _, line, preset, _ = best
        headers = _header_set(dict(seen)[line])
        missing = [h for h in preset.signature if normalise_header(h) not in headers]
        return ImportFileError(
            f"{filename}, line {line}: cannot place the header of a {preset.title} file: "
            f"it lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}. "
            "Export the file again with its standard columns, or name its platform with "
            "--format (auto tries every one)",
            filename=filename,
            line=line,
            column=missing[0] if missing else None,
        )
    platforms = ", ".join(sorted({p.platform for p in presets}))
    return ImportFileError(
        f"{filename}: not an orders export ops-sheets knows ({platforms}): no line among the "
        f"first {HEADER_SEARCH_ROWS} has their headers; line {first_line} reads "
        f'"{shown[:120]}". Export the orders from the platform as CSV, or use --format '
        "to name it",
        filename=filename,
        line=first_line,
    )


def _detect(
    text: str, filename: str, presets: Sequence[Preset]
) -> tuple[Preset, str, Iterator[tuple[int, list[str]]], tuple[int, list[str]]]:
    """The preset, delimiter, remaining records and header record of a file."""
    dialects: dict[tuple[str, bool], list[Preset]] = {}
    for preset in presets:
        for delimiter in preset.delimiters:
            dialects.setdefault((delimiter, preset.quoting), []).append(preset)
    seen_by_dialect: list[tuple[int, list[str]]] = []
    failure: ImportFileError | None = None
    for (delimiter, quoting), group in dialects.items():
        records = _records(text, delimiter, quoting, filename)
        seen: list[tuple[int, list[str]]] = []
        try:
            for record in records:
                seen.append(record)
                preset = _best(group, _header_set(record[1]))
                if preset is not None:
                    return preset, delimiter, records, record
                if len(seen) >= HEADER_SEARCH_ROWS:
                    break
        except ImportFileError as error:
            failure = failure or error
        if len(_widest(seen)) > len(_widest(seen_by_dialect)):
            seen_by_dialect = seen
    if failure is not None and not any(len(f) > 1 for _, f in seen_by_dialect):
        raise failure
    raise _no_header(filename, presets, seen_by_dialect)


def _widest(records: list[tuple[int, list[str]]]) -> list[str]:
    return max((f for _, f in records), key=len, default=[])


# ---------------------------------------------------------------- rows


def _cell_text(value: Cell) -> str:
    if isinstance(value, str):
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


class _Row:
    """One data row: values by header, after fill-down (implements ``RowView``)."""

    def __init__(
        self, line: int, values: list[Cell], index: Mapping[str, int], header: Sequence[Cell]
    ) -> None:
        self.line = line
        self.values = values
        self.index = index
        self.header = header
        self.overrides: dict[str, Cell] = {}

    def raw(self, header: str) -> Cell:
        norm = normalise_header(header)
        if norm in self.overrides:
            return self.overrides[norm]
        pos = self.index.get(norm)
        if pos is None or pos >= len(self.values):
            return None
        return self.values[pos]

    def shown(self, header: str) -> str:
        """The header as the file writes it (for messages)."""
        pos = self.index.get(normalise_header(header))
        return str(self.header[pos]).strip() if pos is not None else header

    def resolve(self, source: Source | None) -> tuple[Cell, str]:
        """(value, header it came from); a blank value is None."""
        if source is None:
            return None, ""
        if isinstance(source, str):
            value = self.raw(source)
            return (None if _cell_text(value) == "" else value), self.shown(source)
        if isinstance(source, Alt):
            first_header = ""
            for option in source.options:
                value, header = self.resolve(option)
                first_header = first_header or (header if self._present(option) else "")
                if value is not None:
                    return value, header
            return None, first_header or self._first_header(source)
        parts = [_cell_text(self.resolve(part)[0]) for part in source.parts]
        joined = source.sep.join(p for p in parts if p)
        return (joined or None), self._first_header(source)

    def _present(self, source: Source) -> bool:
        if isinstance(source, str):
            return self.has(source)
        options = source.options if isinstance(source, Alt) else source.parts
        return any(self._present(o) for o in options)

    def _first_header(self, source: Source) -> str:
        if isinstance(source, str):
            return self.shown(source)
        options = source.options if isinstance(source, Alt) else source.parts
        for option in options:
            if self._present(option):
                return self._first_header(option)
        return self._first_header(options[0]) if options else ""

    # RowView
    def text(self, source: Source) -> str:
        return _cell_text(self.resolve(source)[0])

    def has(self, header: str) -> bool:
        return normalise_header(header) in self.index or normalise_header(header) in self.overrides

    def fill(self, header: str, value: Cell) -> None:
        pos = self.index.get(normalise_header(header))
        if pos is not None and pos < len(self.values):
            self.values[pos] = value

    def with_overrides(self, overrides: Mapping[str, str]) -> _Row:
        row = _Row(self.line, self.values, self.index, self.header)
        row.overrides = {normalise_header(k): v for k, v in overrides.items()}
        return row


def _blank_row(fields: Sequence[Cell]) -> bool:
    return not any(_cell_text(f) for f in fields)


def _table_rows(
    records: Iterable[tuple[int, Sequence[Cell]]],
    header: Sequence[Cell],
    preset: Preset,
    source: str,
) -> list[_Row]:
    """Data rows after the header: blank rows skipped, footer checked, widths checked."""
    index: dict[str, int] = {}
    for pos, name in enumerate(header):
        index.setdefault(normalise_header(name), pos)
    width = len(header)
    footers = [re.compile(p, re.IGNORECASE) for p in preset.footer]
    rows: list[_Row] = []
    footer_at: int | None = None
    for line, fields in _naming_columns(records, header):
        if _blank_row(fields):
            continue
        joined = ",".join(_cell_text(f) for f in fields).strip(",") if footers else ""
        if footers and any(f.search(joined) for f in footers):
            footer_at = footer_at or line
            continue
        if footer_at is not None:
            raise ImportFileError(
                f"{source}, line {line}: data after the export's closing lines (line "
                f"{footer_at}): the file was joined with another or edited; import the file "
                "as the platform wrote it",
                filename=source,
                line=line,
            )
        if len(fields) < width:
            missing = str(header[len(fields)]).strip() or f"#{len(fields) + 1}"
            raise ImportFileError(
                f"{source}, line {line}, column {len(fields) + 1} ({missing}): the line ends "
                f"after {len(fields)} of the header's {width} columns, so it is cut short "
                "(an interrupted download, or a line break inside an unquoted value): "
                "download the export again",
                filename=source,
                line=line,
                column=missing,
            )
        if len(fields) > width and not _blank_row(fields[width:]):
            extra = next(i for i in range(width, len(fields)) if _cell_text(fields[i]))
            raise ImportFileError(
                f"{source}, line {line}, column {extra + 1}: the line has more values than "
                f"the header's {width} columns (a value holding an unquoted separator or a "
                'stray "): download the export again, or quote that value',
                filename=source,
                line=line,
                column=str(extra + 1),
            )
        rows.append(_Row(line, list(fields[:width]), index, header))
    return rows


def _naming_columns(
    records: Iterable[tuple[int, Sequence[Cell]]], header: Sequence[Cell]
) -> Iterator[tuple[int, Sequence[Cell]]]:
    """The records, with a quoting error's column number given its header's name."""
    iterator = iter(records)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except ImportFileError as error:
            number = int(error.column) if error.column and error.column.isdigit() else 0
            if not 0 < number <= len(header) or not _cell_text(header[number - 1]):
                raise
            name = _cell_text(header[number - 1])
            message = str(error).replace(f"column {number}:", f"column {number} ({name}):", 1)
            raise ImportFileError(
                message, filename=error.filename, line=error.line, column=name
            ) from None
        yield record


def _fill_down(rows: list[_Row], preset: Preset) -> tuple[list[_Row], int]:
    """Order-level fields to every row of the order; summary rows dropped."""
    groups: dict[str, list[_Row]] = {}
    for row in rows:
        key = row.text(preset.order_group) or f"\x00line {row.line}"
        groups.setdefault(key, []).append(row)
    dropped: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        for header in preset.order_fields:
            value = next((r.raw(header) for r in members if _cell_text(r.raw(header))), None)
            if value is None:
                continue
            for r in members:
                if not _cell_text(r.raw(header)):
                    r.fill(header, value)
        if preset.summary_row is not None and preset.summary_row(members[0]):
            dropped.add(id(members[0]))
    return [r for r in rows if id(r) not in dropped], len(dropped)


# ---------------------------------------------------------------- values


_SEPARATORS = re.compile(r"[\s_\-]+")


def _word(text: str) -> str:
    """Comparison form of a status word: case, and runs of spaces, _ and -, do not matter."""
    return _SEPARATORS.sub(" ", text).strip().casefold()


def _values_map(options: ImportOptions, column: str) -> dict[str, str]:
    wanted = normalise_header(column)
    for name, mapping in options.values.items():
        if normalise_header(name) == wanted or normalise_header(ORDER_HEADERS.get(name, "")) == (
            wanted
        ):
            return {_word(k): v for k, v in mapping.items()}
    return {}


def _strip_escape(text: str) -> str:
    """Undo the ``'`` exporters put before ``= + - @`` against formula injection."""
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        return text[1:]
    return text


@dataclass
class _LineBuilder:
    """Turns one row into an ImportedLine, collecting Problems."""

    preset: Preset
    options: ImportOptions
    source: str
    problems: list[Problem]

    def __post_init__(self) -> None:
        self.maps = {key: _values_map(self.options, key) for key in ORDER_HEADERS}
        self.products = {_word(k): v for k, v in self.options.products.items()}
        self.window = date_window(self.options.now) if self.options.now else None
        self.decimal = self.preset.decimal or self.options.decimal
        self.words = {
            "status": {_word(k): v for k, v in self.preset.status_words.items()},
            "payment": {_word(k): v for k, v in self.preset.payment_words.items()},
        }

    def problem(self, row: _Row, column: str, key: str, value: Cell, what: str, fix: str) -> None:
        self.problems.append(
            Problem(self.source, row.line, column, key, _cell_text(value), what, fix)
        )

    def build(self, row: _Row) -> tuple[str, str, dict[str, Cell], str | None] | None:
        preset = self.preset
        order_id = _strip_escape(row.text(preset.columns.get("order_id")))
        order_header = row.resolve(preset.columns.get("order_id"))[1] or "Order ID"
        sku = self.sku(row, order_id) if preset.line_level else ""
        if not order_id:
            self.problem(
                row,
                order_header,
                sku,
                None,
                "a line without an order ID, so it is not imported",
                "export the file again; if the platform leaves it blank, add the line by hand",
            )
            return None
        if sku is None:
            return None
        key = f"{order_id} / {sku}" if sku else order_id
        values: dict[str, Cell] = {"order_id": order_id}
        if preset.line_level:
            values["sku"] = sku
        for column in _TEXT_COLUMNS:
            if preset.columns.get(column) is not None:
                values[column] = self.text(row, column)
        qty = self.number(row, "qty", key)
        for column in ("qty", "qty_shipped"):
            if preset.columns.get(column) is not None:
                values[column] = qty if column == "qty" else self.number(row, column, key)
        if preset.columns.get("unit_price") is not None:
            values["unit_price"] = self.price(row, key, qty)
        for column in _DATE_COLUMNS:
            if preset.columns.get(column) is not None:
                values[column] = self.moment(row, column, key)
        status = self.word(row, "status", key, ORDER_STATUSES)
        payment = self.word(row, "payment", key, PAYMENTS)
        if preset.status_word is not None or preset.columns.get("status") is not None:
            values["status"] = status
        if preset.payment_word is not None or preset.columns.get("payment") is not None:
            values["payment"] = payment
        # an order-level ship time (Shopify's Fulfilled at) means nothing on a line
        # that has not shipped
        if "shipped_at" in values and status not in _SHIPPED:
            values["shipped_at"] = None
        line_id = _cell_text(row.resolve(preset.line_id)[0]) or None
        return order_id, sku, values, line_id

    def sku(self, row: _Row, order_id: str) -> str | None:
        source = self.preset.columns.get("sku")
        raw = _strip_escape(row.text(source)) if source is not None else ""
        if raw.casefold() in (p.casefold() for p in self.preset.sku_placeholders):
            raw = ""
        sku_map = self.maps["sku"]
        if raw:
            return sku_map.get(_word(raw), raw)
        name = row.text(self.preset.product_name) if self.preset.product_name else ""
        found = (sku_map.get(_word(name)) or self.products.get(_word(name))) if name else None
        if found:
            return found
        header = row.resolve(source)[1] if source is not None else ""
        self.problem(
            row,
            header or row._first_header(self.preset.product_name or "SKU"),
            order_id,
            name,
            f"a line without a SKU{f' ({name})' if name else ''}, so it is not imported",
            f"give the product a SKU on {platform_label(self.preset)}, or map its name: "
            f'[tabs.orders.values] sku = {{ "{name or "product name"}" = "YOUR-SKU" }}',
        )
        return None

    def text(self, row: _Row, column: str) -> str | None:
        value = _strip_escape(row.text(self.preset.columns[column]))
        if column == "postcode":
            value = value.removeprefix("'").strip()  # Shopify keeps leading zeros for Excel
            if value in ("-", "--"):
                value = ""
        mapped = self.maps[column].get(_word(value))
        return (mapped if mapped is not None else value) or None

    def number(self, row: _Row, column: str, key: str) -> Cell:
        value, header = row.resolve(self.preset.columns.get(column))
        try:
            amount = parse_amount(value, decimal=self.decimal)
        except CellError as error:
            self.problem(row, header, key, value, error.problem, error.fix)
            return None
        if amount is None:
            return None
        if amount.value < 0:
            self.problem(
                row, header, key, value, "a negative quantity", "check the line on the platform"
            )
            return None
        return int(amount.value) if amount.value.is_integer() else amount.value

    def price(self, row: _Row, key: str, qty: Cell) -> Cell:
        value, header = row.resolve(self.preset.columns.get("unit_price"))
        try:
            amount = parse_amount(value, decimal=self.decimal)
        except CellError as error:
            self.problem(row, header, key, value, error.problem, error.fix)
            return None
        if amount is None:
            return None
        shop = self.options.currency.upper()
        row_currency, currency_header = row.resolve(self.preset.currency)
        for code, where, shown in (
            (amount.currency, header, value),
            (_cell_text(row_currency).upper() or None, currency_header, row_currency),
        ):
            if code is not None and code != shop:
                self.problem(
                    row,
                    where,
                    key,
                    shown,
                    f"a price in {code}, while the shop's currency is {shop}",
                    "the price is left blank: type it in the shop's currency, or set "
                    "currency in the config if the shop sells in " + code,
                )
                return None
        if amount.value < 0:
            self.problem(
                row, header, key, value, "a negative price", "check the line on the platform"
            )
            return None
        number = amount.value
        if self.preset.price_is_line_total:
            if not isinstance(qty, (int, float)) or qty <= 0:
                return None  # no quantity to divide by: said already, or a free line
            number = round(number / qty, 6)
        return int(number) if float(number).is_integer() else number

    def moment(self, row: _Row, column: str, key: str) -> datetime | date | None:
        value, header = row.resolve(self.preset.columns.get(column))
        try:
            moment = _parse_date(value, self.preset, self.options.tz)
            if self.window is not None and moment is not None:
                as_datetime = (
                    moment
                    if isinstance(moment, datetime)
                    else datetime.combine(moment, time(0), tzinfo=self.options.tz)
                )
                check_date_window(as_datetime, self.window)
        except CellError as error:
            self.problem(row, header, key, value, error.problem, error.fix)
            return None
        return moment

    def word(self, row: _Row, column: str, key: str, choices: Sequence[str]) -> str | None:
        hook = self.preset.status_word if column == "status" else self.preset.payment_word
        source = self.preset.columns.get(column)
        if hook is None and source is None:
            return None
        platform_word = hook(row) if hook is not None else row.text(source or "")
        header = row.resolve(source)[1] if source is not None else ORDER_HEADERS[column]
        ours = self.maps[column].get(_word(platform_word))
        if ours is None:
            ours = self.words[column].get(_word(platform_word))
        if ours is not None and re.sub(r"[\s_\-]+", " ", ours).strip().upper() in choices:
            return re.sub(r"[\s_\-]+", " ", ours).strip().upper()
        label = ORDER_HEADERS[column]
        if ours is not None:
            what = f'"{platform_word}" is mapped to "{ours}", which is not a {label} word'
        else:
            what = f'"{platform_word}" is not a {platform_label(self.preset)} {label.lower()} word'
            what += " the preset knows"
        self.problem(
            row,
            header,
            key,
            platform_word,
            what,
            f"map it in the config: [tabs.orders.values] {column} = "
            f'{{ "{platform_word}" = "{choices[0]}" }} (ours: {", ".join(choices)})',
        )
        return None


def _example(fmt: str) -> str:
    sample = datetime(2026, 3, 2, 14, 5, 11, tzinfo=timezone(timedelta(hours=-5)))
    return sample.strftime(fmt)


def _parse_date(value: Cell, preset: Preset, tz: ZoneInfo) -> datetime | date | None:
    """A date in one of the preset's forms; offsets converted to the shop's time zone.

    A date-only form gives a ``date`` (Etsy and eBay write no time of day).
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return parse_datetime(value, tz)  # a spreadsheet serial from a synced tab
    text = value.strip()
    if not text:
        return None
    for fmt in preset.date_formats:
        try:
            parsed = datetime.strptime(text, fmt)  # noqa: DTZ007 - zone applied below
        except ValueError:
            continue
        if "%z" in fmt:
            return parsed.astimezone(tz)
        if "%H" in fmt:
            return parsed.replace(tzinfo=tz)
        return parsed.date()
    try:  # a connector may have rewritten the dates in ISO 8601
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CellError(
            f"not a date as {platform_label(preset)} writes it",
            f"expected like {_example(preset.date_formats[0])}; export the file again",
        ) from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed.astimezone(tz)


# ---------------------------------------------------------------- reading


def read_export(
    data: bytes, *, filename: str, options: ImportOptions, format: str = "auto"
) -> ExportRead:
    """Read one export file: its layout, its lines in our columns, and its problems.

    ``format`` is ``auto``, a platform (``shopify`` … ``ebay``) or a preset name
    (see :data:`~ops_sheets.sheet.presets.PRESETS`). Raises
    :class:`~ops_sheets.errors.ImportFileError` when the file cannot be read.
    """
    presets = _candidates(format, filename)
    text, notices = decode_export(data, filename=filename)
    preset, _, records, (header_line, header) = _detect(text, filename, presets)
    rows = _table_rows(records, header, preset, filename)
    return _read(rows, preset, header_line, options, filename, notices)


def read_rows(
    rows: Sequence[Sequence[Cell]],
    *,
    source: str,
    options: ImportOptions,
    format: str = "auto",
    header_row: int | None = None,
) -> ExportRead:
    """Read a tab (or any grid) laid out as a platform's export.

    ``rows[0]`` is row 1 of the sheet. The header is ``header_row`` when given,
    else the first of rows 1–10 that a preset's headers fit. Problems carry
    ``source`` as their tab and the sheet's row numbers.
    """
    presets = _candidates(format, source)
    numbered = [(i + 1, list(r)) for i, r in enumerate(rows)]
    found: tuple[Preset, int] | None = None
    search = numbered[header_row - 1 : header_row] if header_row else numbered[:HEADER_SEARCH_ROWS]
    for line, fields in search:
        preset = _best(presets, _header_set(fields))
        if preset is not None:
            found = (preset, line)
            break
    if found is None:
        raise _no_header(source, presets, search)
    preset, header_line = found
    header = numbered[header_line - 1][1]
    table = _table_rows(numbered[header_line:], header, preset, source)
    return _read(table, preset, header_line, options, source, [])


def _read(
    rows: list[_Row],
    preset: Preset,
    header_line: int,
    options: ImportOptions,
    source: str,
    notices: list[str],
) -> ExportRead:
    rows, summaries = _fill_down(rows, preset)
    if summaries:
        notices.append(f"{summaries} order summary row(s) dropped (their items are imported)")
    skipped: Counter[str] = Counter()
    expanded: list[_Row] = []
    for row in rows:
        reason = preset.skip_row(row) if preset.skip_row is not None else ""
        if reason:
            skipped[reason] += 1
            continue
        if preset.expand_row is not None:
            expanded.extend(row.with_overrides(o) for o in preset.expand_row(row))
        else:
            expanded.append(row)
    for reason, count in skipped.items():
        notices.append(f"{count} row(s) left out: {reason}")
    problems: list[Problem] = []
    builder = _LineBuilder(preset, options, source, problems)
    owned = tuple(f for f in PLATFORM_FIELDS if f in preset.carried)
    seen: Counter[tuple[str, str]] = Counter()
    lines: list[ImportedLine] = []
    for row in expanded:
        built = builder.build(row)
        if built is None:
            continue
        order_id, sku, values, line_id = built
        seen[(order_id, sku)] += 1
        occurrence = seen[(order_id, sku)] if preset.line_level else 0
        lines.append(
            ImportedLine(
                source, row.line, preset.name, order_id, sku, occurrence, line_id, values, owned
            )
        )
    return ExportRead(source, preset, header_line, tuple(lines), tuple(problems), tuple(notices))


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class LineChange:
    """A known line whose platform-owned fields change."""

    index: int  # position in the ``existing_rows`` given to plan_import
    row: int | None  # the sheet row it was read from (``_row``), for messages only
    key: LineKey
    changes: Mapping[str, tuple[Cell, Cell]]  # column key → (before, after)
    source: str
    line: int

    def __str__(self) -> str:
        what = "; ".join(f"{ORDER_HEADERS[c]}: {b!s} → {a!s}" for c, (b, a) in self.changes.items())
        return f"{self.key}: {what}"


@dataclass(frozen=True)
class ImportPlan:
    """What an import does to the Orders tab."""

    appends: tuple[ImportedLine, ...]
    changes: tuple[LineChange, ...]
    unchanged: int  # known lines that the import leaves as they are
    notices: tuple[str, ...] = ()

    @property
    def added(self) -> int:
        return len(self.appends)

    @property
    def changed(self) -> int:
        return len(self.changes)

    def rows_to_append(self) -> list[dict[str, Cell]]:
        """The new lines as Orders rows (header → value), in the files' order."""
        return [line.as_row() for line in self.appends]


_RANK = {"NEW": 0, "ON HOLD": 1, "PACKED": 1, "READY": 1, "SHIPPED": 2, "DELIVERED": 3}


def _blank(value: Cell) -> bool:
    return (
        value is None or value != value or (isinstance(value, str) and not value.strip())
    )  # NaN and NaT differ from themselves


def _enum(value: Cell) -> str | None:
    return None if _blank(value) else re.sub(r"[\s_\-]+", " ", str(value)).strip().upper()


def _moment(value: Cell, tz: ZoneInfo) -> datetime | date | str | None:
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
    if isinstance(value, date):
        return value
    try:
        return parse_datetime(value, tz)
    except CellError:
        return _cell_text(value)


def _same_moment(before: Cell, after: Cell, tz: ZoneInfo) -> bool:
    a, b = _moment(before, tz), _moment(after, tz)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b
    if isinstance(a, (date, datetime)) and isinstance(b, (date, datetime)):
        # a date-only export against a typed time (or the reverse): the same day is the same
        day_a = a.date() if isinstance(a, datetime) else a
        day_b = b.date() if isinstance(b, datetime) else b
        return day_a == day_b
    return a == b


def merge_field(column: str, before: Cell, after: Cell, tz: ZoneInfo) -> Cell | None:
    """The value an import writes over ``before``, or None to leave the cell alone.

    - A blank in the export never blanks a cell: it means the file does not know.
    - Status moves forward only (NEW → PACKED/READY/ON HOLD → SHIPPED → DELIVERED),
      so the team's PACKED is not undone by a platform that still says "unfulfilled";
      CANCELLED wins over anything not yet shipped and is never undone; ON HOLD
      replaces only NEW. A Status that is not one of ours is replaced.
    - Payment: blank counts as PAID.
    - Shipped at / Delivered at: the same day counts as the same when one side has
      no time of day.
    """
    if _blank(after):
        return None
    if column == "status":
        b, a = _enum(before), _enum(after)
        if a == b:
            return None
        if b is None or (b not in _RANK and b != "CANCELLED"):
            return after
        if b == "CANCELLED":
            return None
        if a == "CANCELLED":
            return after if b not in _SHIPPED else None
        if a == "ON HOLD":
            return after if b == "NEW" else None
        return after if _RANK.get(a or "", -1) > _RANK[b] else None
    if column == "payment":
        return None if (_enum(before) or "PAID") == _enum(after) else after
    if column in _DATE_COLUMNS:
        return None if _same_moment(before, after, tz) else after
    if column == "qty_shipped":
        try:
            same = not _blank(before) and float(str(before)) == float(str(after))
        except ValueError:
            same = False
        return None if same else after
    return None if key_text(before) == key_text(after) else after


def plan_import(
    existing_rows: Sequence[Mapping[str, Cell]],
    imported: Iterable[ImportedLine],
    *,
    tz: ZoneInfo,
) -> ImportPlan:
    """What importing ``imported`` does to an Orders tab holding ``existing_rows``.

    ``existing_rows`` are the tab's rows by column key (``order_id``, ``sku``,
    ``status``…, as :attr:`Table.all_rows <ops_sheets.sheet.tables.Table>` gives them), in
    sheet order, optionally with ``line_id`` (the platform's line id, where the tab
    keeps one) and ``_row``. ``imported`` are the lines of one or more exports,
    oldest file first: a later file's word on a line wins as the merge rules
    allow (:func:`merge_field`). Order-level rows (Etsy's sold orders file) are
    applied after every line, to all lines of their order.
    """
    by_key: dict[LineKey, int] = {}
    by_id: dict[tuple[str, str], int] = {}
    by_order: dict[str, list[int]] = {}
    key_of: dict[int, LineKey] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for index, row in enumerate(existing_rows):
        order_id, sku = key_text(row.get("order_id")), key_text(row.get("sku"))
        if _blank(order_id):
            continue
        by_order.setdefault(order_id, []).append(index)
        if _blank(sku):
            continue
        counts[(order_id, sku)] += 1
        key_of[index] = LineKey(order_id, sku, counts[(order_id, sku)])
        by_key.setdefault(key_of[index], index)
        line_id = key_text(row.get("line_id"))
        if line_id:
            by_id.setdefault((order_id, line_id), index)

    current: dict[int, dict[str, Cell]] = {}
    changes: dict[int, dict[str, tuple[Cell, Cell]]] = {}
    last_source: dict[int, tuple[str, int, LineKey]] = {}
    matched: set[int] = set()
    appends: dict[LineKey, ImportedLine] = {}
    notices: list[str] = []

    def apply(index: int, line: ImportedLine, key: LineKey) -> None:
        matched.add(index)
        values = current.setdefault(index, dict(existing_rows[index]))
        for column in line.owned:
            new = merge_field(column, values.get(column), line.values.get(column), tz)
            if new is None:
                continue
            first_before = changes.get(index, {}).get(column, (values.get(column), None))[0]
            values[column] = new
            changes.setdefault(index, {})[column] = (first_before, new)
            last_source[index] = (line.source, line.line, key)

    def merge_into_append(key: LineKey, line: ImportedLine) -> None:
        earlier = appends[key]
        values = dict(earlier.values)
        for column in line.owned:
            new = merge_field(column, values.get(column), line.values.get(column), tz)
            if new is not None:
                values[column] = new
        appends[key] = replace(earlier, values=values)

    lines = list(imported)
    for line in (ln for ln in lines if not ln.order_level):
        key = line.key
        index = by_id.get((line.order_id, line.line_id)) if line.line_id else None
        if index is None:
            index = by_key.get(key)
        if index is not None:
            apply(index, line, key)
        elif key in appends:
            merge_into_append(key, line)
        else:
            appends[key] = line
    for line in (ln for ln in lines if ln.order_level):
        targets = by_order.get(line.order_id, [])
        pending = [k for k in appends if k.order_id == line.order_id]
        for index in targets:
            apply(index, line, key_of.get(index, LineKey(line.order_id, "", 0)))
        for key in pending:
            merge_into_append(key, line)
        if not targets and not pending:
            notices.append(
                f"{line.source}, line {line.line}: order {line.order_id} has no lines in the "
                "Orders tab or in the other files: import its items file too"
            )

    plan_changes = []
    for index in sorted(changes):
        source, at, key = last_source[index]
        row_number = key_text(existing_rows[index].get("_row"))
        plan_changes.append(
            LineChange(
                index,
                int(row_number) if row_number.isdigit() else None,
                key,
                changes[index],
                source,
                at,
            )
        )
    return ImportPlan(
        appends=tuple(appends.values()),
        changes=tuple(plan_changes),
        unchanged=len(matched - set(changes)),
        notices=tuple(notices),
    )


# ---------------------------------------------------------------- one line per SKU

#: How far a status has gone, for adding up one SKU's lines: the line is only as
#: far as its least advanced part.
_PROGRESS = {"CANCELLED": -1, "NEW": 0, "ON HOLD": 1, "PACKED": 1, "READY": 1}


def _number(value: Cell) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def _tidy(number: float) -> int | float:
    return int(number) if float(number).is_integer() else round(number, 6)


def one_line_per_sku(read: ExportRead, notices: list[str]) -> list[ImportedLine]:
    """The file's lines with one line per order and SKU.

    The same SKU twice in one order (two Shopify line items with different
    discounts, two Etsy transactions) becomes one line with the quantities added
    up, the price their average and the status the least advanced: the Orders tab
    keys a line by Order ID + SKU, and two rows with one key would both be skipped.
    Each join is told in ``notices``.
    """
    groups: dict[tuple[str, str], list[ImportedLine]] = {}
    for line in read.lines:
        groups.setdefault((line.order_id, line.sku), []).append(line)
    out: list[ImportedLine] = []
    for (order_id, sku), members in groups.items():
        if len(members) == 1 or not sku:
            out.extend(members)
            continue
        out.append(_combined(members))
        notices.append(
            f"{read.source}: order {order_id} has SKU {sku} on {len(members)} lines (lines "
            f"{', '.join(str(m.line) for m in members)}): imported as one line, quantities "
            "added up"
        )
    return out


def _combined(members: list[ImportedLine]) -> ImportedLine:
    """One line standing for several lines of one SKU in one order."""
    first = members[0]
    values = dict(first.values)
    qtys = [_number(m.values.get("qty")) for m in members]
    if all(q is not None for q in qtys):
        total = sum(q for q in qtys if q is not None)
        values["qty"] = _tidy(total)
        prices = [_number(m.values.get("unit_price")) for m in members]
        if "unit_price" in values and all(p is not None for p in prices) and total > 0:
            paid = sum(p * q for p, q in zip(prices, qtys, strict=True) if p and q)
            values["unit_price"] = _tidy(paid / total)
    statuses = [m.values.get("status") for m in members]
    known = [s for s in statuses if isinstance(s, str)]
    if known and len(set(known)) > 1:
        live = [s for s in known if s != "CANCELLED"] or known
        least = min(live, key=lambda s: _PROGRESS.get(s, 2 if s == "SHIPPED" else 3))
        values["status"] = least
        shipped = sum(
            (_number(m.values.get("qty_shipped")) or _number(m.values.get("qty")) or 0.0)
            for m in members
            if m.values.get("status") in _SHIPPED
        )
        if "qty_shipped" in values or shipped:
            values["qty_shipped"] = _tidy(shipped)
        if least not in _SHIPPED and "shipped_at" in values:
            values["shipped_at"] = None
    extra = ("qty_shipped",) if "qty_shipped" in values else ()
    owned = tuple(dict.fromkeys([*first.owned, *extra]))
    return replace(first, values=values, owned=owned)
