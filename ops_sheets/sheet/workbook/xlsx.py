"""The .xlsx backend: the team's workbook as a local file, read and written with openpyxl.

What it promises, and why:

* **Values in, values out.** ``read`` opens the file read-only with ``data_only=True``,
  so a formula cell gives the value Excel or LibreOffice cached when the file was
  last saved. The file is marked for recalculation when Excel opens it. A write
  in place (below) keeps the cached values; after a write through openpyxl, which
  cannot calculate, formula cells read as blank until someone opens and saves the
  file in Excel or LibreOffice. Jobs read the typed-in columns, so that is acceptable.
* **The sheet belongs to the team, and is edited in place.** A write that only
  puts cells on existing tabs (every job's write after the first) edits the file's
  XML parts (:mod:`.xlsx_parts`): the rows that change in the worksheets that get
  cells, a few cell formats added to the styles; every other part of the zip, and
  everything else in those worksheets, is kept byte for byte. So charts, shapes,
  pivot tables and extensions that Excel or LibreOffice wrote all survive, and a
  write costs time in proportion to the tabs it touches, not to the file.
  Charts a job draws (the weekly job's) go in place too: the tab's drawing gets
  them, replacing its charts of the same titles; its other drawings stay as they are.
* **openpyxl for the rest.** A write that creates tabs (``init``, a first run) or
  meets XML the in-place writer does not edit (e.g. a cell that is the master of a
  shared formula) loads and re-saves the whole file
  with openpyxl, setting only the planned cells: formatting, other tabs, formulas,
  data validation, conditional formatting, defined names and freeze panes survive.
  Data validations that Excel stores as an "x14" extension (typically a drop-down
  list taken from another tab), which openpyxl would drop, are converted to plain
  validations, which Excel 2010+ and LibreOffice read the same way.
* **Never lose what openpyxl cannot keep.** Before a copy saved by openpyxl replaces the
  original, both zip files are inventoried (charts, images, shapes, pivot tables,
  slicers, macros...). If anything would disappear, the copy is deleted, the
  original is untouched and :class:`UnsupportedContentError` says what and where.
  Charts that openpyxl wrote itself round-trip, so they pass: the comparison counts
  objects and chart elements, never bytes. What lives only on a tab the service
  owns wholly (Problems, Activity log, Daily KPIs, Weekly summary) is left out of
  the count: the service redraws its charts there, so our own chart re-saved by
  Excel or LibreOffice with their extensions never stops a run (issue 24).
* **Atomic and polite.** The new file is written next to the original, fsynced and
  renamed over it, so a crash leaves the old file or the new one, never half of
  one. A write refuses while Excel or LibreOffice has the file open (their lock
  files), and our own runs queue on an ``flock`` held from snapshot to save. If the
  file changes on disk between load and rename (someone saved it), the write is
  planned again from a fresh load, so their edit is never overwritten.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import math
import os
import posixpath
import re
import secrets
import stat
import time as _time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from openpyxl import Workbook as OpenpyxlBook
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, MergedCell
from openpyxl.cell.rich_text import CellRichText
from openpyxl.chart import BarChart, LineChart, Reference, Series
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.styles import Font
from openpyxl.styles.numbers import is_date_format, is_datetime
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.hyperlink import Hyperlink

from ops_sheets.errors import (
    SheetAccessError,
    UnsupportedContentError,
    WorkbookError,
    WorkbookLockedError,
)
from ops_sheets.sheet.looks import ColumnLook
from ops_sheets.sheet.workbook.base import (
    Cell,
    ChangeSet,
    ChartSpec,
    Grid,
    Skipped,
    TabSnapshot,
    Workbook,
    WritePlan,
    WriteReport,
    normalise_header,
    snapshot_from_rows,
)
from ops_sheets.sheet.workbook.xlsx_looks import columns_of, dress
from ops_sheets.sheet.workbook.xlsx_parts import (
    Formats,
    InPlaceUnsupported,
    Package,
    TabWrite,
    read_snapshot,
    write_in_place,
)

try:  # POSIX only; on Windows, Excel's own lock file is what serialises access
    import fcntl
except ImportError:  # pragma: no cover - exercised on Windows only
    fcntl = None  # type: ignore[assignment]

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "hh:mm"
#: Excel's limit for one cell; longer text makes Excel "repair" the file
MAX_TEXT = 32767
#: text starting with these is a formula to a person typing it into Excel
FORMULA_PREFIXES = ("=", "+", "-", "@")
#: times a write is planned again when the file changed under it
WRITE_ATTEMPTS = 3

T = TypeVar("T")
#: what XML the in-place writer did not expect raises: the write goes through openpyxl
_ODD_XML: tuple[type[Exception], ...] = (
    ValueError,  # UnicodeDecodeError among them
    KeyError,
    IndexError,
    AttributeError,
)
log = logging.getLogger(__name__)


class _FileChangedError(WorkbookError):
    """The file on disk is not the one we loaded: plan again from a fresh load."""


@dataclass
class _PendingWrite:
    """What ``snapshot`` read and ``apply`` writes: the file is read once per write."""

    original: bytes | None  # None: the file does not exist yet
    fingerprint: tuple[int, int, int] | None
    lock_fd: int | None
    #: the whole workbook in openpyxl, loaded only when the write goes that way
    book: Any = None
    #: the zip's parts, for snapshots and in-place writes (None: openpyxl does both)
    package: Package | None = None
    #: a read-only openpyxl view for snapshots the package cannot take
    reader: Any = None
    keep_vba: bool = False
    snapshots: dict[str, TabSnapshot] = field(default_factory=dict)
    #: the empty sheet openpyxl puts in a new workbook, removed once real tabs exist
    placeholder: Any = None
    #: the file as it is on disk, when ``original`` is held writes built on it:
    #: what a save is checked against for losses
    on_disk: bytes | None = None


@dataclass
class _HeldSave:
    """Writes kept in memory while :attr:`XlsxWorkbook.hold_saves` is on (``run all``)."""

    data: bytes  # the workbook as the held writes left it
    original: bytes  # the file as it was on disk when the first held write read it
    fingerprint: tuple[int, int, int]  # and its fingerprint then


class XlsxWorkbook(Workbook):
    """A local .xlsx file (see the module docstring for what is kept and why)."""

    #: how long a write waits for another ops-sheets run to finish with the file
    lock_wait_seconds: float = 5.0
    #: True: every write re-saves the whole file through openpyxl, as before the
    #: in-place writer (benchmarks compare the two; tests reach the openpyxl path)
    whole_file_writes: bool = False

    def __init__(self, path: Path | str, service_tabs: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        #: titles of the tabs the service owns wholly (Problems, Weekly summary...): what
        #: is on them is the service's to redraw, so it never stops a save. None: the
        #: default titles; a config that renames tabs passes its own.
        titles = _default_service_tabs() if service_tabs is None else service_tabs
        self.service_tabs: frozenset[str] = frozenset(t.casefold() for t in titles)
        #: test hook: called with the finished temp file just before it replaces the
        #: original (a test kills the process here to prove the write is atomic)
        self._before_replace: Callable[[Path], None] | None = None
        self._pending: _PendingWrite | None = None
        self._held: _HeldSave | None = None

    # ------------------------------------------------------------ reading

    def tab_titles(self) -> list[str]:
        book = self._load_values()
        try:
            return list(book.sheetnames)
        finally:
            book.close()

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        book = self._load_values()
        try:
            grids: dict[str, Grid] = {}
            for tab in tabs:
                ws = _find_sheet(book, tab)
                if ws is not None:
                    grids[tab] = Grid(ws.title, _read_values(ws), _header_merges(ws))
            return grids
        finally:
            book.close()

    def _load_values(self) -> Any:
        """Read-only, cached values: fast, and formulas give what Excel last computed."""
        if not self.path.exists():
            raise SheetAccessError(  # a path to fix, not a passing failure: exit 2
                f"workbook file {self.path} does not exist: create it with `ops-sheets init` "
                "(empty tabs with headers) or `ops-sheets demo` (sample data), "
                "or fix [workbook] path in the config"
            )
        return _open(self.path, _read_file(self.path), read_only=True, data_only=True)

    # ------------------------------------------------------------ writing

    def write(self, changes: ChangeSet, *, reuse_snapshot: bool = False) -> WriteReport:
        # A fresh look costs no API request here, so reuse_snapshot is ignored: every
        # write re-reads the file it is about to replace.
        return self._retrying(lambda: Workbook.write(self, changes))

    def ensure_layout(
        self,
        layout: Mapping[str, Sequence[str]],
        header_rows: Mapping[str, int] | None = None,
        looks: Mapping[str, dict[str, ColumnLook]] | None = None,
    ) -> list[str]:
        return self._retrying(lambda: Workbook.ensure_layout(self, layout, header_rows, looks))

    def snapshot(self, changes: ChangeSet) -> dict[str, TabSnapshot]:
        # A snapshot not followed by apply (nothing to do, or planning failed) must
        # not keep the lock, so any earlier one is released first.
        self._end_write()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = self._acquire_run_lock()
        try:
            self._refuse_if_open_elsewhere()
            self._remove_stale_temps()
            pending = self._load_for_write(lock_fd)
        except BaseException:
            _release(lock_fd)
            raise
        self._pending = pending
        try:
            for tab in changes.tabs:
                pending.snapshots[tab] = self._snapshot_tab(
                    pending, tab, _key_headers(changes, tab), changes.header_rows.get(tab, 1)
                )
        except BaseException:
            self._end_write()
            raise
        return dict(pending.snapshots)

    def apply(self, plan: WritePlan, changes: ChangeSet) -> None:
        pending = self._pending
        if pending is None:
            raise WorkbookError(f"{self.path}: apply() needs a snapshot() first")
        try:
            if self._apply_in_place(pending, plan, changes):
                return
            book = self._full_book(pending)
            for tab in plan.new_tabs:
                book.create_sheet(tab)  # appended after the team's tabs
            cells_by_tab = plan.by_tab()
            placeholder = pending.placeholder
            if placeholder is not None and plan.new_tabs and placeholder.title not in cells_by_tab:
                book.remove(placeholder)  # openpyxl's empty "Sheet" in a brand-new file
            for tab, cells in cells_by_tab.items():
                ws = _find_sheet(book, tab)
                assert ws is not None  # snapshot saw it, or it was just created
                snap = pending.snapshots[tab]
                looks = changes.looks.get(tab, {})
                _write_cells(
                    ws, cells, snap, new_tab=tab in plan.new_tabs, skipped=plan.skipped, looks=looks
                )
                if looks:
                    dress(ws, looks)
                if tab in plan.link_columns:
                    _write_links(ws, cells, plan.link_columns[tab], _link_locations(plan, tab))
            _draw_charts(book, changes.charts)
            self._save(pending, book.save)
            self._held = None  # the file now holds what was held, and this write
        finally:
            self._end_write()

    def _apply_in_place(self, pending: _PendingWrite, plan: WritePlan, changes: ChangeSet) -> bool:
        """Write only the worksheet parts that change (see :mod:`.xlsx_parts`).

        False when this write needs openpyxl: a new file or new tabs, or anything
        :func:`write_in_place` cannot edit safely.
        """
        package = pending.package
        if package is None or plan.new_tabs or self.whole_file_writes:
            return False
        tabs = []
        for tab, cells in plan.by_tab().items():
            snap = pending.snapshots[tab]
            header_width = max(
                (i for i, h in enumerate(snap.header, 1) if h not in (None, "")), default=0
            )
            looks = changes.looks.get(tab, {})
            formats, widths = _column_looks(snap.header, cells, looks)
            # a service header found without the service's fill gets it, as a new one
            dressed = _service_columns(snap.header, cells, looks) if snap.header_row == 1 else ()
            tabs.append(
                TabWrite(
                    package.title_of(tab) or tab,
                    cells,
                    header_width,
                    snap.last_row,
                    formats=formats,
                    widths=widths,
                    grow_filter=tab.casefold() in self.service_tabs,
                    link_column=plan.link_columns.get(tab, 0),
                    links=_link_locations(plan, tab),
                    service_columns=dressed,
                )
            )
        skipped: list[Skipped] = []
        try:
            data = write_in_place(
                package, tabs, _FORMATS, _excel_value, skipped, changes.charts, _build_chart
            )
        except InPlaceUnsupported as exc:
            log.debug("%s: writing with openpyxl: %s", self.path, exc)
            return False
        except _ODD_XML as exc:  # XML this writer did not expect: openpyxl, as before
            log.warning("%s: writing with openpyxl (%s: %s)", self.path, type(exc).__name__, exc)
            return False
        plan.skipped.extend(skipped)
        if self.hold_saves and pending.original is not None and pending.fingerprint is not None:
            held = self._held
            self._held = _HeldSave(
                data,
                held.original if held is not None else pending.original,
                pending.fingerprint,
            )
            return True
        self._save(pending, lambda fh: fh.write(data))
        self._held = None
        return True

    def flush(self) -> None:
        """Save the writes held in memory, in one save (see :attr:`hold_saves`).

        If the file changed on disk since they were made (someone saved it), they
        are dropped, never saved over the team's edit: they hold only what the
        service derives, and the next run writes it again.
        """
        held = self._held
        if held is None:
            return
        self._held = None
        lock_fd = self._acquire_run_lock()
        try:
            self._refuse_if_open_elsewhere()
            pending = _PendingWrite(held.original, held.fingerprint, lock_fd)
            try:
                self._save(pending, lambda fh: fh.write(held.data))
            except _FileChangedError as exc:
                raise WorkbookError(
                    f"{self.path} changed on disk during `run all` (someone saved it?): "
                    "the service's columns of this run were not saved, to keep that edit; "
                    "the next run writes them"
                ) from exc
        finally:
            _release(lock_fd)

    def _full_book(self, pending: _PendingWrite) -> Any:
        """The whole workbook in openpyxl, from the bytes the snapshot read."""
        if pending.book is None:
            assert pending.original is not None
            book = _open(
                self.path,
                pending.original,
                read_only=False,
                data_only=False,
                keep_vba=pending.keep_vba,
            )
            _restore_x14_validations(book, pending.original)
            pending.book = book
        return pending.book

    def close(self) -> None:
        self._end_write()

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run a snapshot+apply cycle, again from a fresh load if the file changed."""
        for n in range(1, WRITE_ATTEMPTS + 1):
            try:
                return attempt()
            except _FileChangedError:
                if n == WRITE_ATTEMPTS:
                    raise
            finally:
                self._end_write()
        raise AssertionError("unreachable")  # pragma: no cover

    def _end_write(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            if pending.reader is not None:
                pending.reader.close()
            _release(pending.lock_fd)

    # ------------------------------------------------------------ snapshot

    def _load_for_write(self, lock_fd: int | None) -> _PendingWrite:
        try:
            before = os.stat(self.path)
        except FileNotFoundError:
            # `init` on a missing file: start an empty workbook
            book = OpenpyxlBook()
            return _PendingWrite(None, None, lock_fd, book=book, placeholder=book.active)
        fingerprint = _fingerprint(before)
        held = self._held
        if held is not None and held.fingerprint != fingerprint:
            # someone saved the file since: what was held is dropped, never saved over
            # their edit (it is the service's own, and the next run writes it again)
            log.warning("%s changed on disk: the service's held writes are dropped", self.path)
            self._held = held = None
        data = held.data if held is not None else _read_file(self.path)
        # keep_vba: an .xlsm saved without it gets an .xlsx content type Excel rejects
        keep_vba = self.path.suffix.lower() in (".xlsm", ".xltm")
        pending = _PendingWrite(data, fingerprint, lock_fd, keep_vba=keep_vba)
        pending.on_disk = held.original if held is not None else None
        try:
            pending.package = Package(data)
        except (InPlaceUnsupported, *_ODD_XML) as exc:
            log.debug("%s: snapshots and writes with openpyxl: %s", self.path, exc)
            pending.reader = _open(self.path, data, read_only=True, data_only=False)
        return pending

    def _snapshot_tab(
        self, pending: _PendingWrite, tab: str, keys: set[str], header_row: int = 1
    ) -> TabSnapshot:
        if pending.package is not None:
            try:
                found = read_snapshot(pending.package, tab, keys, header_row)
            except (InPlaceUnsupported, *_ODD_XML) as exc:
                log.debug("%s: snapshot of %r with openpyxl: %s", self.path, tab, exc)
                pending.package = None  # and the write goes through openpyxl too
            else:
                if found is None:
                    _check_new_title(tab, self.path)
                    return snapshot_from_rows(tab, None)
                header, columns, last_row = found
                return TabSnapshot(tab, header, columns, last_row, header_row=header_row)  # type: ignore[arg-type]
        if pending.original is not None and pending.reader is None:
            pending.reader = _open(self.path, pending.original, read_only=True, data_only=False)
        ws = _find_sheet(pending.book if pending.reader is None else pending.reader, tab)
        if ws is None:
            _check_new_title(tab, self.path)
            return snapshot_from_rows(tab, None)
        if pending.reader is not None:
            ws.reset_dimensions()  # the stored <dimension> is often wrong in other tools' files
        with warnings.catch_warnings():  # read-only sheets parse (and warn) as they go
            warnings.simplefilter("ignore", UserWarning)
            rows, formula_keys = _formula_rows(ws, keys)
        if formula_keys and pending.original is not None:
            # Keys computed by formulas are matched on their cached values, as read saw them.
            values = _open(self.path, pending.original, read_only=True, data_only=True)
            try:
                rows = _read_values(_find_sheet(values, tab))
            finally:
                values.close()
        return snapshot_from_rows(tab, rows, header_row)

    # ------------------------------------------------------------ saving

    def _save(self, pending: _PendingWrite, write: Callable[[BinaryIO], object]) -> None:
        """Temp file, fsync, inventory check, lock check, rename, fsync the folder."""
        target = self.path.resolve()  # a symlinked workbook keeps its link
        tmp = self._new_temp_path(target)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            if pending.original is not None:
                os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
                before = pending.on_disk if pending.on_disk is not None else pending.original
                _refuse_losses(self.path, before, tmp.read_bytes(), self.service_tabs)
            if self._before_replace is not None:
                self._before_replace(tmp)
            self._refuse_if_open_elsewhere()
            self._refuse_if_changed(pending)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(target.parent)

    def _new_temp_path(self, target: Path) -> Path:
        return target.parent / f".{target.name}.{secrets.token_hex(6)}.ops-tmp"

    def _remove_stale_temps(self) -> None:
        """Temps left by a killed run; safe because we hold the run lock."""
        target = self.path.resolve()
        for tmp in target.parent.glob(f".{_glob_escape(target.name)}.*.ops-tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _refuse_if_changed(self, pending: _PendingWrite) -> None:
        try:
            now = _fingerprint(os.stat(self.path))
        except FileNotFoundError:
            now = None
        if now != pending.fingerprint:
            raise _FileChangedError(
                f"{self.path} changed on disk while ops-sheets was writing it (someone saved "
                "it?); nothing was written: run again"
            )

    # ------------------------------------------------------------ locks

    def _refuse_if_open_elsewhere(self) -> None:
        """LibreOffice and Excel leave a lock file next to a workbook they have open."""
        folders = {self.path.parent, self.path.resolve().parent}
        names = {self.path.name, self.path.resolve().name}
        for folder in folders:
            for name in names:
                for lock, app, who in (
                    (folder / f".~lock.{name}#", "LibreOffice", _libreoffice_owner),
                    (folder / f"~${name}", "Excel", _excel_owner),
                ):
                    if lock.exists():
                        raise WorkbookLockedError(
                            _open_elsewhere_message(self.path, lock, app, who)
                        )

    def _acquire_run_lock(self) -> int | None:
        """Serialise our own runs: an exclusive flock on a hidden sidecar file."""
        if fcntl is None:  # pragma: no cover - Windows
            return None
        lock_path = self.path.parent / f".{self.path.name}.ops-lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = _time.monotonic() + self.lock_wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if _time.monotonic() >= deadline:
                    os.close(fd)
                    raise WorkbookLockedError(
                        f"another ops-sheets run is writing {self.path} (waited "
                        f"{self.lock_wait_seconds:g} s for it to finish); run again later"
                    ) from None
                _time.sleep(0.05)


# ---------------------------------------------------------------- loading


def _default_service_tabs() -> list[str]:
    """The service-owned tabs under their default titles (Problems, Activity log...)."""
    from ops_sheets.sheet.tables import TAB_SPECS  # local: tables imports this package

    return [spec.title for spec in TAB_SPECS.values() if spec.service_owned]


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WorkbookError(f"cannot read workbook {path}: {exc.strerror or exc}") from exc


def _open(
    path: Path, data: bytes, *, read_only: bool, data_only: bool, keep_vba: bool = False
) -> Any:
    """openpyxl load from bytes we already hold, with a message a person can act on."""
    try:
        with warnings.catch_warnings():
            # openpyxl warns about extensions it drops; _refuse_losses reports them instead
            warnings.simplefilter("ignore", UserWarning)
            return load_workbook(
                io.BytesIO(data),
                read_only=read_only,
                data_only=data_only,
                keep_vba=keep_vba,
                rich_text=not read_only,  # keep bold/colour runs inside team cells
            )
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, SyntaxError) as exc:
        # SyntaxError: xml.etree's ParseError on a damaged part
        raise WorkbookError(
            f"{path} is not an .xlsx workbook ({type(exc).__name__}: {exc}); an old .xls or a "
            "password-protected file must be saved as .xlsx without a password first"
        ) from exc


def _find_sheet(book: Any, tab: str) -> Any:
    """A worksheet by title; Excel titles are unique ignoring case, so match that way too."""
    sheets = book.worksheets
    for ws in sheets:
        if ws.title == tab:
            return ws
    folded = tab.casefold()
    return next((ws for ws in sheets if ws.title.casefold() == folded), None)


_MERGE_REF = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Za-z]+[0-9]+:[A-Za-z]+[0-9]+)\"")


