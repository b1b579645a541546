"""The workbook interface every backend implements, and the write planning they share.

A job touches the sheet twice at most: one ``read`` of every tab it needs, and one
``write`` of everything it changes (plus, when it sent mail, one more append-only
write). A ``ChangeSet`` never says "row 17": it says "the row whose SKU is A-1".
Each backend takes a fresh look at the header row and the key columns at write
time (a ``TabSnapshot``) and :func:`plan_writes` turns the change set into cell
positions against that snapshot, so rows sorted, inserted or deleted by a person
since the read still get the right values (DESIGN.md principle 2).

Backends differ only in how they take the snapshot and how they put the planned
cells; everything else lives here, which keeps the three of them small.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ops_sheets.sheet.cells import Cell as Cell
from ops_sheets.sheet.cells import Grid as Grid
from ops_sheets.sheet.cells import Merge as Merge
from ops_sheets.sheet.cells import key_text as key_text
from ops_sheets.sheet.cells import normalise_header as normalise_header
from ops_sheets.sheet.looks import ColumnLook

# ---------------------------------------------------------------- change sets


@dataclass(frozen=True)
class Update:
    """Set cells of the one row whose key columns hold ``key``; skipped if not exactly one."""

    tab: str
    key: Mapping[str, str]
    values: Mapping[str, Cell]
    upsert: bool = False  # append the row when no row has the key
    #: with ``upsert``: a row that has the key is left exactly as it is (a
    #: back-filled Weekly summary week is added once, never rewritten)
    keep_existing: bool = False


@dataclass(frozen=True)
class Append:
    tab: str
    values: Mapping[str, Cell]


@dataclass(frozen=True)
class CellLink:
    """Where a link in a cell leads: one cell of a tab (a Problems row to the cell
    it is about). Backends write it as a real link, never as a formula."""

    tab: str  # the target tab's title
    row: int  # 1-based, as the sheet shows it
    col: int  # 1-based

    @property
    def a1(self) -> str:
        letters, n = "", self.col
        while n:
            n, rem = divmod(n - 1, 26)
            letters = chr(65 + rem) + letters
        return f"{letters}{self.row}"


@dataclass(frozen=True)
class Replace:
    """Rewrite the whole data area of a tab the service owns (e.g. Problems).

    ``links``: per row, where the cell under ``link_header`` leads (None: no link);
    every rewritten cell of that column has its link set or cleared."""

    tab: str
    rows: Sequence[Mapping[str, Cell]]
    link_header: str = ""
    links: Sequence[CellLink | None] = ()


@dataclass(frozen=True)
class ChartSpec:
    """A native chart of columns of a tab, drawn on that tab (e.g. the Weekly summary).

    Columns are found by header in row 1 at write time, like every other change.
    A chart replaces the tab's chart of the same ``title``, so every run leaves one.
    Only the xlsx backend draws charts; the Google and memory backends ignore them
    (the weekly email carries the same pictures, and a Google chart would cost an
    extra request per run).
    """

    tab: str
    title: str
    kind: Literal["line", "bar"]
    category: str  # header of the column that labels the x axis
    series: tuple[str, ...]  # headers of the columns plotted as ``kind``
    anchor: str = "A1"  # the cell at the chart's top-left corner
    secondary: tuple[str, ...] = ()  # headers drawn as lines against a right-hand axis
    last_rows: int = 0  # plot only the last n data rows (0: all of them)
    y_title: str = ""
    secondary_title: str = ""


@dataclass
class ChangeSet:
    """Everything one job run changes in the workbook, located by key, not by row.

    ``headers`` gives, per tab, the column headers in the order they are created
    when missing; ``anchors`` the columns re-read at write time to find rows (the
    key columns, or the first column of an append-only tab). ``charts`` are drawn
    after the cells are written (see :class:`ChartSpec`). ``looks`` says, per tab
    and header, how a column should look; a backend applies it when it creates
    the column or tab (or finds it without it), never on every run.
    """

    headers: dict[str, list[str]] = field(default_factory=dict)
    anchors: dict[str, list[str]] = field(default_factory=dict)
    updates: list[Update] = field(default_factory=list)
    appends: list[Append] = field(default_factory=list)
    replaces: list[Replace] = field(default_factory=list)
    charts: list[ChartSpec] = field(default_factory=list)
    #: the row (1-based) holding a tab's headers, where it is not row 1 (a title row
    #: above the table): headers are looked up and added there, rows found below it
    header_rows: dict[str, int] = field(default_factory=dict)
    looks: dict[str, dict[str, ColumnLook]] = field(default_factory=dict)

    def declare(self, tab: str, headers: Sequence[str], anchors: Sequence[str]) -> None:
        self.headers.setdefault(tab, list(headers))
        self.anchors.setdefault(tab, list(anchors))

    @property
    def tabs(self) -> list[str]:
        seen = dict.fromkeys(
            [u.tab for u in self.updates]
            + [a.tab for a in self.appends]
            + [r.tab for r in self.replaces]
            + list(self.headers)
        )
        return list(seen)

    def __bool__(self) -> bool:
        return bool(self.updates or self.appends or self.replaces or self.charts)

    def __len__(self) -> int:
        return len(self.updates) + len(self.appends) + len(self.replaces) + len(self.charts)


# ---------------------------------------------------------------- planning


@dataclass
class TabSnapshot:
    """What a backend sees of a tab at write time: header row, anchor columns, extent."""

    title: str
    header: list[Cell]
    #: normalised header -> the column's cells from row 2 down
    columns: dict[str, list[Cell]]
    #: last row (1-based) holding anything in the columns that were looked at
    last_row: int
    exists: bool = True
    #: the row (1-based) ``header`` was taken from; ``columns`` start below it
    header_row: int = 1


@dataclass(frozen=True)
class CellWrite:
    tab: str
    row: int  # 1-based, as the sheet shows it
    col: int  # 1-based
    value: Cell


@dataclass(frozen=True)
class Skipped:
    tab: str
    key: str
    reason: str


@dataclass
class WritePlan:
    cells: list[CellWrite] = field(default_factory=list)
    new_tabs: list[str] = field(default_factory=list)
    added_headers: list[tuple[str, str]] = field(default_factory=list)  # (tab, header)
    skipped: list[Skipped] = field(default_factory=list)
    appended_rows: int = 0
    #: per tab: (first row, last row) cleared by a Replace that shrank
    cleared: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: (tab, row, col) -> where that cell's link leads (a Replace with links)
    links: dict[tuple[str, int, int], CellLink] = field(default_factory=dict)
    #: tab -> the column whose written cells get their link set, or cleared
    link_columns: dict[str, int] = field(default_factory=dict)

    def by_tab(self) -> dict[str, list[CellWrite]]:
        out: dict[str, list[CellWrite]] = {}
        for c in self.cells:
            out.setdefault(c.tab, []).append(c)
        return out


@dataclass
class WriteReport:
    cells_written: int
    rows_appended: int
    skipped: list[Skipped]
    added_headers: list[tuple[str, str]]
    new_tabs: list[str]
    #: the cells as placed, for a caller that keeps its own copy of the grids
    #: (``run all`` reads once and follows its own writes); None: not planned here
    plan: WritePlan | None = None


def plan_writes(changes: ChangeSet, snapshots: Mapping[str, TabSnapshot]) -> WritePlan:
    """Turn key-addressed changes into cell positions against fresh snapshots.

    Rules (DESIGN.md principles 1 and 2): a missing column is added after the last
    used header; an update whose key matches no row, or more than one, is skipped
    and reported; appends go below the last used row; nothing outside the named
    columns is touched.
    """
    plan = WritePlan()
    column_of: dict[str, dict[str, int]] = {}
    next_row: dict[str, int] = {}
    # a header's column never moves once known: (tab, header) -> column, so the
    # cells of every row after the first cost a look-up, not a normalisation
    known_col: dict[tuple[str, str], int] = {}

    def col(tab: str, header: str) -> int:
        found = known_col.get((tab, header))
        if found is not None:
            return found
        cols = column_of[tab]
        norm = normalise_header(header)
        if norm not in cols:
            snap = snapshots[tab]
            used = max([c for c in cols.values()] + [_last_used(snap.header)], default=0)
            cols[norm] = used + 1
            plan.cells.append(CellWrite(tab, snap.header_row, used + 1, header))
            plan.added_headers.append((tab, header))
        found = known_col[(tab, header)] = cols[norm]
        return found

    for tab in changes.tabs:
        snap = snapshots[tab]
        if not snap.exists:
            plan.new_tabs.append(tab)
        column_of[tab] = {}
        for i, h in enumerate(snap.header, start=1):
            norm = normalise_header(h)
            if norm and norm not in column_of[tab]:
                column_of[tab][norm] = i
        next_row[tab] = max(snap.last_row, snap.header_row) + 1
        for h in changes.headers.get(tab, []):
            col(tab, h)  # declared headers exist after the write, in declared order

    rows_by_key = {
        tab: _index_rows(snapshots[tab], changes.anchors.get(tab, [])) for tab in changes.tabs
    }
    # built on first need, once per write: every update then costs a dictionary
    # look-up, not a scan of the tab (a write of n updates into N rows is O(N + n))
    key_of_row: dict[str, dict[tuple[str, ...], dict[int, tuple[str, ...]]]] = {}
    other_keys: dict[str, dict[tuple[str, ...], dict[tuple[str, ...], list[int]] | None]] = {}

    cells = plan.cells

    def put_row(tab: str, row: int, values: Mapping[str, Cell]) -> None:
        for header, value in values.items():
            cells.append(CellWrite(tab, row, col(tab, header), value))

    # per set of key names, as a job gives them: their order by normalised name,
    # and the normalised names sorted (the index's key columns); worked out once
    key_order: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}
    # per tab, the headers whose cells are key cells of its index (see _rekey)
    is_key_header: dict[str, dict[str, bool]] = {tab: {} for tab in rows_by_key}

    def touches_key(tab: str, values: Mapping[str, Cell]) -> bool:
        known = is_key_header[tab]
        for h in values:
            hit = known.get(h)
            if hit is None:
                norm = normalise_header(h)
                hit = known[h] = any(norm in key_cols for key_cols in rows_by_key[tab])
            if hit:
                return True
        return False

    for upd in changes.updates:
        names = tuple(upd.key)
        order = key_order.get(names)
        if order is None:
            order = key_order[names] = (
                tuple(sorted(names, key=normalise_header)),
                tuple(sorted(normalise_header(k) for k in names)),
            )
        wanted = tuple([upd.key[k] for k in order[0]])
        index = rows_by_key[upd.tab]
        key_cols = order[1]
        rows = (
            index[key_cols].get(wanted)
            if key_cols in index
            else _lookup(snapshots[upd.tab], upd.key, other_keys.setdefault(upd.tab, {}))
        )
        if not rows:
            if upd.upsert:
                row = next_row[upd.tab]
                next_row[upd.tab] += 1
                plan.appended_rows += 1
                put_row(upd.tab, row, {**upd.key, **upd.values})
            else:
                plan.skipped.append(
                    Skipped(
                        upd.tab,
                        " / ".join(wanted),
                        "no row has this key any more (deleted or renamed?)",
                    )
                )
            continue
        if upd.keep_existing:
            continue  # only ever added: what the row holds stays
        if len(rows) > 1:
            plan.skipped.append(
                Skipped(
                    upd.tab,
                    " / ".join(wanted),
                    f"{len(rows)} rows have this key (rows {_rows(rows)})",
                )
            )
            continue
        put_row(upd.tab, rows[0], upd.values)
        if touches_key(upd.tab, upd.values):  # a key cell changes: its row moves in the index
            _rekey(index, key_of_row.setdefault(upd.tab, {}), rows[0], upd.values)

    for app in changes.appends:
        row = next_row[app.tab]
        next_row[app.tab] += 1
        plan.appended_rows += 1
        put_row(app.tab, row, app.values)

    for rep in changes.replaces:
        snap = snapshots[rep.tab]
        for i, values in enumerate(rep.rows, start=2):
            # the whole row is rewritten: a column this row leaves out must not keep
            # the value an earlier run put there
            given = {col(rep.tab, h): v for h, v in values.items()}
            for c in range(1, max(column_of[rep.tab].values(), default=0) + 1):
                plan.cells.append(CellWrite(rep.tab, i, c, given.get(c)))
        if rep.link_header:
            link_col = col(rep.tab, rep.link_header)
            plan.link_columns[rep.tab] = link_col
            for i, link in enumerate(rep.links, start=2):
                if link is not None and i < len(rep.rows) + 2:
                    plan.links[(rep.tab, i, link_col)] = link
        first_stale = len(rep.rows) + 2
        if snap.last_row >= first_stale:
            plan.cleared[rep.tab] = (first_stale, snap.last_row)
        width = max(column_of[rep.tab].values(), default=0)
        for r in range(first_stale, snap.last_row + 1):
            for c in range(1, width + 1):
                plan.cells.append(CellWrite(rep.tab, r, c, None))
    return plan


def _rekey(
    index: dict[tuple[str, ...], dict[tuple[str, ...], list[int]]],
    key_of_row: dict[tuple[str, ...], dict[int, tuple[str, ...]]],
    row: int,
    values: Mapping[str, Cell],
) -> None:
    """An update that changes a key cell (a PO line moved to a new PO number) moves
    its row in the index, so later updates in the same change set find it by the
    new key: updates apply in order, as if written one after the other.

    ``key_of_row`` is the index turned around (row -> its key), made the first
    time a key cell changes and kept in step here: finding a row's old key is
    then a look-up, not a scan of every key of the tab.
    """
    for key_cols, by_key in index.items():
        changed = {
            normalise_header(h): key_text(v)
            for h, v in values.items()
            if normalise_header(h) in key_cols
        }
        if not changed:
            continue
        if key_cols not in key_of_row:
            key_of_row[key_cols] = {r: k for k, rows in by_key.items() for r in rows}
        keys = key_of_row[key_cols]
        old = keys.get(row)
        if old is None:
            continue  # a row the index never held (blank key when re-read)
        by_key[old].remove(row)
        new = tuple(changed.get(c, old[i]) for i, c in enumerate(key_cols))
        by_key.setdefault(new, []).append(row)
        keys[row] = new


def _last_used(header: Sequence[Cell]) -> int:
    last = 0
    for i, h in enumerate(header, start=1):
        if h not in (None, ""):
            last = i
    return last


def _index_rows(
    snap: TabSnapshot, anchors: Sequence[str]
) -> dict[tuple[str, ...], dict[tuple[str, ...], list[int]]]:
    """Key -> row numbers for the tab's declared anchor columns (one pass per tab)."""
    key_cols = tuple(sorted(normalise_header(a) for a in anchors))
    if not key_cols or any(k not in snap.columns for k in key_cols):
        return {}
    columns = [snap.columns[k] for k in key_cols]
    index: dict[tuple[str, ...], list[int]] = {}
    height = max((len(c) for c in columns), default=0)
    # each column's key texts at once (text cells, nearly all, are only stripped),
    # padded with "" to the longest, then the keys row by row
    texts = [
        [v.strip() if v.__class__ is str else key_text(v) for v in c] + [""] * (height - len(c))  # type: ignore[union-attr]
        for c in columns
    ]
    first = snap.header_row + 1
    for i, key in enumerate(zip(*texts, strict=True)):
        if any(key):
            index.setdefault(key, []).append(i + first)
    return {key_cols: index}


