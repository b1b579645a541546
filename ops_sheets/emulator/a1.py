"""A1 notation: parsing, formatting and sheet-title quoting the way Google does it.

Indexes in this module are 0-based and end indexes are *inclusive* (a resolved
``GridRect`` names the first and last cell); ``None`` in a parsed range means
"unbounded on that side" (``A:A`` has no rows, ``1:1`` no columns, ``A1:C`` no
end row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "A1ParseError",
    "A1Range",
    "GridRect",
    "col_to_index",
    "format_range",
    "index_to_col",
    "needs_quotes",
    "parse_a1",
    "parse_cells",
    "quote_title",
]

MAX_COLUMNS = 18278  # column ZZZ, the widest a Google sheet can be

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Titles that would read as a cell (D3) or an R1C1 reference (R1C1, RC) are
# quoted by Google even though they are plain identifiers: 'D3'!A1.
_CELL_LIKE = re.compile(r"[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*")
_PART = re.compile(r"(?:\$?(?P<col>[A-Za-z]{1,3}))?(?:\$?(?P<row>[0-9]+))?")


class A1ParseError(ValueError):
    """The text is not a range Google would accept."""


def col_to_index(letters: str) -> int:
    """``"A"`` -> 0, ``"Z"`` -> 25, ``"AA"`` -> 26 (case-insensitive)."""
    if not letters or not letters.isalpha():
        raise A1ParseError(f"not a column: {letters!r}")
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def index_to_col(index: int) -> str:
    """0 -> ``"A"``, 26 -> ``"AA"``."""
    if index < 0:
        raise ValueError(f"negative column index: {index}")
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def needs_quotes(title: str) -> bool:
    """Whether Google wraps this sheet title in single quotes when echoing a range."""
    return not _IDENTIFIER.fullmatch(title) or bool(_CELL_LIKE.fullmatch(title))


def quote_title(title: str, *, always: bool = False) -> str:
    """``Sheet1`` stays bare; ``My tab`` becomes ``'My tab'``; ``It's`` becomes ``'It''s'``."""
    if always or needs_quotes(title):
        return "'" + title.replace("'", "''") + "'"
    return title


@dataclass(frozen=True)
class GridRect:
    """A resolved rectangle of cells: 0-based, both ends inclusive."""

    row0: int
    col0: int
    row1: int
    col1: int

    @property
    def rows(self) -> int:
        return self.row1 - self.row0 + 1

    @property
    def cols(self) -> int:
        return self.col1 - self.col0 + 1

    def a1(self) -> str:
        """Cell part only: ``A1`` for one cell, ``A1:C3`` otherwise."""
        start = f"{index_to_col(self.col0)}{self.row0 + 1}"
        if self.row0 == self.row1 and self.col0 == self.col1:
            return start
        return f"{start}:{index_to_col(self.col1)}{self.row1 + 1}"


def format_range(title: str, rect: GridRect, *, always_quote: bool = False) -> str:
    """``Sheet1!A1:B2`` with Google's quoting rules."""
    return f"{quote_title(title, always=always_quote)}!{rect.a1()}"


@dataclass(frozen=True)
class A1Range:
    """A parsed range before it meets a grid.

    ``sheet`` is ``None`` when the text named no sheet (``A1`` means the first
    sheet).  ``sheet_only`` marks ``Sheet1`` / ``'My tab'`` without a cell part.
    ``ambiguous`` marks bare text like ``D3`` or ``Sheet1`` that could be either
    a sheet title or a cell reference: the store decides by looking for a sheet
    of that name first, as Google does.
    """

    sheet: str | None
    start_row: int | None = None
    start_col: int | None = None
    end_row: int | None = None
    end_col: int | None = None
    sheet_only: bool = False
    ambiguous: bool = False

    def resolve(self, row_count: int, col_count: int) -> GridRect:
        """Fill unbounded sides from the grid size (``A:A`` -> ``A1:A1000``)."""
        if self.sheet_only:
            return GridRect(0, 0, max(row_count - 1, 0), max(col_count - 1, 0))
        r0 = self.start_row if self.start_row is not None else 0
        c0 = self.start_col if self.start_col is not None else 0
        r1 = self.end_row if self.end_row is not None else row_count - 1
        c1 = self.end_col if self.end_col is not None else col_count - 1
        return GridRect(min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1))

    def bounded_end(self) -> tuple[int | None, int | None]:
        """The explicitly given last row/column, used for grid-limit checks."""
        if self.sheet_only:
            return None, None
        rows = [x for x in (self.start_row, self.end_row) if x is not None]
        cols = [x for x in (self.start_col, self.end_col) if x is not None]
        return (max(rows) if rows else None, max(cols) if cols else None)


