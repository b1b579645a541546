"""Cells and tabs as read from any backend: the value types, the header and key
forms every comparison uses, and a tab's grid. Pure, so the domain and the
parsers can use them without touching a backend."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

Cell = str | int | float | bool | datetime | date | time | None


def normalise_header(text: Any) -> str:
    """Header comparison form: case, spaces, `_`, `-` and `.` do not matter."""
    return _normalised(str(text or ""))


@functools.lru_cache(maxsize=8192)
def _normalised(text: str) -> str:
    # headers repeat endlessly (every write names its columns): remembered, not redone
    return _HEADER_NOISE.sub("", text).casefold()


_HEADER_NOISE = re.compile(r"[\s_\-.]+")


def key_text(value: Any) -> str:
    """The text form of a key cell, identical for what was read and what is re-read.

    Numbers typed into a key column (SKU 123, or 123.0 from a float-only source)
    become "123"; text keys stay exactly as typed apart from surrounding spaces,
    so "00123" stays "00123".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


#: A merged range: (first row, first column, last row, last column), 1-based.
Merge = tuple[int, int, int, int]


@dataclass
class Grid:
    """One tab as read: ``rows[0]`` is row 1 of the sheet; ``rows[header_index]``
    the header row."""

    title: str
    rows: list[list[Cell]]
    #: merged ranges that take in a header cell (row 1); None when the backend cannot
    #: tell without another request (Google, outside a metadata read). A header cell
    #: merged into its left neighbour reads blank: its column has lost its header.
    merges: list[Merge] | None = None
    #: 0-based index into ``rows`` of the header row (a title row above the headers
    #: makes it 1); data rows follow it, and keep the sheet's row numbers
    header_index: int = 0

    @property
    def header(self) -> list[Cell]:
        return self.rows[self.header_index] if len(self.rows) > self.header_index else []