def _header_merges(ws: Any) -> list[tuple[int, int, int, int]] | None:
    """Merged ranges that take in row 1 (see ``Grid.merges``). openpyxl's read-only
    sheets do not parse ``<mergeCells>``, so they are found in the sheet's XML, which
    lists them after the cells; None if this openpyxl cannot hand out that XML."""
    source = getattr(ws, "_get_source", None)
    if source is None:
        return None
    with source() as xml:
        data = xml.read()
    start = data.find(b"mergeCells", max(data.rfind(b"sheetData"), 0))  # after the cells
    if start < 0:
        return []
    merges = []
    for match in _MERGE_REF.finditer(data, start):
        min_col, min_row, max_col, max_row = range_boundaries(match.group(1).decode())
        if min_row == 1:
            merges.append((min_row, min_col, max_row, max_col))
    return merges


def _read_values(ws: Any) -> list[list[Cell]]:
    """Every row of a read-only sheet as Python values, trailing blanks trimmed."""
    ws.reset_dimensions()  # the stored <dimension> is often wrong in files from other tools
    rows: list[list[Cell]] = []
    for row in ws.iter_rows():
        values = [_read_cell(c) for c in row]
        while values and values[-1] in (None, ""):
            values.pop()
        rows.append(values)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _read_cell(cell: Any) -> Cell:
    value = cell.value
    if isinstance(value, datetime):
        if value.time() == time(0) and _date_only(cell.number_format):
            return value.date()  # typed as a date, formatted as one: give a date
        return value
    if isinstance(value, timedelta):  # a duration format such as [h]:mm
        return value.total_seconds() / 86400
    if isinstance(value, CellRichText):
        return str(value)
    return value


