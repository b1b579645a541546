"""Writing an .xlsx in place: only the worksheet parts whose cells change are rewritten.

Re-saving a whole workbook through openpyxl drops what openpyxl cannot model
(charts and extensions other programs wrote) and costs time in proportion to the
file. Here the zip is edited instead (DESIGN.md, "Writing an xlsx the team also
saves"): in each worksheet part that gets cells, only the ``<row>`` elements that
change are rebuilt, plus ``<dimension>`` and, for a new service column, ``<cols>``;
every other byte of the part, and every other part of the zip, is copied as it was.
New text goes in as inline strings, so the shared strings part is never touched;
the styles part only gains the few cell formats a write needs (a date format on a
cell, Excel's quote prefix on text that looks like a formula). Excel is asked to
recalculate on opening, as it is after an openpyxl save. Charts the service draws
(built by openpyxl from the written cells) go into the sheet's drawing part,
replacing the charts of the same titles; other anchors and parts stay as they are.

What it cannot do raises :class:`InPlaceUnsupported`, and the caller writes the
file with openpyxl instead, as before: new tabs, a write over the master cell of a
shared or array formula (other cells hang on it), a worksheet without row or cell
references, or anything else whose result would not be well-formed XML.
"""

from __future__ import annotations

import html
import io
import math
import numbers
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from xml.parsers import expat

from openpyxl.styles.numbers import (
    BUILTIN_FORMATS,
    is_date_format,
    is_datetime,
    is_timedelta_format,
)
from openpyxl.utils import column_index_from_string, get_column_letter, range_boundaries
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel, to_excel

from ops_sheets.sheet.looks import HEADER_FILL, HEADER_TEXT
from ops_sheets.sheet.workbook.base import CellWrite, ChartSpec, Skipped, normalise_header

#: text starting with these is a formula to a person typing it into Excel
FORMULA_PREFIXES = ("=", "+", "-", "@")
MERGED_REASON = "the cell is inside merged cells; unmerge them so the service can write"


class InPlaceUnsupported(Exception):
    """This write needs the openpyxl path (the message says why, for logs and tests)."""


@dataclass(frozen=True)
class TabWrite:
    """The cells one worksheet gets, and what the header styling needs to know."""

    title: str  # the sheet's title as the workbook has it
    cells: Sequence[CellWrite]
    header_width: int  # last used header column before the write (0: none)
    last_row: int  # last used row before the write
    #: column -> the number format its cells get where they have none (General):
    #: a service column's money, percent or date format (see ops_sheets.sheet.looks)
    formats: Mapping[int, str] = field(default_factory=dict)
    #: column -> width (characters) for a service column that has no width yet
    widths: Mapping[int, float] = field(default_factory=dict)
    #: the tab is the service's own: its filter grows over the rows appended
    #: (a team's filter stays as the team set it)
    grow_filter: bool = False
    #: the column whose written cells (below the header) get their link set, or
    #: cleared (0: none), and (row, col) -> the link's location ('Stock'!D58)
    link_column: int = 0
    links: Mapping[tuple[int, int], str] = field(default_factory=dict)
    #: the service's columns (1-based) whose row-1 header gets the service's fill
    #: and white bold text where it has not got them yet: created or found alike
    service_columns: tuple[int, ...] = ()


@dataclass
class Formats:
    """The number formats a value type gets when the team has not chosen one."""

    datetime: str
    date: str
    time: str
    ours: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.ours = (self.datetime, self.date, self.time)

    def for_value(self, value: datetime | date | time) -> str:
        if isinstance(value, datetime):
            return self.datetime
        return self.date if isinstance(value, date) else self.time


class Package:
    """The parts of an .xlsx zip, and what every edit needs to find its way in them."""

    def __init__(self, original: bytes) -> None:
        try:
            with zipfile.ZipFile(io.BytesIO(original)) as zin:
                self.infos = zin.infolist()
                self.parts = {i.filename: zin.read(i.filename) for i in self.infos}
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise InPlaceUnsupported(f"not a zip openable here: {exc}") from exc
        self.workbook_part = _main_part(self.parts)
        self.sheets = _sheet_parts(self.parts, self.workbook_part)
        self.date1904 = bool(
            re.search(
                rb"<(?:\w+:)?workbookPr\b[^>]*\bdate1904=\"(?:1|true)\"",
                self.parts[self.workbook_part],
            )
        )
        styles_part = _related(self.parts, self.workbook_part, "/styles")
        if styles_part is None:
            raise InPlaceUnsupported("the workbook has no styles part")
        self.styles_part = styles_part
        self.styles = _Styles(self.parts[styles_part])
        self.epoch = CALENDAR_MAC_1904 if self.date1904 else CALENDAR_WINDOWS_1900
        self._shared: list[str] | None = None

    def title_of(self, tab: str) -> str | None:
        """The sheet's own title for a tab name (Excel titles ignore case)."""
        if tab in self.sheets:
            return tab
        folded = tab.casefold()
        return next((t for t in self.sheets if t.casefold() == folded), None)

    def shared_strings(self) -> list[str]:
        if self._shared is None:
            part = _related(self.parts, self.workbook_part, "/sharedStrings")
            self._shared = _shared_strings(self.parts[part]) if part else []
        return self._shared


def read_snapshot(
    package: Package, tab: str, keys: set[str], header_row: int = 1
) -> tuple[list[object], dict[str, list[object]], int] | None:
    """(header, key columns, last used row) of a tab, read from its XML; None: no tab.

    The same values a read gives (cached values of formulas, dates as dates) for the
    header and the key columns; a formula counts as something in its row even
    without a cached value, so an append never lands on it.
    """
    title = package.title_of(tab)
    if title is None:
        return None
    reader = _SheetValues(package, package.parts[package.sheets[title]])
    header = reader.row_values(header_row)
    while header and header[-1] in (None, ""):
        header.pop()
    wanted: dict[int, str] = {}
    for i, h in enumerate(header, start=1):
        norm = normalise_header(h)
        if norm and norm not in wanted.values():
            wanted[i] = norm
    key_cols = {i: n for i, n in wanted.items() if n in keys}
    last_row = reader.last_used_row()
    # only the columns rows are found by: the others are not decoded at all
    below = header_row + 1  # the first data row
    columns: dict[str, list[object]] = {
        n: [None] * max(0, last_row - header_row) for n in key_cols.values()
    }
    for row, col, value in reader.cells(set(key_cols), first_row=below, last_row=last_row):
        columns[key_cols[col]][row - below] = value
    return header, columns, last_row