def _lookup(
    snap: TabSnapshot,
    key: Mapping[str, str],
    cache: dict[tuple[str, ...], dict[tuple[str, ...], list[int]] | None],
) -> list[int]:
    """Rows matching a key on columns that are not the tab's anchors (e.g. RMA lookup).

    Unlike the anchors' index, blank keys match blank cells here, down to the
    longest of the key's columns. The index of each set of columns is built once
    per write and kept in ``cache`` (the tab's); ``None`` there: a column is missing.
    """
    wanted: dict[str, str] = {}
    for k, want in key.items():
        norm = normalise_header(k)
        if wanted.setdefault(norm, want) != want:
            return []  # one column asked to hold two values at once: no row can
    key_cols = tuple(sorted(wanted))
    if key_cols not in cache:
        cache[key_cols] = _index_all_rows(snap, key_cols)
    index = cache[key_cols]
    if index is None:
        return []
    return index.get(tuple(wanted[c] for c in key_cols), [])


def _index_all_rows(
    snap: TabSnapshot, key_cols: tuple[str, ...]
) -> dict[tuple[str, ...], list[int]] | None:
    """Key -> row numbers over these columns, blank keys included; None if one is missing."""
    if any(c not in snap.columns for c in key_cols):
        return None
    columns = [snap.columns[c] for c in key_cols]
    height = max(len(c) for c in columns)  # no columns: ValueError, as a key-less update did
    index: dict[tuple[str, ...], list[int]] = {}
    for i in range(height):
        key = tuple(key_text(c[i] if i < len(c) else None) for c in columns)
        index.setdefault(key, []).append(i + snap.header_row + 1)
    return index