@lru_cache(maxsize=256)
def _date_only(number_format: str) -> bool:
    return is_datetime(number_format) == "date"


def _formula_rows(ws: Any, keys: set[str]) -> tuple[list[list[Cell]], bool]:
    """A full-mode sheet's rows for the snapshot, and whether a header or key is a formula."""
    rows: list[list[Cell]] = []
    key_cols: set[int] = set()
    formula_keys = False
    for r, row in enumerate(ws.iter_rows(), start=1):
        values: list[Cell] = []
        for c, cell in enumerate(row):
            value = cell.value
            if cell.data_type == "f":
                formula_keys = formula_keys or r == 1 or c in key_cols
                value = str(getattr(value, "text", value))  # ArrayFormula holds its text
            else:
                value = _read_cell(cell)  # as a read gives it, so keys match on both
            values.append(value)
        if r == 1:
            key_cols = {i for i, h in enumerate(values) if normalise_header(h) in keys}
        rows.append(values)
    return rows, formula_keys


def _key_headers(changes: ChangeSet, tab: str) -> set[str]:
    """The columns rows are found by: the tab's anchors and every key an update uses."""
    keys = {normalise_header(a) for a in changes.anchors.get(tab, [])}
    for upd in changes.updates:
        if upd.tab == tab:
            keys.update(normalise_header(k) for k in upd.key)
    return keys