def write_in_place(
    package: Package,
    tabs: Sequence[TabWrite],
    formats: Formats,
    excel_value: Callable[[object], object],
    skipped: list[Skipped],
    charts: Sequence[ChartSpec] = (),
    build_chart: Callable[[Any, ChartSpec], Any] | None = None,
) -> bytes:
    """The new zip: the package with the cells of ``tabs`` written, all else kept.

    ``charts`` are drawn after the cells, each by ``build_chart`` (an openpyxl chart
    from a sheet-like view of the written tab, or None to keep the tab's charts as
    they are); each replaces the tab's chart of the same title.
    """
    parts = package.parts
    styles = package.styles
    changed: dict[str, bytes] = {}
    removed: set[str] = set()
    dropped_formulas = False
    grown_filters: dict[str, tuple[str, str]] = {}
    for tab in tabs:
        title = package.title_of(tab.title)
        if title is None:
            raise InPlaceUnsupported(f"no worksheet part for {tab.title!r}")
        part = package.sheets[title]
        sheet = _Sheet(parts[part], styles, formats, excel_value, package.date1904)
        sheet.write(tab, skipped)
        dropped_formulas = dropped_formulas or sheet.overwrote_formula
        changed[part] = sheet.xml()
        if sheet.filter_ref is not None:
            grown_filters[title] = sheet.filter_ref
        for table_part in _related_all(parts, part, "/table"):
            grown = _grow_table(parts[table_part], tab.last_row, sheet.last_row)
            if grown is not None:
                changed[table_part] = grown
    if charts:
        assert build_chart is not None
        _draw_charts(package, changed, removed, charts, build_chart)
    if styles.changed:
        changed[package.styles_part] = styles.xml()
    workbook = _grow_filter_names(_full_calc_on_load(parts[package.workbook_part]), grown_filters)
    if workbook != parts[package.workbook_part]:
        changed[package.workbook_part] = workbook
    if dropped_formulas:
        # Excel "repairs" a file whose calculation chain names a cell that no longer
        # holds a formula; without the part it rebuilds the chain itself.
        calc_chain = _related(parts, package.workbook_part, "/calcChain")
        if calc_chain is not None:
            removed.add(calc_chain)
            rels = _rels_name(package.workbook_part)
            changed[rels] = _drop_relationship(parts[rels], calc_chain, package.workbook_part)
            changed["[Content_Types].xml"] = _drop_override(
                changed.get("[Content_Types].xml", parts["[Content_Types].xml"]), calc_chain
            )
    for name, data in changed.items():
        if name not in package.sheets.values():  # sheets checked as they were rebuilt
            _check_well_formed(name, data)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in package.infos:
            if info.filename in removed:
                continue
            # a fresh entry (no stale sizes or extra fields), same name, time and method
            entry = zipfile.ZipInfo(info.filename, info.date_time)
            entry.compress_type = info.compress_type
            entry.external_attr = info.external_attr
            entry.create_system = info.create_system
            zout.writestr(entry, changed.get(info.filename, parts[info.filename]))
        for name in sorted(set(changed) - set(parts) - removed):  # parts new in this write
            zout.writestr(name, changed[name])
    return out.getvalue()


# ---------------------------------------------------------------- package navigation


def _main_part(parts: Mapping[str, bytes]) -> str:
    for target in _rel_targets(parts.get("_rels/.rels", b""), ""):
        if target[0].endswith("/officeDocument"):
            return target[1]
    raise InPlaceUnsupported("no workbook part")


def _rels_name(part: str) -> str:
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", base + ".rels")


_REL_RE = re.compile(rb"<(?:\w+:)?Relationship\s([^>]*?)/?>")
_ATTR_RE = re.compile(r'([\w:.-]+)\s*=\s*"([^"]*)"')


def _attrs(raw: bytes | str) -> dict[str, str]:
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    return {k: html.unescape(v) for k, v in _ATTR_RE.findall(text)}


def _rel_targets(rels: bytes, folder: str) -> list[tuple[str, str, str]]:
    """(type, resolved target part, id) of each internal relationship."""
    out = []
    for m in _REL_RE.finditer(rels):
        a = _attrs(m.group(1))
        target = a.get("Target", "")
        if a.get("TargetMode") == "External" or not target:
            continue
        resolved = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(folder, target))
        )
        out.append((a.get("Type", ""), resolved, a.get("Id", "")))
    return out


def _related_all(parts: Mapping[str, bytes], part: str, type_suffix: str) -> list[str]:
    rels = parts.get(_rels_name(part))
    if rels is None:
        return []
    folder = posixpath.dirname(part)
    return [t for kind, t, _ in _rel_targets(rels, folder) if kind.endswith(type_suffix)]


def _related(parts: Mapping[str, bytes], part: str, type_suffix: str) -> str | None:
    found = [t for t in _related_all(parts, part, type_suffix) if t in parts]
    return found[0] if found else None


def _sheet_parts(parts: Mapping[str, bytes], workbook_part: str) -> dict[str, str]:
    """Sheet title -> worksheet part."""
    rels = parts.get(_rels_name(workbook_part), b"")
    by_id = {rid: t for _, t, rid in _rel_targets(rels, posixpath.dirname(workbook_part))}
    out: dict[str, str] = {}
    for m in re.finditer(rb"<(?:\w+:)?sheet\s([^>]*?)/?>", parts[workbook_part]):
        a = _attrs(m.group(1))
        rid = next((v for k, v in a.items() if k.endswith(":id")), None)
        if "name" in a and rid in by_id and by_id[rid] in parts:
            out[a["name"]] = by_id[rid]
    return out


def _check_well_formed(name: str, data: bytes) -> None:
    # our own output, made from the team's file that openpyxl parses the same way;
    # expat checks it without building a tree (a 100k-row sheet's tree is GBs)
    parser = expat.ParserCreate(namespace_separator="}")  # as ElementTree: prefixes bound
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:  # a bug here must never reach the file
        raise InPlaceUnsupported(
            f"{name} would not be well-formed XML: {expat.ErrorString(exc.code)}: "
            f"line {exc.lineno}, column {exc.offset}"
        ) from exc


# ---------------------------------------------------------------- reading values


_SI_RE = re.compile(r"<(?:\w+:)?si\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?si>)", re.S)
_T_RE = re.compile(r"<(?:\w+:)?t\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?t>)", re.S)
_PHONETIC_RE = re.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)


def _text_of(xml: str) -> str:
    """The plain text of a string item: its runs joined, phonetic guides left out."""
    xml = _PHONETIC_RE.sub("", xml)
    return "".join(html.unescape(m.group(1) or "") for m in _T_RE.finditer(xml))


def _shared_strings(xml: bytes) -> list[str]:
    return [_text_of(m.group(1) or "") for m in _SI_RE.finditer(xml.decode("utf-8"))]