def _parse_part(text: str) -> tuple[int | None, int | None]:
    m = _PART.fullmatch(text)
    if not m or not text or text == "$":
        raise A1ParseError(text)
    col = col_to_index(m["col"]) if m["col"] else None
    row = int(m["row"]) - 1 if m["row"] else None
    if row is not None and row < 0:
        raise A1ParseError(text)
    if col is not None and col >= MAX_COLUMNS:
        raise A1ParseError(text)
    return row, col


def parse_cells(text: str) -> A1Range:
    """Parse the part after ``!``: ``A1``, ``A1:B2``, ``A:A``, ``1:1``, ``A1:C``, ``A2:2``."""
    if ":" not in text:
        row, col = _parse_part(text)
        if row is None or col is None:  # a lone "A" or "1" is a named range, not A1
            raise A1ParseError(text)
        return A1Range(None, row, col, row, col)
    left, _, right = text.partition(":")
    r0, c0 = _parse_part(left)
    r1, c1 = _parse_part(right)
    if r0 is None and c0 is None:
        raise A1ParseError(text)
    # "A:B2" reads as "A1:B2"; "1:B2" as "A1:B2": a missing start is the grid start.
    if r0 is None and r1 is not None:
        r0 = 0
    if c0 is None and c1 is not None:
        c0 = 0
    return A1Range(None, r0, c0, r1, c1)


def _split_quoted(text: str) -> tuple[str, str | None]:
    """``'It''s'!A1`` -> (``It's``, ``A1``); the cell part is None if absent."""
    i = 1
    out = []
    while i < len(text):
        ch = text[i]
        if ch == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            rest = text[i + 1 :]
            if rest == "":
                return "".join(out), None
            if rest.startswith("!"):
                return "".join(out), rest[1:]
            raise A1ParseError(text)
        out.append(ch)
        i += 1
    raise A1ParseError(text)  # no closing quote


def parse_a1(text: str) -> A1Range:
    """Parse a full range as the API receives it.

    Accepts ``Sheet1``, ``Sheet1!A1:B2``, ``'My tab'!B2:D``, ``A1`` and also
    unquoted titles with spaces or emoji (``🌵 tab 1!A1``), which Google accepts
    on input although it always quotes them on output.
    """
    text = text.strip()
    if not text:
        raise A1ParseError(text)
    if text.startswith("'"):
        title, cells = _split_quoted(text)
        if cells is None:
            return A1Range(title, sheet_only=True)
        return _with_sheet(parse_cells(cells), title)
    if "!" in text:
        title, _, cells = text.rpartition("!")
        if not title:
            raise A1ParseError(text)
        return _with_sheet(parse_cells(cells), title)
    try:
        parsed = parse_cells(text)
    except A1ParseError:
        return A1Range(text, sheet_only=True)
    return A1Range(
        text,
        parsed.start_row,
        parsed.start_col,
        parsed.end_row,
        parsed.end_col,
        ambiguous=True,
    )


def _with_sheet(cells: A1Range, title: str) -> A1Range:
    return A1Range(title, cells.start_row, cells.start_col, cells.end_row, cells.end_col)