def _check_new_title(tab: str, path: Path) -> None:
    """Excel's rules for tab names, checked before anything is written."""
    bad = sorted(set(tab) & set("[]:*?/\\"))
    problem = None
    if not tab.strip():
        problem = "it is blank"
    elif len(tab) > 31:
        problem = f"it is {len(tab)} characters long (Excel allows 31)"
    elif bad:
        problem = f"it contains {' '.join(bad)}"
    elif tab.startswith("'") or tab.endswith("'"):
        problem = "it starts or ends with an apostrophe"
    if problem:
        raise WorkbookError(
            f"{path}: cannot create tab {tab!r}: {problem}; choose another name in the config"
        )


# ---------------------------------------------------------------- writing cells


def _write_cells(
    ws: Any,
    cells: Iterable[Any],
    snap: TabSnapshot,
    *,
    new_tab: bool,
    skipped: list[Skipped],
    looks: Mapping[str, ColumnLook] | None = None,
) -> None:
    header_width = max((i for i, h in enumerate(snap.header, 1) if h not in (None, "")), default=0)
    last_row = snap.last_row
    cells = list(cells)
    header = list(snap.header) + [None] * max(0, max((c.col for c in cells), default=0))
    for c in cells:
        if c.row == 1:
            header[c.col - 1] = c.value
    formats = {
        col: look.number_format
        for col, (_, look) in columns_of(header, looks or {}).items()
        if look.number_format
    }
    for c in cells:
        cell = ws.cell(row=c.row, column=c.col)
        if isinstance(cell, MergedCell):
            # only a merged range's first cell holds a value; writing the others
            # would fail the whole run, so this one cell is reported and left alone
            reason = "the cell is inside merged cells; unmerge them so the service can write"
            skipped.append(Skipped(ws.title, cell.coordinate, reason))
            continue
        if c.row == 1 and c.col > header_width:
            _style_new_header(ws, cell, header_width, new_tab=new_tab)
        _put(cell, c.value)
        if c.row > 1 and c.col in formats and cell.number_format == "General":
            cell.number_format = formats[c.col]  # the service column's own format
        last_row = max(last_row, c.row)
    if new_tab:
        ws.freeze_panes = "A2"
    _grow_tables(ws, snap.last_row, last_row)