class _SheetValues:
    """Cell values of one worksheet part as a read gives them, found by regular
    expressions over its XML: only the rows and columns asked for are decoded."""

    def __init__(self, package: Package, xml: bytes) -> None:
        self.package = package
        text = xml.decode("utf-8")
        root = re.search(r"<((?:\w+:)?)worksheet\b", text)
        if root is None:
            raise InPlaceUnsupported("not a worksheet part")
        p = re.escape(root.group(1))
        self.p = p
        self.text = text
        self.cell_re = re.compile(rf"<{p}c\b([^>]*?)(?:/>|>(.*?)</{p}c>)", re.S)
        self.rows: list[tuple[int, int, int]] = []  # (row number, start, end), in file order
        for m in re.finditer(rf"<{p}row\b([^>]*?)(?:/>|>.*?</{p}row>)", text, re.S):
            r = _ROW_NUMBER_RE.search(m.group(1))
            if r is None:
                raise InPlaceUnsupported("a row without a row number")
            self.rows.append((int(r.group(1)), m.start(), m.end()))
        self.by_number = {n: (a, b) for n, a, b in self.rows}

    def _cells_in(self, start: int, end: int) -> Iterable[tuple[int, int, re.Match[str]]]:
        for m in self.cell_re.finditer(self.text, start, end):
            ref = _REF_RE.search(m.group(1))
            if ref is None:
                raise InPlaceUnsupported("a cell without a cell reference")
            yield int(ref.group(2)), column_index_from_string(ref.group(1)), m

    def row_values(self, number: int) -> list[object]:
        span = self.by_number.get(number)
        values: list[object] = []
        if span is None:
            return values
        for _, col, m in self._cells_in(*span):
            values.extend([None] * (col - len(values)))
            values[col - 1] = self.decode(m)
        return values

    def last_used_row(self) -> int:
        for number, start, end in sorted(self.rows, reverse=True):
            for _, _, m in self._cells_in(start, end):
                if m.group(2) and (f"<{self.p}f" in m.group(2) or self.decode(m) not in (None, "")):
                    return number
        return 0

    def cells(
        self, columns: set[int], first_row: int, last_row: int
    ) -> Iterable[tuple[int, int, object]]:
        """(row, column, value) of the cells of ``columns`` in the rows asked for."""
        if not columns or not self.rows:
            return
        letters = "|".join(get_column_letter(c) for c in sorted(columns))
        # only the cells of these columns become Python objects: a key column of a
        # 10,000-row tab is found without looking at the other cells one by one
        wanted = re.compile(
            rf'<{self.p}c\b(?=[^>]*?\br="({letters})(\d+)")([^>]*?)(?:/>|>(.*?)</{self.p}c>)',
            re.S,
        )
        start = min(a for _, a, _ in self.rows)
        end = max(b for _, _, b in self.rows)
        for m in wanted.finditer(self.text, start, end):
            row = int(m.group(2))
            if first_row <= row <= last_row:
                yield (
                    row,
                    column_index_from_string(m.group(1)),
                    self._decode(m.group(3), m.group(4)),
                )

    def decode(self, m: re.Match[str]) -> object:
        return self._decode(m.group(1), m.group(2))

    def _decode(self, attrs: str, body: str | None) -> object:
        if not body:
            return None
        a = _attrs(attrs)
        kind = a.get("t", "n")
        if kind == "inlineStr":
            found = re.search(rf"<{self.p}is\b[^>]*>(.*?)</{self.p}is>", body, re.S)
            return _text_of(found.group(1)) if found else None
        v = re.search(rf"<{self.p}v>(.*?)</{self.p}v>", body, re.S)
        if v is None:
            return None
        raw = html.unescape(v.group(1))
        if kind == "s":
            shared = self.package.shared_strings()
            index = int(raw)
            return shared[index] if 0 <= index < len(shared) else None
        if kind in ("str", "e"):
            return raw
        if kind == "b":
            return raw.strip() in ("1", "true")
        if kind == "d":
            return datetime.fromisoformat(raw)
        number: float | int = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
        style = int(a.get("s", "0"))
        fmt = self.package.styles.number_format(style) if style else "General"
        if not is_date_format(fmt):
            return number
        value = from_excel(number, self.package.epoch, timedelta=is_timedelta_format(fmt))
        if isinstance(value, timedelta):  # a duration format such as [h]:mm
            return value.total_seconds() / 86400
        if isinstance(value, datetime) and value.time() == time(0) and is_datetime(fmt) == "date":
            return value.date()
        return value


_ROW_NUMBER_RE = re.compile(r'\br="(\d+)"')
_REF_RE = re.compile(r'\br="([A-Z]{1,3})(\d+)"')


# ---------------------------------------------------------------- styles


_XF_RE = re.compile(r"<(?:\w+:)?xf\b[^>]*?(?:/>|>.*?</(?:\w+:)?xf>)", re.S)