def _rows(rows: Iterable[int]) -> str:
    return ", ".join(str(r) for r in rows)


# ---------------------------------------------------------------- interface


class Workbook(ABC):
    """A spreadsheet: read tabs in one call, write a change set in one call."""

    #: shown in messages, e.g. the file path or the spreadsheet id
    name: str = "workbook"

    @abstractmethod
    def tab_titles(self) -> list[str]:
        """Titles of every tab, in workbook order."""

    @abstractmethod
    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        """Every named tab that exists, in one round trip; missing tabs are left out."""

    def titles_known(self) -> list[str]:
        """Titles of every tab, as far as known without another request to the sheet
        (a file has them at hand; Google knows them once a read met a missing tab)."""
        return self.tab_titles()

    @abstractmethod
    def snapshot(self, changes: ChangeSet) -> dict[str, TabSnapshot]:
        """Fresh header rows and anchor columns of the tabs a change set touches."""

    @abstractmethod
    def apply(self, plan: WritePlan, changes: ChangeSet) -> None:
        """Put the planned cells (creating new tabs first), in one round trip."""

    def write(self, changes: ChangeSet) -> WriteReport:
        """Locate every change by key against a fresh snapshot, then write it."""
        if not changes:
            return WriteReport(0, 0, [], [], [])
        plan = plan_writes(changes, self.snapshot(changes))
        self.apply(plan, changes)
        return WriteReport(
            cells_written=len(plan.cells),
            rows_appended=plan.appended_rows,
            skipped=plan.skipped,
            added_headers=plan.added_headers,
            new_tabs=plan.new_tabs,
            plan=plan,
        )

    def append_rows(self, changes: ChangeSet) -> WriteReport:
        """Append rows (a change set of appends only) below each tab's data.

        File backends re-read for free, so this is an ordinary write; Google
        overrides it with values:append, which needs no key re-read.
        """
        return self.write(changes)

    def ensure_layout(
        self,
        layout: Mapping[str, Sequence[str]],
        header_rows: Mapping[str, int] | None = None,
        looks: Mapping[str, dict[str, ColumnLook]] | None = None,
    ) -> list[str]:
        """Create missing tabs and header cells (``init``); returns what was done.

        ``header_rows``: the row holding a tab's headers, where it is not row 1.
        ``looks``: how the service's columns look (width, format, header fill)."""
        changes = ChangeSet(header_rows=dict(header_rows or {}), looks=dict(looks or {}))
        for tab, headers in layout.items():
            changes.declare(tab, headers, headers[:1])
        plan = plan_writes(changes, self.snapshot(changes))
        if plan.cells or plan.new_tabs:
            self.apply(plan, changes)
        done = [f"created tab {t!r}" for t in plan.new_tabs]
        done += [
            f"added column {h!r} to {t!r}" for t, h in plan.added_headers if t not in plan.new_tabs
        ]
        return done

    #: ``run all`` sets this: a backend whose every save rewrites a file may keep a
    #: write in memory until :meth:`flush` (the next write builds on it); the
    #: runner flushes before mail depends on the sheet and after mail is recorded
    hold_saves: bool = False

    def sheet_locale(self) -> str:
        """The spreadsheet's own locale, where it has one that parses typed dates
        (Google); "" for a file (a cell typed in Excel keeps the value Excel made)."""
        return ""

    def known_sheet_ids(self) -> dict[str, int]:
        """Tab title -> the sheet's id, as far as known (Google; {} for a file): the
        runner keeps them in the state so that a later run's links need no request."""
        return {}

    def learn_sheet_ids(self, ids: Mapping[str, int]) -> None:  # noqa: B027 - optional hook
        """Ids :meth:`known_sheet_ids` gave an earlier run (trusted until Google says
        one is gone); a file has none."""

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Save what :attr:`hold_saves` kept in memory; the default keeps nothing."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or locks; the default holds none."""

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def snapshot_from_rows(
    title: str, rows: Sequence[Sequence[Cell]] | None, header_row: int = 1
) -> TabSnapshot:
    """A full snapshot from a whole tab's cells (what the file backends have anyway);
    ``header_row``: the row holding the headers (1-based)."""
    if rows is None:
        return TabSnapshot(title, [], {}, 0, exists=False)
    header = list(rows[header_row - 1]) if len(rows) >= header_row else []
    columns: dict[str, list[Cell]] = {}
    for i, h in enumerate(header):
        norm = normalise_header(h)
        if norm and norm not in columns:
            columns[norm] = [r[i] if i < len(r) else None for r in rows[header_row:]]
    last = 0
    for r, row in enumerate(rows, start=1):
        if any(v not in (None, "") for v in row):
            last = r
    return TabSnapshot(title, header, columns, last, header_row=header_row)