def _link_locations(plan: WritePlan, tab: str) -> dict[tuple[int, int], str]:
    """(row, col) -> where the cell's link leads, as an xlsx hyperlink ``location``."""
    return {
        (row, col): f"'{link.tab.replace(chr(39), chr(39) * 2)}'!{link.a1}"
        for (t, row, col), link in plan.links.items()
        if t == tab
    }


#: a link's font, as Excel's "Hyperlink" cell style has it
_LINK_FONT = {"color": "0563C1", "underline": "single"}


def _write_links(
    ws: Any, cells: Iterable[Any], column: int, locations: Mapping[tuple[int, int], str]
) -> None:
    """Each written cell of the link column (below the header) gets its link, or
    loses the one it had: a real cell hyperlink to a place in this workbook."""
    for c in cells:
        if c.col != column or c.row <= 1:
            continue
        cell = ws.cell(row=c.row, column=c.col)
        if isinstance(cell, MergedCell):
            continue
        location = locations.get((c.row, c.col)) if c.value is not None else None
        if location is None:
            cell.hyperlink = None
            continue
        cell.hyperlink = Hyperlink(ref=cell.coordinate, location=location, display=location)
        cell.font = Font(
            name=cell.font.name, size=cell.font.size, bold=cell.font.bold, **_LINK_FONT
        )


def _style_new_header(ws: Any, cell: Any, header_width: int, *, new_tab: bool) -> None:
    """A service column's header looks like the team's headers; a new tab's are bold."""
    if header_width:
        model = ws.cell(row=1, column=header_width)
        if model.has_style:
            cell._style = copy(model._style)
        model_dim = _dimension_covering(ws, header_width)
        # a <col> range already covering the new column must not get an overlapping one
        if (
            model_dim is not None
            and model_dim.customWidth
            and _dimension_covering(ws, cell.column) is None
        ):
            ws.column_dimensions[cell.column_letter].width = model_dim.width
    elif new_tab:
        cell.font = Font(bold=True)


def _column_looks(
    header: Sequence[Cell], cells: Sequence[Any], looks: Mapping[str, ColumnLook]
) -> tuple[dict[int, str], dict[int, float]]:
    """(column -> number format, column -> width) of a tab's service columns, for
    the in-place writer: the header as it is after this write."""
    if not looks:
        return {}, {}
    row = list(header) + [None] * max(0, max((c.col for c in cells), default=0))
    for c in cells:
        if c.row == 1:
            row[c.col - 1] = c.value
    formats: dict[int, str] = {}
    widths: dict[int, float] = {}
    for col, (_, look) in columns_of(row, looks).items():
        if look.number_format:
            formats[col] = look.number_format
        if look.service and look.width:
            widths[col] = look.width
    return formats, widths


def _service_columns(
    header: Sequence[Cell], cells: Sequence[Any], looks: Mapping[str, ColumnLook]
) -> tuple[int, ...]:
    """The columns of the service's own headers, in the header as it is after this write."""
    if not looks:
        return ()
    row = list(header) + [None] * max(0, max((c.col for c in cells), default=0))
    for c in cells:
        if c.row == 1:
            row[c.col - 1] = c.value
    return tuple(col for col, (_, look) in columns_of(row, looks).items() if look.service)


def _dimension_covering(ws: Any, col: int) -> Any:
    """The <col> entry whose range holds a column (openpyxl keys ranges by first letter)."""
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.max is not None and dim.min <= col <= dim.max:
            return dim
    return None


def _put(cell: Any, value: Any) -> None:
    """Store a value as data, never as a formula, keeping the cell's style."""
    value = _excel_value(value)
    old_format = cell.number_format
    try:
        cell.value = value
    except (ValueError, TypeError):  # a type openpyxl cannot store: keep its text
        value = _excel_value(str(value))
        cell.value = value
    if isinstance(value, str):
        # openpyxl turns "=..." into a formula and "#N/A" into an error: force text.
        cell.data_type = "s"
        if value.startswith(FORMULA_PREFIXES):
            cell.quotePrefix = True  # Excel keeps it text even when someone edits it
    elif cell.quotePrefix:
        cell.quotePrefix = False
    if isinstance(value, datetime | date | time):
        # the team's own date format wins; ours (or General) follows the value's type
        if old_format in _OUR_FORMATS or not is_date_format(old_format):
            cell.number_format = _format_for(value)
        else:
            cell.number_format = old_format