class _Styles:
    """The cell formats (``cellXfs``) and number formats of the styles part.

    A write only ever adds formats: an existing cell's format is copied with its
    number format or quote prefix changed, so the team's formats stay as they are.
    """

    def __init__(self, xml: bytes) -> None:
        self.text = xml.decode("utf-8")
        self.changed = False
        m = re.search(r"<((?:\w+:)?)cellXfs\b[^>]*>(.*?)</(?:\w+:)?cellXfs>", self.text, re.S)
        if m is None:
            raise InPlaceUnsupported("the styles part has no cell formats")
        self.prefix = m.group(1)
        self.xfs = _XF_RE.findall(m.group(2))
        self.new_xfs: list[str] = []
        self.formats: dict[int, str] = dict(BUILTIN_FORMATS)
        self.new_formats: dict[int, str] = {}
        for nm in re.finditer(r"<(?:\w+:)?numFmt\s([^>]*?)/?>", self.text):
            a = _attrs(nm.group(1))
            if "numFmtId" in a and "formatCode" in a:
                self.formats[int(a["numFmtId"])] = a["formatCode"]
        self._derived: dict[tuple[int, str | None, bool | None], int] = {}
        self._linked: dict[int, int] = {}  # cell format -> the same as a link
        self._link_fonts: dict[int, int] = {}  # font -> the same, blue and underlined
        self.new_fonts: list[str] = []
        self._dressed: dict[int, int] = {}  # cell format -> the same as a service header
        self.new_fills: list[str] = []
        self._header_fill: int | None = None
        self._element_cache: dict[str, list[str]] = {}

    def _xf(self, index: int) -> str:
        every = self.xfs + self.new_xfs
        if not 0 <= index < len(every):
            raise InPlaceUnsupported(f"a cell refers to cell format {index}, which is missing")
        return every[index]

    def number_format(self, index: int) -> str:
        a = _attrs(_open_tag(self._xf(index)))
        return self.formats.get(int(a.get("numFmtId", "0")), "General")

    def quote_prefix(self, index: int) -> bool:
        return _attrs(_open_tag(self._xf(index))).get("quotePrefix") in ("1", "true")

    def derive(self, index: int, number_format: str | None, quote_prefix: bool | None) -> int:
        """A cell format like ``index`` with another number format and/or quote prefix."""
        key = (index, number_format, quote_prefix)
        if key in self._derived:
            return self._derived[key]
        xf = self._xf(index)
        tag = _open_tag(xf)
        new_tag = tag
        if number_format is not None:
            fmt_id = self._format_id(number_format)
            new_tag = _set_attr(new_tag, "numFmtId", str(fmt_id))
            new_tag = _set_attr(new_tag, "applyNumberFormat", "1")
        if quote_prefix is not None:
            new_tag = (
                _set_attr(new_tag, "quotePrefix", "1")
                if quote_prefix
                else _del_attr(new_tag, "quotePrefix")
            )
        if new_tag == tag:
            self._derived[key] = index
            return index
        self.new_xfs.append(new_tag + xf[len(tag) :])
        self.changed = True
        new_index = len(self.xfs) + len(self.new_xfs) - 1
        self._derived[key] = new_index
        return new_index

    def is_dressed(self, index: int) -> bool:
        """Whether a cell format has the service header's fill (see sheet.looks)."""
        a = _attrs(_open_tag(self._xf(index)))
        fill_id = int(a.get("fillId", "0") or 0)
        fills = self._elements("fill") + self.new_fills
        fill = fills[fill_id] if 0 <= fill_id < len(fills) else ""
        return bool(re.search(rf'fgColor\s+rgb="(?:FF)?{HEADER_FILL}"', fill, re.I))

    def dressed(self, index: int) -> int:
        """A cell format like ``index`` in the service header's colours: the fill,
        white bold text (the font's size and name kept)."""
        found = self._dressed.get(index)
        if found is not None:
            return found
        xf = self._xf(index)
        tag = _open_tag(xf)
        a = _attrs(tag)
        p = self.prefix
        if self._header_fill is None:
            self.new_fills.append(
                f'<{p}fill><{p}patternFill patternType="solid"><{p}fgColor rgb="FF{HEADER_FILL}"/>'
                f'<{p}bgColor indexed="64"/></{p}patternFill></{p}fill>'
            )
            self._header_fill = len(self._elements("fill")) + len(self.new_fills) - 1
        size, name = self._font_size_name(int(a.get("fontId", "0") or 0))
        self.new_fonts.append(
            f'<{p}font><{p}b/><{p}sz val="{size}"/><{p}color rgb="FF{HEADER_TEXT}"/>'
            f'<{p}name val="{name}"/></{p}font>'
        )
        font_id = len(self._elements("font")) + len(self.new_fonts) - 1
        new_tag = tag
        for attr, value in (
            ("fontId", str(font_id)),
            ("fillId", str(self._header_fill)),
            ("applyFont", "1"),
            ("applyFill", "1"),
        ):
            new_tag = _set_attr(new_tag, attr, value)
        self.new_xfs.append(new_tag + xf[len(tag) :])
        self.changed = True
        self._dressed[index] = len(self.xfs) + len(self.new_xfs) - 1
        return self._dressed[index]

    def _elements(self, kind: str) -> list[str]:
        """The ``<font>`` or ``<fill>`` elements of the styles part as it was read."""
        found = self._element_cache.get(kind)
        if found is not None:
            return found
        block = re.search(rf"<(?:\w+:)?{kind}s\b[^>]*>(.*?)</(?:\w+:)?{kind}s>", self.text, re.S)
        if block is None:
            raise InPlaceUnsupported(f"the styles part has no {kind}s")
        found = re.findall(
            rf"<(?:\w+:)?{kind}\b(?:[^>]*/>|.*?</(?:\w+:)?{kind}>)", block.group(1), re.S
        )
        self._element_cache[kind] = found
        return found

    def _font_size_name(self, font_id: int) -> tuple[str, str]:
        fonts = self._elements("font")
        old = fonts[font_id] if 0 <= font_id < len(fonts) else ""
        size = re.search(r"<(?:\w+:)?sz\s+val=\"([^\"]+)\"", old)
        name = re.search(r"<(?:\w+:)?name\s+val=\"([^\"]+)\"", old)
        return (size.group(1) if size else "11", name.group(1) if name else "Calibri")

    def linked(self, index: int) -> int:
        """A cell format like ``index`` whose font is a link's: blue and underlined
        (the font's size and name kept)."""
        found = self._linked.get(index)
        if found is not None:
            return found
        xf = self._xf(index)
        tag = _open_tag(xf)
        font_id = self._link_font(int(_attrs(tag).get("fontId", "0") or 0))
        new_tag = _set_attr(_set_attr(tag, "fontId", str(font_id)), "applyFont", "1")
        self.new_xfs.append(new_tag + xf[len(tag) :])
        self.changed = True
        self._linked[index] = len(self.xfs) + len(self.new_xfs) - 1
        return self._linked[index]

    def _link_font(self, base: int) -> int:
        if base in self._link_fonts:
            return self._link_fonts[base]
        size, name = self._font_size_name(base)
        p = self.prefix
        self.new_fonts.append(
            f'<{p}font><{p}u/><{p}sz val="{size}"/><{p}color rgb="FF0563C1"/>'
            f'<{p}name val="{name}"/></{p}font>'
        )
        self._link_fonts[base] = len(self._elements("font")) + len(self.new_fonts) - 1
        return self._link_fonts[base]

    def _format_id(self, code: str) -> int:
        for fmt_id, known in self.formats.items():
            if known == code:
                return fmt_id
        fmt_id = max([163, *(i for i in self.formats if i >= 164)]) + 1
        self.formats[fmt_id] = code
        self.new_formats[fmt_id] = code
        return fmt_id

    def xml(self) -> bytes:
        text = self.text
        p = self.prefix
        if self.new_formats:
            added = "".join(
                f'<{p}numFmt numFmtId="{i}" formatCode="{html.escape(c, quote=True)}"/>'
                for i, c in self.new_formats.items()
            )
            m = re.search(r"<(?:\w+:)?numFmts\b([^>]*?)(/?)>", text)
            if m is None:
                root = re.search(r"<(?:\w+:)?styleSheet\b[^>]*>", text)
                assert root is not None
                block = f'<{p}numFmts count="{len(self.new_formats)}">{added}</{p}numFmts>'
                text = text[: root.end()] + block + text[root.end() :]
            else:
                opening = text[m.start() : m.end()].replace("/>", ">")
                if m.group(2):  # <numFmts/>: an empty list
                    opening = _set_attr(opening, "count", str(len(self.new_formats)))
                    text = text[: m.start()] + opening + added + f"</{p}numFmts>" + text[m.end() :]
                else:
                    end = text.index("numFmts>", m.end())
                    end = text.rindex("<", 0, end)
                    # count the list's own entries (a dxf holds numFmt elements too)
                    count = len(re.findall(r"<(?:\w+:)?numFmt\s", text[m.end() : end]))
                    total = count + len(self.new_formats)
                    opening = _set_attr(opening, "count", str(total))
                    text = text[: m.start()] + opening + text[m.end() : end] + added + text[end:]
        for kind, added_elements in (("font", self.new_fonts), ("fill", self.new_fills)):
            if not added_elements:
                continue
            m = re.search(rf"<(?:\w+:)?{kind}s\b[^>]*>", text)
            assert m is not None
            end = re.search(rf"</(?:\w+:)?{kind}s>", text[m.end() :])
            assert end is not None
            close = m.end() + end.start()
            count = len(self._elements(kind)) + len(added_elements)
            opening = _set_attr(m.group(0), "count", str(count))
            text = (
                text[: m.start()]
                + opening
                + text[m.end() : close]
                + "".join(added_elements)
                + text[close:]
            )
        if self.new_xfs:
            m = re.search(r"<(?:\w+:)?cellXfs\b[^>]*>", text)
            assert m is not None
            end = re.search(r"</(?:\w+:)?cellXfs>", text[m.end() :])
            assert end is not None
            close = m.end() + end.start()
            total = len(self.xfs) + len(self.new_xfs)
            opening = _set_attr(m.group(0), "count", str(total))
            text = (
                text[: m.start()]
                + opening
                + text[m.end() : close]
                + "".join(self.new_xfs)
                + text[close:]
            )
        return text.encode("utf-8")


def _open_tag(element: str) -> str:
    """``<xf a="1">`` of ``<xf a="1">...</xf>`` (or the whole of ``<xf a="1"/>``)."""
    return element[: element.index(">") + 1]


def _set_attr(tag: str, name: str, value: str) -> str:
    pattern = re.compile(rf'(\s{re.escape(name)}\s*=\s*")[^"]*(")')
    if pattern.search(tag):
        return pattern.sub(lambda m: m.group(1) + value + m.group(2), tag, count=1)
    close = "/>" if tag.endswith("/>") else ">"
    return tag[: -len(close)].rstrip() + f' {name}="{value}"' + close


def _del_attr(tag: str, name: str) -> str:
    return re.sub(rf'\s{re.escape(name)}\s*=\s*"[^"]*"', "", tag, count=1)


# ---------------------------------------------------------------- one worksheet


_CELL_REF_RE = re.compile(r"^([A-Z]{1,3})(\d+)$")


@dataclass
class _Row:
    number: int
    open_tag: str  # "<row ...>" (self-closing rows are opened for the edit)
    cells: dict[int, str]  # column -> the cell's XML