_OUR_FORMATS = (DATETIME_FORMAT, DATE_FORMAT, TIME_FORMAT)
_FORMATS = Formats(DATETIME_FORMAT, DATE_FORMAT, TIME_FORMAT)


def _format_for(value: datetime | date | time) -> str:
    if isinstance(value, datetime):
        return DATETIME_FORMAT
    return DATE_FORMAT if isinstance(value, date) else TIME_FORMAT


def _excel_value(value: Any) -> Any:
    """What Excel can hold: naive wall-clock times, finite numbers, legal bounded text."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN from pandas means "no value"; Excel has no NaN
    if isinstance(value, datetime | time):
        if value != value:  # pandas NaT
            return None
        if value.tzinfo is not None:
            # the caller passes business-time-zone values: keep the wall time shown
            return value.replace(tzinfo=None)
        return value
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    return value


def _grow_tables(ws: Any, old_last: int, new_last: int) -> None:
    """Rows appended just below an Excel table join it, as they would in Excel."""
    if new_last <= old_last:
        return
    for table in ws.tables.values():
        min_col, min_row, max_col, max_row = range_boundaries(table.ref)
        if min_row != 1 or max_row < old_last or max_row >= new_last or table.totalsRowCount:
            continue
        ref = f"{get_column_letter(min_col)}1:{get_column_letter(max_col)}{new_last}"
        table.ref = ref
        if table.autoFilter is not None:
            table.autoFilter.ref = ref


# ---------------------------------------------------------------- charts


def _draw_charts(book: Any, charts: Iterable[ChartSpec]) -> None:
    """Draw each chart on its tab, replacing the tab's chart of the same title.

    The chart of that title may be one Excel or LibreOffice re-saved with their own
    extensions: it is replaced all the same (its tab is the service's, so what it
    lost on loading is redrawn here). A chart whose tab or columns are missing, or
    that has no data row yet, is not drawn and the chart already there (if any) is
    kept. Charts of other titles are left where they are.
    """
    for spec in charts:
        ws = _find_sheet(book, spec.tab)
        chart = _build_chart(ws, spec) if ws is not None else None
        if chart is None:
            continue
        ws._charts = [c for c in ws._charts if _chart_title(c) != spec.title]
        ws.add_chart(chart, spec.anchor)


def _build_chart(ws: Any, spec: ChartSpec) -> Any:
    columns: dict[str, int] = {}
    for cell in ws[1]:
        norm = normalise_header(cell.value)
        if norm and norm not in columns:
            columns[norm] = cell.column
    wanted = [spec.category, *spec.series, *spec.secondary]
    if any(normalise_header(h) not in columns for h in wanted):
        return None
    category = columns[normalise_header(spec.category)]
    last = 1
    for row in range(ws.max_row, 1, -1):
        if ws.cell(row=row, column=category).value not in (None, ""):
            last = row
            break
    if last < 2:
        return None
    first = max(2, last - spec.last_rows + 1) if spec.last_rows > 0 else 2

    # Categories as text references: week labels such as 2026-W47 are not numbers.
    labels = Reference(ws, min_col=category, min_row=first, max_row=last)

    def series(header: str) -> Series:
        col = columns[normalise_header(header)]
        values = Reference(ws, min_col=col, min_row=first, max_row=last)
        s = Series(values, title=str(ws.cell(row=1, column=col).value))
        s.cat = AxDataSource(strRef=StrRef(f=str(labels)))
        return s

    def marked(s: Series) -> Series:
        """A line series shows a marker on every week: a week alone is a visible point."""
        s.marker.symbol = "circle"
        s.marker.size = 6
        s.smooth = False
        return s

    main = BarChart() if spec.kind == "bar" else LineChart()
    for header in spec.series:
        main.series.append(marked(series(header)) if spec.kind == "line" else series(header))
    main.title = spec.title
    main.y_axis.title = spec.y_title or None
    # openpyxl leaves out <c:delete val="0"/>, and recent Excel then hides the axes
    main.x_axis.delete = False
    main.y_axis.delete = False
    main.legend.position = "b"
    main.width, main.height = 18.0, 8.0
    if spec.secondary:
        line = LineChart()
        for header in spec.secondary:
            line.series.append(marked(series(header)))
        line.y_axis.axId = 200
        line.y_axis.crosses = "max"
        line.y_axis.axPos = "r"
        line.y_axis.title = spec.secondary_title or None
        line.y_axis.delete = False
        line.y_axis.majorGridlines = None
        main += line
    return main


def _chart_title(chart: Any) -> str:
    """The text of a chart's title, as openpyxl reads it back from a file."""
    title = chart.title
    if title is None or isinstance(title, str):
        return title or ""
    try:
        return "".join(run.t for p in title.tx.rich.p for run in (p.r or []))
    except AttributeError:
        return ""


# ---------------------------------------------------------------- lock files


def _open_elsewhere_message(path: Path, lock: Path, app: str, who: Callable[[Path], str]) -> str:
    owner = who(lock)
    by = f" by {owner}" if owner else ""
    return (
        f"{path} is open in {app}{by}: close it there and run again (nothing was written). "
        f"If nobody has it open (e.g. after a crash), delete the lock file {lock}"
    )


def _libreoffice_owner(lock: Path) -> str:
    """``.~lock.<name>#`` holds CSV: author name, system user, host, time, profile."""
    try:
        fields = lock.read_text(encoding="utf-8", errors="replace").strip().rstrip(";").split(",")
    except OSError:
        return ""
    name = next((f.strip() for f in fields[:2] if f.strip()), "")
    host = fields[2].strip() if len(fields) > 2 else ""
    since = fields[3].strip() if len(fields) > 3 else ""
    parts = [name] if name else []
    if host:
        parts.append(f"on {host}")
    if since:
        parts.append(f"since {since}")
    return " ".join(parts)


def _excel_owner(lock: Path) -> str:
    """``~$<name>``: a length byte and the user name (ANSI), then the name in UTF-16."""
    try:
        data = lock.read_bytes()[:165]
    except OSError:
        return ""
    if not data:
        return ""
    n = data[0]
    with contextlib.suppress(IndexError, UnicodeDecodeError):
        if 0 < n <= 53 and len(data) >= 57 + 2 * n and data[55] == n:
            return data[57 : 57 + 2 * n].decode("utf-16-le").strip()
    if 0 < n <= 53:
        return data[1 : 1 + n].decode("cp1252", errors="replace").strip()
    return ""


def _release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the descriptor releases the flock


def _fingerprint(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; not possible (nor needed) on every platform."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


# ---------------------------------------------------------------- what openpyxl drops

#: parts whose count must not fall, by what a person would call them
_PART_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        ("chart", r"xl/charts/chart\d*\.xml$"),
        ("Excel 2016 chart (waterfall, histogram, treemap...)", r"xl/charts/chartEx\d*\.xml$"),
        ("chart sheet", r"xl/chartsheets/[^/]+\.xml$"),
        ("image", r"xl/media/"),
        ("SmartArt diagram", r"xl/diagrams/"),
        ("ink drawing", r"xl/ink/"),
        ("3D model", r"xl/model3d/"),
        ("pivot table", r"xl/pivotTables/[^/]+\.xml$"),
        ("pivot cache", r"xl/pivotCache/pivotCacheDefinition\d*\.xml$"),
        ("slicer", r"xl/slicers/"),
        ("slicer cache", r"xl/slicerCaches/"),
        ("timeline", r"xl/timelines/"),
        ("timeline cache", r"xl/timelineCaches/"),
        ("VBA macro project", r"xl/vbaProject\.bin$"),
        ("embedded object", r"xl/embeddings/"),
        ("ActiveX control", r"xl/activeX/"),
        ("form control", r"xl/ctrlProps/"),
        ("external link", r"xl/externalLinks/[^/]+\.xml$"),
        ("threaded comment", r"xl/threadedComments/"),
        ("comment author list", r"xl/persons/"),
        ("data connection", r"xl/connections\.xml$"),
        ("query table", r"xl/queryTables/"),
        ("Data Model (Power Pivot)", r"xl/model/"),
        ("picture in cell or linked data type", r"xl/richData/"),
        ("named sheet view", r"xl/namedSheetViews/"),
        ("Excel table", r"xl/tables/[^/]+\.xml$"),
        ("Office add-in", r"xl/webextensions/"),
    )
)

#: objects anchored in a drawing (local element names); openpyxl keeps only pic and charts
_DRAWING_OBJECTS = {
    "pic": "picture",
    "graphicFrame": "chart or diagram frame",
    "sp": "shape or text box",
    "grpSp": "group of shapes",
    "cxnSp": "connector line",
    "contentPart": "ink drawing",
}
_DRAWING_RE = re.compile(rb"<(?:[\w.-]+:)?(pic|graphicFrame|sp|grpSp|cxnSp|contentPart)[\s>/]")
_ELEMENT_RE = re.compile(rb"<(?:[\w.-]+:)?([\w.-]+)[\s>/]")
_VML_OBJECT_RE = re.compile(rb"ObjectType=\"(\w+)\"")


@dataclass
class _Inventory:
    """label -> part name -> count, and which sheet(s) each part belongs to."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    sheets_of: dict[str, set[str]] = field(default_factory=dict)

    def add(self, label: str, part: str, n: int = 1) -> None:
        if n:
            self.counts.setdefault(label, Counter())[part] += n

    def total(self, label: str) -> int:
        return sum(self.counts.get(label, Counter()).values())

    def places(self, label: str) -> list[str]:
        parts = self.counts.get(label, Counter())
        return sorted({s for p, n in parts.items() if n for s in self.sheets_of.get(p, ())})


def _refuse_losses(
    path: Path, original: bytes, written: bytes, service_tabs: frozenset[str] = frozenset()
) -> None:
    """Raise if the saved copy lacks anything the original had (the original is untouched).

    What lives only on tabs the service owns (``service_tabs``, casefolded titles) is
    left out of the count: the service redraws its charts and formats there, and a
    chart of ours that Excel or LibreOffice re-saved with their own extensions must
    not stop every job (issue 24). A part that a team tab reaches as well still counts.
    """
    before = _inventory(original, service_tabs)
    after = _inventory(written, service_tabs)
    lost: list[str] = []
    chart_details: list[str] = []
    chart_places: set[str] = set()
    for label in before.counts:
        missing = before.total(label) - after.total(label)
        if missing <= 0:
            continue
        places = before.places(label)
        if label.startswith("chart element "):
            chart_details.append(label.removeprefix("chart element "))
            chart_places.update(places)
            continue
        where = f" on {', '.join(repr(p) for p in places)}" if places else ""
        lost.append(f"{missing} × {label}{where}")
    if chart_details:
        where = f" on {', '.join(repr(p) for p in sorted(chart_places))}" if chart_places else ""
        shown = ", ".join(sorted(chart_details)[:6]) + ("..." if len(chart_details) > 6 else "")
        lost.append(f"chart formatting or features made by another program ({shown}){where}")
    if lost:
        raise UnsupportedContentError(
            f"{path}: saving with the xlsx backend would silently drop: {'; '.join(lost)}. "
            "Nothing was written. Move these objects to another file (or delete them), "
            'or use the Google Sheets backend ([workbook] backend = "google")'
        )


def _inventory(data: bytes, service_tabs: frozenset[str] = frozenset()) -> _Inventory:
    """What a file holds that openpyxl may drop, leaving out parts only service tabs reach."""
    inv = _Inventory()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        inv.sheets_of = _sheets_of_parts(zf, names)
        for name in names:
            owners = inv.sheets_of.get(name)
            if owners and all(o.casefold() in service_tabs for o in owners):
                continue
            for label, pattern in _PART_KINDS:
                if pattern.match(name):
                    inv.add(label, name)
            if re.match(r"xl/drawings/[^/]+\.xml$", name):
                for m in _DRAWING_RE.finditer(zf.read(name)):
                    inv.add(_DRAWING_OBJECTS[m.group(1).decode()], name)
            elif re.match(r"xl/charts/chart\d*\.xml$", name):
                for m in _ELEMENT_RE.finditer(zf.read(name)):
                    inv.add(f"chart element {m.group(1).decode()}", name)
            elif re.match(r"xl/drawings/[^/]+\.vml$", name):
                for m in _VML_OBJECT_RE.finditer(zf.read(name)):
                    if m.group(1) != b"Note":  # comments are kept; buttons, checkboxes are not
                        inv.add("form control (legacy)", name)
            elif re.match(r"xl/comments[^/]*\.xml$|xl/comments/", name):
                inv.add("comment", name, len(re.findall(rb"<(?:\w+:)?comment[\s>]", zf.read(name))))
            elif re.match(r"xl/worksheets/[^/]+\.xml$", name):
                _inventory_sheet(inv, name, zf.read(name))
    return inv


def _inventory_sheet(inv: _Inventory, name: str, xml: bytes) -> None:
    """Worksheet features that live in attributes or in the sheet's extension list."""
    inv.add(
        "dynamic-array formula or data-type cell", name, xml.count(b' cm="') + xml.count(b' vm="')
    )
    main, ext = _split_sheet_tail(xml)
    validations = len(re.findall(rb"<(?:\w+:)?dataValidation[\s>]", main + ext))
    inv.add("data validation rule", name, validations)
    inv.add("sparkline group", name, len(re.findall(rb"<(?:\w+:)?sparklineGroup[\s>]", ext)))
    # Data bars keep a plain rule linked (x14:id) to their extension: only unlinked
    # extension rules (e.g. ones that refer to another tab) are really lost.
    x14_rules = len(re.findall(rb"<(?:\w+:)?cfRule[\s>]", ext))
    links = len(re.findall(rb"<\w+:id>", main))
    inv.add("conditional formatting rule (Excel 2010 extension)", name, max(0, x14_rules - links))