class _Sheet:
    """One worksheet part: the rows a write touches are parsed, the rest kept as text."""

    def __init__(
        self,
        xml: bytes,
        styles: _Styles,
        formats: Formats,
        excel_value: Callable[[object], object],
        date1904: bool,
    ) -> None:
        self.text = xml.decode("utf-8")
        self.styles = styles
        self.formats = formats
        self.excel_value = excel_value
        self.epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
        root = re.search(r"<((?:\w+:)?)worksheet\b", self.text)
        if root is None:
            raise InPlaceUnsupported("not a worksheet part")
        self.p = root.group(1)
        p = re.escape(self.p)
        data = re.search(rf"<{p}sheetData\b[^>]*?(/>|>)", self.text)
        if data is None:
            raise InPlaceUnsupported("a worksheet without sheetData")
        self.data_start = data.start()
        if data.group(1) == "/>":
            self.data_end = data.end()
            self.data_open = f"<{self.p}sheetData>"
            body = ""
        else:
            close = self.text.find(f"</{self.p}sheetData>", data.end())
            if close < 0:
                raise InPlaceUnsupported("sheetData is not closed")
            self.data_end = close + len(f"</{self.p}sheetData>")
            self.data_open = data.group(0)
            body = self.text[data.end() : close]
        self._row_re = re.compile(rf"<{p}row\b([^>]*?)(?:/>|>(.*?)</{p}row>)", re.S)
        self._cell_re = re.compile(rf"<{p}c\b([^>]*?)(?:/>|>(.*?)</{p}c>)", re.S)
        # row number -> (start, end) of its text in the body; parsed only when written
        self.body = body
        self.row_spans: dict[int, tuple[int, int]] = {}
        for m in self._row_re.finditer(body):
            r = _attrs(m.group(1)).get("r")
            if r is None or not r.isdigit():
                raise InPlaceUnsupported("a row without a row number")
            self.row_spans[int(r)] = (m.start(), m.end())
        self.rows: dict[int, _Row] = {}
        self.merged = [
            range_boundaries(_attrs(m.group(1))["ref"])
            for m in re.finditer(rf"<{p}mergeCell\s([^>]*?)/?>", self.text)
            if ":" in _attrs(m.group(1)).get("ref", "")
        ]
        self.overwrote_formula = False
        self.max_row = 0
        self.max_col = 0
        self.new_widths: dict[int, str] = {}
        self.filter_ref: tuple[str, str] | None = None
        #: cell reference -> its link's location, or None: the cell's link removed
        self.link_cells: dict[str, str | None] = {}

    @property
    def last_row(self) -> int:
        return self.max_row

    # ------------------------------------------------------------ writing

    def write(self, tab: TabWrite, skipped: list[Skipped]) -> None:
        self.max_row = tab.last_row
        for c in tab.cells:
            if self._inside_merge(c.row, c.col):
                skipped.append(
                    Skipped(tab.title, f"{get_column_letter(c.col)}{c.row}", MERGED_REASON)
                )
                continue
            row = self._row(c.row)
            old = row.cells.get(c.col)
            # a new cell takes its column's style, as one typed into Excel does
            style = _cell_style(old) if old is not None else self._column_style(c.col)
            if c.row == 1 and c.col > tab.header_width:
                style = self._header_style(tab.header_width, c.col, style)
            elif (
                c.row > 1
                and c.col in tab.formats
                and c.value is not None
                and self.styles.number_format(style) == "General"
            ):
                style = self.styles.derive(style, tab.formats[c.col], None)
            if old is not None and "<" + self.p + "f" in old:
                self._check_formula(old)
                self.overwrote_formula = True
            if tab.link_column and c.col == tab.link_column and c.row > 1:
                location = tab.links.get((c.row, c.col)) if c.value is not None else None
                self.link_cells[f"{get_column_letter(c.col)}{c.row}"] = location
                if location is not None:
                    style = self.styles.linked(style)  # blue, underlined: a link
            new = self._cell_xml(c.row, c.col, c.value, style)
            if new is None:
                row.cells.pop(c.col, None)
            else:
                row.cells[c.col] = new
            self.max_row = max(self.max_row, c.row)
            self.max_col = max(self.max_col, c.col)

        for col, width in tab.widths.items():
            if self._width_covering(col) is None:  # ours, over the copied team width
                self.new_widths[col] = f"{width:g}"
        self._dress_headers(tab.service_columns)
        self.filter_ref = self._grown_filter() if tab.grow_filter else None

    def _dress_headers(self, columns: Iterable[int]) -> None:
        """Service headers in the service's colours, once: a header that has them is
        left as it is (row 1 is not even rebuilt), so only the first write changes it."""
        columns = [c for c in columns if not self._inside_merge(1, c)]
        if not columns or (1 not in self.row_spans and 1 not in self.rows):
            return
        row = self._row(1)
        for col in columns:
            cell = row.cells.get(col)
            if cell is None or "<" + self.p + "f" in cell:
                continue  # no header there (or a formula): nothing to dress
            style = _cell_style(cell)
            if self.styles.is_dressed(style):
                continue
            tag = _open_tag(cell)
            new_tag = _set_attr(tag, "s", str(self.styles.dressed(style)))
            row.cells[col] = new_tag + cell[len(tag) :]
            self.max_col = max(self.max_col, col)

    def _column_style(self, col: int) -> int:
        element = self._width_covering(col)
        if element is None:
            return 0
        style = _attrs(element).get("style", "0")
        return int(style) if style.isdigit() else 0

    def _grown_filter(self) -> tuple[str, str] | None:
        """(old ref, new ref) of the tab's filter when rows were added below it."""
        p = re.escape(self.p)
        m = re.search(rf"<{p}autoFilter\s([^>]*?)/?>", self.text)
        if m is None:
            return None
        ref = _attrs(m.group(1)).get("ref", "")
        try:
            min_col, min_row, max_col, max_row = range_boundaries(ref)
        except (ValueError, TypeError):
            return None
        if None in (min_col, min_row, max_col, max_row) or self.max_row <= max_row:
            return None
        new = f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{self.max_row}"
        return ref, new

    def _inside_merge(self, row: int, col: int) -> bool:
        for min_col, min_row, max_col, max_row in self.merged:
            if min_row <= row <= max_row and min_col <= col <= max_col:
                return (row, col) != (min_row, min_col)
        return False

    def _row(self, number: int) -> _Row:
        row = self.rows.get(number)
        if row is not None:
            return row
        span = self.row_spans.get(number)
        if span is None:
            row = _Row(number, f'<{self.p}row r="{number}">', {})
        else:
            m = self._row_re.match(self.body, span[0])
            assert m is not None
            open_tag = _del_attr(f"<{self.p}row{m.group(1)}>", "spans")
            cells: dict[int, str] = {}
            for cm in self._cell_re.finditer(m.group(2) or ""):
                ref = _attrs(cm.group(1)).get("r")
                found = _CELL_REF_RE.match(ref or "")
                if found is None:
                    raise InPlaceUnsupported("a cell without a cell reference")
                cells[column_index_from_string(found.group(1))] = cm.group(0)
            row = _Row(number, open_tag, cells)
        self.rows[number] = row
        return row

    def _check_formula(self, cell: str) -> None:
        f = re.search(rf"<{re.escape(self.p)}f\b([^>]*)", cell)
        a = _attrs(f.group(1)) if f else {}
        if a.get("t") == "array" or (a.get("t") == "shared" and "ref" in a):
            # other cells hang on this one's formula: openpyxl rewrites them one by one
            raise InPlaceUnsupported("a write over the master cell of a shared or array formula")

    def _header_style(self, header_width: int, col: int, style: int) -> int:
        """A new service column's header looks like the team's last header."""
        if not header_width:
            return style
        model = self._row(1).cells.get(header_width)
        model_style = _cell_style(model) if model is not None else 0
        width = self._custom_width(header_width)
        if width is not None and self._width_covering(col) is None:
            self.new_widths[col] = width
        return model_style or style

    def _cell_xml(self, row: int, col: int, value: object, style: int) -> str | None:
        ref = f"{get_column_letter(col)}{row}"
        value = self.excel_value(_plain(value))
        if value is not None and not isinstance(
            value, str | bool | int | float | datetime | date | time
        ):
            value = self.excel_value(str(value))  # a type Excel cannot hold: its text
        if value == "":
            value = None  # a blank cell, as openpyxl saves one: no value, the style kept
        if isinstance(value, str):
            style = (
                self.styles.derive(style, None, True)
                if value.startswith(FORMULA_PREFIXES)
                else style
            )
        elif style and self.styles.quote_prefix(style):
            style = self.styles.derive(style, None, False)
        if isinstance(value, datetime | date | time):
            current = self.styles.number_format(style)
            if current in self.formats.ours or not is_date_format(current):
                style = self.styles.derive(style, self.formats.for_value(value), None)
        s = f' s="{style}"' if style else ""
        p = self.p
        if value is None:
            return f'<{p}c r="{ref}"{s}/>' if style else None
        if isinstance(value, str):
            space = ' xml:space="preserve"' if value != value.strip() or "\n" in value else ""
            text = html.escape(value, quote=False)
            return (
                f'<{p}c r="{ref}"{s} t="inlineStr"><{p}is><{p}t{space}>{text}</{p}t></{p}is></{p}c>'
            )
        if isinstance(value, bool):
            return f'<{p}c r="{ref}"{s} t="b"><{p}v>{int(value)}</{p}v></{p}c>'
        if isinstance(value, datetime | date | time):
            serial = to_excel(value, self.epoch)
            return f'<{p}c r="{ref}"{s}><{p}v>{_number(serial)}</{p}v></{p}c>'
        return f'<{p}c r="{ref}"{s}><{p}v>{_number(value)}</{p}v></{p}c>'

    # ------------------------------------------------------------ columns

    def _cols(self) -> list[tuple[int, int, str]]:
        """(first, last, the <col> element) of every column range."""
        p = re.escape(self.p)
        block = re.search(rf"<{p}cols\b[^>]*>(.*?)</{p}cols>", self.text, re.S)
        if block is None:
            return []
        out = []
        for m in re.finditer(rf"<{p}col\s([^>]*?)/?>", block.group(1)):
            a = _attrs(m.group(1))
            out.append((int(a.get("min", "0")), int(a.get("max", "0")), m.group(0)))
        return out

    def _width_covering(self, col: int) -> str | None:
        for first, last, element in self._cols():
            if first <= col <= last:
                return element
        return None

    def _custom_width(self, col: int) -> str | None:
        element = self._width_covering(col)
        if element is None:
            return None
        a = _attrs(element)
        if a.get("customWidth") in ("1", "true") and "width" in a:
            return a["width"]
        return None

    # ------------------------------------------------------------ the new part

    def xml(self) -> bytes:
        head = self._with_widths(self._with_dimension(self.text[: self.data_start]))
        close = f"</{self.p}sheetData>"
        # what this write made must be well-formed XML (the rest is as it was)
        rebuilt = "".join(self._row_xml(self.rows[n]) for n in sorted(self.rows))
        _check_well_formed(
            "a worksheet", f"{head}{self.data_open}{rebuilt}{close}</{self.p}worksheet>".encode()
        )
        tail = self.text[self.data_end :]
        if self.filter_ref is not None:
            # rows added below the tab's filter join it, as they would in Excel
            old, new = self.filter_ref
            tail = re.sub(
                rf"(<{re.escape(self.p)}autoFilter\s[^>]*?\bref=\"){re.escape(old)}\"",
                lambda m: f'{m.group(1)}{new}"',
                tail,
                count=1,
            )
        if self.link_cells:
            tail = self._with_hyperlinks(tail)
        text = head + self.data_open + self._body() + close + tail
        return text.encode("utf-8")

    def _with_hyperlinks(self, tail: str) -> str:
        """The part after sheetData with the written cells' links set or removed: a
        ``<hyperlinks>`` entry with a ``location`` (a place in this workbook needs no
        relationship); the links of other cells are kept as they were."""
        p = self.p
        ep = re.escape(p)
        block = re.search(rf"<{ep}hyperlinks\b[^>]*?(?:/>|>(.*?)</{ep}hyperlinks>)", tail, re.S)
        kept: list[str] = []
        if block is not None:
            for m in re.finditer(
                rf"<{ep}hyperlink\b([^>]*?)(?:/>|>.*?</{ep}hyperlink>)", block.group(1) or "", re.S
            ):
                if _attrs(m.group(1)).get("ref") not in self.link_cells:
                    kept.append(m.group(0))
            tail = tail[: block.start()] + tail[block.end() :]
        ours = [
            f'<{p}hyperlink ref="{ref}" location="{html.escape(loc, quote=True)}" '
            f'display="{html.escape(loc, quote=True)}"/>'
            for ref, loc in sorted(self.link_cells.items(), key=lambda i: _ref_order(i[0]))
            if loc is not None
        ]
        if not kept and not ours:
            return tail
        element = f"<{p}hyperlinks>{''.join(kept + ours)}</{p}hyperlinks>"
        # CT_Worksheet order: hyperlinks come after dataValidations, before printOptions
        after = re.search(rf"<{ep}(?:{'|'.join(_AFTER_HYPERLINKS)})\b", tail)
        at = after.start() if after is not None else tail.rfind(f"</{p}worksheet>")
        if at < 0:
            raise InPlaceUnsupported("a worksheet part that does not end")
        return tail[:at] + element + tail[at:]

    def _body(self) -> str:
        pieces: list[str] = []
        pos = 0
        written = sorted(self.rows)
        existing = sorted(self.row_spans)
        # walk the existing rows in order, splicing in the rebuilt and new ones
        new_rows = [r for r in written if r not in self.row_spans]
        ni = 0
        for number in existing:
            start, end = self.row_spans[number]
            while ni < len(new_rows) and new_rows[ni] < number:
                pieces.append(self.body[pos:start])
                pos = start
                pieces.append(self._row_xml(self.rows[new_rows[ni]]))
                ni += 1
            if number in self.rows:
                pieces.append(self.body[pos:start])
                pieces.append(self._row_xml(self.rows[number]))
                pos = end
        pieces.append(self.body[pos:])
        for number in new_rows[ni:]:
            pieces.append(self._row_xml(self.rows[number]))
        return "".join(pieces)

    def _row_xml(self, row: _Row) -> str:
        cells = "".join(row.cells[c] for c in sorted(row.cells))
        return f"{row.open_tag}{cells}</{self.p}row>"

    def _with_dimension(self, head: str) -> str:
        p = re.escape(self.p)
        m = re.search(rf"<{p}dimension\s([^>]*?)/?>", head)
        if m is None or not self.rows:
            return head
        ref = _attrs(m.group(1)).get("ref", "A1")
        try:
            min_col, min_row, max_col, max_row = range_boundaries(
                ref.split(":")[0] + ":" + ref.split(":")[-1]
            )
        except (ValueError, TypeError):
            return head
        max_col = max(max_col or 1, self.max_col)
        max_row = max(max_row or 1, self.max_row)
        new_ref = (
            f"{get_column_letter(min_col or 1)}{min_row or 1}:{get_column_letter(max_col)}{max_row}"
        )
        tag = _set_attr(m.group(0), "ref", new_ref)
        return head[: m.start()] + tag + head[m.end() :]

    def _with_widths(self, head: str) -> str:
        if not self.new_widths:
            return head
        p = self.p
        new = [
            (col, col, f'<{p}col min="{col}" max="{col}" width="{w}" customWidth="1"/>')
            for col, w in sorted(self.new_widths.items())
        ]
        block = re.search(rf"<{re.escape(p)}cols\b[^>]*>(.*?)</{re.escape(p)}cols>", head, re.S)
        if block is None:
            elements = "".join(e for _, _, e in new)
            return head + f"<{p}cols>{elements}</{p}cols>"
        merged = sorted([*self._cols(), *new], key=lambda c: c[0])
        elements = "".join(e for _, _, e in merged)
        return head[: block.start(1)] + elements + head[block.end(1) :]