def _split_sheet_tail(xml: bytes) -> tuple[bytes, bytes]:
    """(what follows <sheetData>, minus the worksheet's own <extLst>; that <extLst>)."""
    start = xml.rfind(b"sheetData")
    tail = xml[start:] if start >= 0 else xml
    if not re.search(rb"</(?:\w+:)?extLst>\s*</(?:\w+:)?worksheet>\s*$", tail):
        return tail, b""
    opens = [m.start() for m in re.finditer(rb"<(?:\w+:)?extLst[\s>]", tail)]
    return tail[: opens[-1]], tail[opens[-1] :]


def _sheets_of_parts(zf: zipfile.ZipFile, names: list[str]) -> dict[str, set[str]]:
    """Part name -> titles of the sheets that reach it by relationships (3 hops)."""
    owners: dict[str, set[str]] = {}
    for title, part in _sheet_parts(zf, names).items():
        seen = {part}
        frontier = [part]
        for _ in range(3):
            frontier = [t for p in frontier for t in _rel_targets(zf, names, p) if t not in seen]
            seen.update(frontier)
        for p in seen:
            owners.setdefault(p, set()).add(title)
    return owners


def _sheet_parts(zf: zipfile.ZipFile, names: list[str]) -> dict[str, str]:
    """Sheet title -> its part (e.g. 'Stock' -> 'xl/worksheets/sheet1.xml')."""
    if "xl/workbook.xml" not in names:
        return {}
    targets = _rel_map(zf, names, "xl/workbook.xml")
    out: dict[str, str] = {}
    for m in re.finditer(rb"<(?:\w+:)?sheet\s([^>]*)>", zf.read("xl/workbook.xml")):
        attrs = _attrs(m.group(1))
        rid = next((v for k, v in attrs.items() if k.endswith(":id")), None)
        if "name" in attrs and rid in targets:
            out[attrs["name"]] = targets[rid]
    return out


def _rel_targets(zf: zipfile.ZipFile, names: list[str], part: str) -> list[str]:
    return list(_rel_map(zf, names, part).values())


def _rel_map(zf: zipfile.ZipFile, names: list[str], part: str) -> dict[str, str]:
    """rId -> target part name, from the part's .rels file (external targets skipped)."""
    folder, base = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    if rels not in names:
        return {}
    out: dict[str, str] = {}
    for m in re.finditer(rb"<(?:\w+:)?Relationship\s([^>]*)>", zf.read(rels)):
        attrs = _attrs(m.group(1))
        target = attrs.get("Target", "")
        if attrs.get("TargetMode") == "External" or not target:
            continue
        if target.startswith("/"):
            resolved = target.lstrip("/")
        else:
            resolved = posixpath.normpath(posixpath.join(folder, target))
        out[attrs.get("Id", "")] = resolved
    return out


def _attrs(raw: bytes) -> dict[str, str]:
    text = raw.decode("utf-8", errors="replace")
    return {k: html.unescape(v) for k, v in re.findall(r'([\w:.-]+)\s*=\s*"([^"]*)"', text)}


# ---------------------------------------------------------------- x14 data validation

_X14_DV_RE = re.compile(rb"<(\w+):dataValidation\s([^>]*)>(.*?)</\1:dataValidation>", re.S)
_DV_BOOLS = ("allowBlank", "showDropDown", "showInputMessage", "showErrorMessage")
_DV_TEXTS = (
    "type",
    "operator",
    "errorStyle",
    "errorTitle",
    "error",
    "promptTitle",
    "prompt",
    "imeMode",
)


def _restore_x14_validations(book: Any, data: bytes) -> None:
    """Turn Excel's extension-only validations into plain ones openpyxl keeps.

    Excel writes a drop-down whose list lives on another tab as an ``x14`` extension;
    openpyxl drops those. The same rule as a plain ``dataValidation`` is read alike by
    Excel 2010+ and LibreOffice. A rule that cannot be converted is left out here and
    then reported by :func:`_refuse_losses`, so nothing is lost silently.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        for title, part in _sheet_parts(zf, names).items():
            if part not in names or not part.startswith("xl/worksheets/"):
                continue
            _, ext = _split_sheet_tail(zf.read(part))
            ws = _find_sheet(book, title)
            if ws is None or b"dataValidation" not in ext:
                continue
            for m in _X14_DV_RE.finditer(ext):
                dv = _x14_validation(m.group(2), m.group(3))
                if dv is not None:
                    ws.add_data_validation(dv)


def _x14_validation(raw_attrs: bytes, body: bytes) -> DataValidation | None:
    attrs = _attrs(raw_attrs)

    def inner(tag: str) -> str | None:
        m = re.search(
            rb"<\w+:" + tag.encode() + rb">(.*?)</\w+:" + tag.encode() + rb">", body, re.S
        )
        if m is None:
            return None
        f = re.search(rb"<\w+:f>(.*?)</\w+:f>", m.group(1), re.S)
        return html.unescape((f or m).group(1).decode("utf-8")).strip()

    sqref = inner("sqref")
    if not sqref:
        return None
    options: dict[str, Any] = {k: attrs[k] for k in _DV_TEXTS if k in attrs}
    options.update({k: attrs[k] in ("1", "true") for k in _DV_BOOLS if k in attrs})
    try:
        return DataValidation(
            formula1=inner("formula1"), formula2=inner("formula2"), sqref=sqref, **options
        )
    except (TypeError, ValueError):
        return None