#: the worksheet elements that follow <hyperlinks> (ECMA-376 CT_Worksheet order)
_AFTER_HYPERLINKS = (
    "printOptions",
    "pageMargins",
    "pageSetup",
    "headerFooter",
    "rowBreaks",
    "colBreaks",
    "customProperties",
    "cellWatches",
    "ignoredErrors",
    "smartTags",
    "drawing",
    "legacyDrawing",
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
)


def _ref_order(ref: str) -> tuple[int, int]:
    m = _CELL_REF_RE.match(ref)
    return (int(m.group(2)), column_index_from_string(m.group(1))) if m else (0, 0)


def _plain(value: object) -> object:
    """numpy and Decimal numbers as the Python numbers openpyxl would store."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def _cell_style(cell: str | None) -> int:
    if cell is None:
        return 0
    m = re.match(r'<(?:\w+:)?c\b[^>]*?\ss="(\d+)"', cell)
    return int(m.group(1)) if m else 0


def _number(value: object) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InPlaceUnsupported("a number Excel cannot hold")
        return repr(value)
    return str(value)


# ---------------------------------------------------------------- charts

SHEET_DRAWING_NS = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
DRAWING_REL = REL_NS + "/drawing"
CHART_REL = REL_NS + "/chart"
DRAWING_TYPE = "application/vnd.openxmlformats-officedocument.drawing+xml"
CHART_TYPE = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"
_ANCHOR_RE = re.compile(
    r"<((?:\w+:)?)(twoCellAnchor|oneCellAnchor|absoluteAnchor)\b.*?</\1\2>", re.S
)
#: elements a worksheet may hold after <drawing>: a new <drawing> goes before them
_AFTER_DRAWING = (
    "legacyDrawing",
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
)


class _SheetView:
    """Just enough of an openpyxl worksheet for building a chart from written cells."""

    class _Cell:
        def __init__(self, value: object, column: int) -> None:
            self.value = value
            self.column = column

    def __init__(self, title: str, values: _SheetValues) -> None:
        self.title = title
        self._values = values
        self.max_row = values.last_used_row()
        self._columns: dict[int, dict[int, object]] = {}

    def __getitem__(self, row: int) -> list[_SheetView._Cell]:
        return [self._Cell(v, i) for i, v in enumerate(self._values.row_values(row), start=1)]

    def cell(self, row: int, column: int) -> _SheetView._Cell:
        if column not in self._columns:
            found = self._values.cells({column}, 1, self.max_row)
            self._columns[column] = {r: v for r, _, v in found}
        return self._Cell(self._columns[column].get(row), column)


def _draw_charts(
    package: Package,
    changed: dict[str, bytes],
    removed: set[str],
    charts: Sequence[ChartSpec],
    build_chart: Callable[[Any, ChartSpec], Any],
) -> None:
    by_title: dict[str, list[ChartSpec]] = {}
    for spec in charts:
        title = package.title_of(spec.tab)
        if title is not None:
            by_title.setdefault(title, []).append(spec)
    for title, specs in by_title.items():
        part = package.sheets[title]
        view = _SheetView(title, _SheetValues(package, changed.get(part, package.parts[part])))
        drawn = [(spec, chart) for spec in specs if (chart := build_chart(view, spec)) is not None]
        if drawn:
            _Drawing(package, changed, removed, part).replace(drawn)


class _Drawing:
    """The drawing part of one worksheet: charts the service draws replace the ones of
    the same title; every other anchor (a person's chart, a picture) is kept as is."""

    def __init__(
        self, package: Package, changed: dict[str, bytes], removed: set[str], sheet: str
    ) -> None:
        self.package = package
        self.changed = changed
        self.removed = removed
        self.sheet = sheet
        existing = [t for k, t, _ in self._targets(sheet) if k == DRAWING_REL]
        if existing:
            self.part = existing[0]
            self.xml = self._get(self.part).decode("utf-8")
        else:
            self.part = self._free_name("xl/drawings/drawing{}.xml")
            self.xml = (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<xdr:wsDr xmlns:xdr="{SHEET_DRAWING_NS}" '
                'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"></xdr:wsDr>'
            )
            rid = self._add_relationship(sheet, DRAWING_REL, self.part)
            self._put(sheet, _with_drawing(self._get(sheet).decode("utf-8"), rid).encode())
            self._add_override(self.part, DRAWING_TYPE)

    # ------------------------------------------------------------ package helpers

    def _get(self, name: str) -> bytes:
        return self.changed.get(name, self.package.parts.get(name, b""))

    def _put(self, name: str, data: bytes) -> None:
        self.changed[name] = data
        self.removed.discard(name)

    def _exists(self, name: str) -> bool:
        return name not in self.removed and (name in self.changed or name in self.package.parts)

    def _free_name(self, pattern: str) -> str:
        n = 1
        while self._exists(pattern.format(n)):
            n += 1
        return pattern.format(n)

    def _targets(self, part: str) -> list[tuple[str, str, str]]:
        rels = _rels_name(part)
        if not self._exists(rels):
            return []
        return _rel_targets(self._get(rels), posixpath.dirname(part))

    def _add_relationship(self, source: str, kind: str, target: str) -> str:
        rels = _rels_name(source)
        text = (
            self._get(rels).decode("utf-8")
            if self._exists(rels)
            else f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Relationships xmlns="{RELS_NS}"></Relationships>'
        )
        used = set(re.findall(r'\bId="([^"]+)"', text))
        n = 1
        while f"rId{n}" in used:
            n += 1
        rid = f"rId{n}"
        relative = posixpath.relpath(target, posixpath.dirname(source))
        element = f'<Relationship Id="{rid}" Type="{kind}" Target="{relative}"/>'
        close = re.search(r"</(?:\w+:)?Relationships>\s*$", text)
        if close is None:
            raise InPlaceUnsupported(f"{rels} is not a relationships part")
        self._put(rels, (text[: close.start()] + element + text[close.start() :]).encode())
        return rid

    def _add_override(self, part: str, content_type: str) -> None:
        name = "[Content_Types].xml"
        text = self._get(name).decode("utf-8")
        element = f'<Override PartName="/{part}" ContentType="{content_type}"/>'
        close = text.rindex("</")
        self._put(name, (text[:close] + element + text[close:]).encode())

    def _remove_part(self, part: str) -> None:
        """A chart part we replace, its relationships, and what only it used."""
        own = [t for _, t, _ in self._targets(part)]
        self.removed.update({part, _rels_name(part)})
        self.changed.pop(part, None)
        name = "[Content_Types].xml"
        self._put(name, _drop_override(self._get(name), part))
        for target in own:
            if target.startswith("xl/charts/") and not self._referenced(target):
                self._remove_part(target)

    def _referenced(self, target: str) -> bool:
        base = posixpath.basename(target).encode()
        names = set(self.package.parts) | set(self.changed)
        return any(
            n.endswith(".rels") and n not in self.removed and base in self._get(n) for n in names
        )

    # ------------------------------------------------------------ charts

    def replace(self, drawn: Sequence[tuple[ChartSpec, Any]]) -> None:
        titles = {spec.title for spec, _ in drawn}
        by_id = {rid: t for k, t, rid in self._targets(self.part) if k == CHART_REL}
        kept: list[str] = []
        pos = 0
        for m in _ANCHOR_RE.finditer(self.xml):
            rid = re.search(r'<(?:\w+:)?chart\b[^>]*?\b(?:\w+:)?id="([^"]+)"', m.group(0))
            target = by_id.get(rid.group(1)) if rid else None
            if target is not None and _chart_part_title(self._get(target)) in titles:
                kept.append(self.xml[pos : m.start()])
                pos = m.end()
                self._drop_relationship_to(target)
                self._remove_part(target)
        kept.append(self.xml[pos:])
        xml = "".join(kept)
        next_id = max(
            [0, *(int(i) for i in re.findall(r'<(?:\w+:)?cNvPr\b[^>]*?\bid="(\d+)"', xml))]
        )
        anchors = []
        for spec, chart in drawn:
            chart_part = self._free_name("xl/charts/chart{}.xml")
            self._put(chart_part, _chart_xml(chart))
            self._add_override(chart_part, CHART_TYPE)
            rid = self._add_relationship(self.part, CHART_REL, chart_part)
            next_id += 1
            anchors.append(_anchor_xml(chart, spec.anchor, rid, next_id))
        close = re.search(r"</(?:\w+:)?wsDr>\s*$", xml)
        if close is None:
            raise InPlaceUnsupported("the drawing part does not end as expected")
        xml = xml[: close.start()] + "".join(anchors) + xml[close.start() :]
        self._put(self.part, xml.encode("utf-8"))

    def _drop_relationship_to(self, target: str) -> None:
        rels = _rels_name(self.part)
        self._put(rels, _drop_relationship(self._get(rels), target, self.part))


def _chart_part_title(xml: bytes) -> str:
    """The title of a chart part, as openpyxl reads it: the runs of its rich text."""
    text = xml.decode("utf-8", errors="replace")
    chart = re.search(r"<(?:\w+:)?chart>(.*?)<(?:\w+:)?plotArea\b", text, re.S)
    if chart is None:
        return ""
    title = re.search(r"<(?:\w+:)?title>(.*?)</(?:\w+:)?title>", chart.group(1), re.S)
    if title is None:
        return ""
    return "".join(html.unescape(t) for t in re.findall(r"<a:t>(.*?)</a:t>", title.group(1), re.S))


def _chart_xml(chart: Any) -> bytes:
    from openpyxl.xml.functions import tostring

    return b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + tostring(chart._write())


def _anchor_xml(chart: Any, cell: str, rid: str, shape_id: int) -> str:
    """The anchor openpyxl would write for the chart, pointing at ``rid``."""
    from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
    from openpyxl.xml.functions import tostring

    chart.anchor = cell
    drawing = SpreadsheetDrawing()
    drawing.charts.append(chart)
    (anchor,) = list(drawing._write())
    xml = tostring(anchor).decode("utf-8")
    # openpyxl's anchor takes its namespace from its parent: give it its own
    xml = re.sub(r"^<(\w+)", rf'<\1 xmlns="{SHEET_DRAWING_NS}"', xml, count=1)
    xml = xml.replace('r:id="rId1"', f'r:id="{rid}"')
    return re.sub(
        r'<cNvPr id="1" name="Chart 1"', f'<cNvPr id="{shape_id}" name="Chart {shape_id}"', xml
    )


def _with_drawing(sheet: str, rid: str) -> str:
    """The worksheet with a <drawing> element in the place the schema gives it."""
    root = re.search(r"<((?:\w+:)?)worksheet\b", sheet)
    p = root.group(1) if root else ""
    element = f'<{p}drawing xmlns:r="{REL_NS}" r:id="{rid}"/>'
    for name in _AFTER_DRAWING:
        m = re.search(rf"<{re.escape(p)}{name}\b", sheet)
        if m is not None:
            return sheet[: m.start()] + element + sheet[m.start() :]
    close = sheet.rindex(f"</{p}worksheet>")
    return sheet[:close] + element + sheet[close:]


# ---------------------------------------------------------------- other parts


def _grow_table(xml: bytes, old_last: int, new_last: int) -> bytes | None:
    """Rows appended just below an Excel table join it, as they would in Excel."""
    if new_last <= old_last:
        return None
    text = xml.decode("utf-8")
    root = re.search(r"<(?:\w+:)?table\s([^>]*)>", text)
    if root is None:
        return None
    a = _attrs(root.group(1))
    try:
        min_col, min_row, max_col, max_row = range_boundaries(a.get("ref", ""))
    except (ValueError, TypeError):
        return None
    if (
        min_row != 1
        or max_row < old_last
        or max_row >= new_last
        or a.get("totalsRowCount", "0") not in ("0", "")
    ):
        return None
    ref = f"{get_column_letter(min_col)}1:{get_column_letter(max_col)}{new_last}"
    text = text[: root.start()] + _set_attr(root.group(0), "ref", ref) + text[root.end() :]
    flt = re.search(r"<(?:\w+:)?autoFilter\s[^>]*?/?>", text)
    if flt is not None:
        text = text[: flt.start()] + _set_attr(flt.group(0), "ref", ref) + text[flt.end() :]
    return text.encode("utf-8")


def _grow_filter_names(xml: bytes, grown: Mapping[str, tuple[str, str]]) -> bytes:
    """The hidden ``_xlnm._FilterDatabase`` name of each grown filter follows it
    (LibreOffice takes a filter's rows from that name)."""
    for title, (old, new) in grown.items():
        quoted = "'" + title.replace("'", "''") + "'"

        def absolute(ref: str) -> str:
            return ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", part) for part in ref.split(":"))

        for name in {html.escape(quoted, quote=False), html.escape(title, quote=False)}:
            before = f"{name}!{absolute(old)}<".encode()
            xml = xml.replace(before, f"{name}!{absolute(new)}<".encode())
    return xml


def _full_calc_on_load(xml: bytes) -> bytes:
    """Ask Excel to recalculate formulas when it opens the file: their inputs changed."""
    text = xml.decode("utf-8")
    m = re.search(r"<((?:\w+:)?)calcPr\b[^>]*?/?>", text)
    if m is not None:
        tag = _set_attr(m.group(0), "fullCalcOnLoad", "1")
        return (text[: m.start()] + tag + text[m.end() :]).encode("utf-8")
    root = re.search(r"<((?:\w+:)?)workbook\b", text)
    prefix = root.group(1) if root else ""
    for after in ("definedNames", "externalReferences", "functionGroups", "sheets"):
        end = re.search(rf"</(?:\w+:)?{after}>", text)
        if end is not None:
            tag = f'<{prefix}calcPr fullCalcOnLoad="1"/>'
            return (text[: end.end()] + tag + text[end.end() :]).encode("utf-8")
    return xml


def _drop_relationship(rels: bytes, target_part: str, source_part: str) -> bytes:
    folder = posixpath.dirname(source_part)

    def keep(m: re.Match[bytes]) -> bytes:
        a = _attrs(m.group(1))
        target = a.get("Target", "")
        resolved = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(folder, target))
        )
        return b"" if resolved == target_part else m.group(0)

    return _REL_RE.sub(keep, rels)


def _drop_override(content_types: bytes, part: str) -> bytes:
    pattern = rb'<(?:\w+:)?Override\s[^>]*PartName="/' + re.escape(part.encode()) + rb'"[^>]*?/>'
    return re.sub(pattern, b"", content_types)
