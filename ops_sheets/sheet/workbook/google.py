"""Google Sheets backend, on gspread's HTTP client and google-auth.

Request budget per job run in the steady state (tabs and columns exist):

1. ``values:batchGet`` of every tab the job reads (one request, any number of tabs);
2. only when the run adds PO lines: one ``values:append`` with an explicit table
   range, before any email goes out (:meth:`GoogleWorkbook.append_rows`);
3. ``values:batchGet`` of the header rows and key columns of the tabs it writes,
   just before writing, so values land on the row with their key even if people
   sorted, inserted or deleted rows meanwhile (mail has been sent by then, so
   the values that depend on delivery are placed by this same fresh look);
4. ``values:batchUpdate`` (RAW) of every cell and appended row; or, when the
   write needs a new tab or a bigger grid, one ``spreadsheets.batchUpdate`` that
   adds the tab or the rows/columns and puts the same cells (``updateCells``), in
   that order: Google applies a batch's requests in order, and all or nothing.

So at most 2 reads and 2 writes. Spreadsheet metadata (``spreadsheets.get``) is
fetched only when a range names a tab that does not exist yet, when a tab must
grow and its sheet id is not known yet, or by ``init``; the grid size, which a
write must not exceed, comes free with the echoed ranges of step 3.

Every request has a timeout; 429, 5xx, timeouts and dropped connections are
retried with capped, jittered exponential backoff until a total deadline
(gspread's own BackOffHTTPClient would retry for hours).
"""

from __future__ import annotations

import logging
import random
import re
import time as time_module
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import groupby
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import requests
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from ops_sheets.errors import SheetAccessError, WorkbookError
from ops_sheets.sheet.looks import (
    HEADER_FILL,
    HEADER_NOTE,
    HEADER_TEXT,
    STATUS_RULES,
    ColumnLook,
)
from ops_sheets.sheet.workbook.base import (
    Cell,
    ChangeSet,
    Grid,
    Merge,
    TabSnapshot,
    Workbook,
    WritePlan,
    WriteReport,
    normalise_header,
)
from ops_sheets.sheet.workbook.quota import (
    Bucket,
    RequestGate,
    buckets_for,
    current_gate,
    installed_gate,
)

if TYPE_CHECKING:
    from ops_sheets.config import Settings

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


# ---------------------------------------------------------------- A1 helpers


def quote_title(title: str) -> str:
    """Sheet titles in A1 ranges: always quoted, quotes doubled (what Google echoes)."""
    return "'" + title.replace("'", "''") + "'"


def col_letter(n: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


_RANGE_END_RE = re.compile(r"!([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$")


def range_extent(a1: str) -> tuple[int, int] | None:
    """(last row, last column) of an echoed range like ``'Stock'!A1:Z1000``."""
    m = _RANGE_END_RE.search(a1)
    if not m:
        return None
    col, row = (m.group(3), m.group(4)) if m.group(3) else (m.group(1), m.group(2))
    return int(row), col_number(col)


# ---------------------------------------------------------------- HTTP client


class RetryingHTTPClient(HTTPClient):
    """gspread's HTTP client with timeouts and a retry deadline."""

    def __init__(
        self,
        auth: Any,
        session: requests.Session | None = None,
        *,
        timeout: float = 30.0,
        deadline: float = 120.0,
        sleep: Callable[[float], None] = time_module.sleep,
        rng: random.Random | None = None,
        gate: RequestGate | None = None,
        buckets: tuple[Bucket, ...] = (),
    ) -> None:
        super().__init__(auth, session)
        self.timeout = timeout
        self.deadline = deadline
        self.sleep = sleep
        self.rng = rng or random.Random()
        #: the shared quota (issue 21): a token from each bucket before every request
        self.gate = gate
        self.buckets = buckets

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
        started = time_module.monotonic()
        attempt = 0
        while True:
            if self.gate is not None and self.buckets:
                self.gate.acquire(self.buckets)
            try:
                return super().request(method, endpoint, *args, **kwargs)
            except APIError as exc:
                if exc.code not in RETRY_STATUSES:
                    raise
                reason = f"HTTP {exc.code}"
                failure: Exception = exc
            except (requests.Timeout, requests.ConnectionError) as exc:
                reason = type(exc).__name__
                failure = exc
            attempt += 1
            # capped exponential backoff with full jitter (AWS architecture blog's advice)
            wait = self.rng.uniform(0, min(30.0, 0.5 * 2**attempt))
            if reason == "HTTP 429" and self.gate is not None and self.buckets:
                # over quota: every shop on these buckets holds off, not just this one
                self.gate.backoff(self.buckets, max(wait, 1.0))
            elapsed = time_module.monotonic() - started
            if elapsed + wait > self.deadline:
                raise WorkbookError(
                    f"Google Sheets did not answer within {self.deadline:g}s "
                    f"({attempt} attempts, last: {reason}); try again later"
                ) from failure
            log.warning(
                "Sheets API %s %s: %s; retry %d in %.1fs",
                method.upper(),
                _short(endpoint),
                reason,
                attempt,
                wait,
            )
            self.sleep(wait)


def _short(url: str) -> str:
    return url.split("/v4/", 1)[-1][:120]


# ---------------------------------------------------------------- credentials


def load_credentials(settings: Settings) -> tuple[Any, str]:
    """(credentials, the identity to share the sheet with) from the config."""
    wb = settings.workbook
    if wb.credentials:
        from google.oauth2 import service_account

        path = settings.resolve(wb.credentials)
        if not path.is_file():
            raise SheetAccessError(
                f"{settings.source}: [workbook] credentials: {path} not found; download the "
                "service account's JSON key from the Google Cloud console"
            )
        try:
            creds = service_account.Credentials.from_service_account_file(str(path), scopes=SCOPES)
        except (ValueError, KeyError) as exc:
            raise SheetAccessError(
                f"{path}: not a service-account key file ({type(exc).__name__}); "
                "download a JSON key for the service account"
            ) from None
        return creds, creds.service_account_email
    if wb.oauth_client:
        import gspread

        client_file = settings.resolve(wb.oauth_client)
        token_file = client_file.with_name("authorized_user.json")
        gc = gspread.oauth(
            scopes=SCOPES,
            credentials_filename=str(client_file),
            authorized_user_filename=str(token_file),
        )
        return gc.http_client.auth, "the Google account you signed in with"
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        creds, _ = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        raise SheetAccessError(
            f"{settings.source}: [workbook] credentials: no credentials found; set it to a "
            "service-account key file, or set oauth_client, or run "
            "`gcloud auth application-default login`"
        ) from None
    return creds, getattr(creds, "service_account_email", "the account of your default credentials")


# ---------------------------------------------------------------- the backend


@dataclass
class _TabCache:
    header: list[Cell] = field(default_factory=list)
    #: rows holding anything when this run read the tab: appends never go above
    #: them, even where the key columns are blank (a team's TOTAL row, notes)
    read_rows: int = 0
    rows: int = 1000  # grid size as Google reports it
    cols: int = 26
    #: merged ranges over row 1, known only when the metadata was read (Grid.merges)
    header_merges: list[Merge] | None = None


class GoogleWorkbook(Workbook):
    def __init__(
        self,
        spreadsheet_id: str,
        http: RetryingHTTPClient,
        *,
        share_with: str = "the service account",
    ) -> None:
        self.spreadsheet_id = spreadsheet_id
        self.name = f"Google Sheet {spreadsheet_id}"
        self.http = http
        self.share_with = share_with
        self._tabs: dict[str, _TabCache] = {}
        self._titles: list[str] | None = None
        self._locale: str | None = None  # the spreadsheet's, with the metadata
        self._sheet_ids: dict[str, int] = {}
        #: ids learned from the state (see learn_sheet_ids), not read by this process
        self._assumed_ids: set[str] = set()
        #: tabs known to have a filter (from the metadata, or set by this process)
        self._filtered: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings, emulator: str | None = None) -> GoogleWorkbook:
        wb = settings.workbook
        session: requests.Session | None = None
        if emulator:
            from ops_sheets.emulator.client import emulator_session

            # anonymous: the session sends no credentials, as Google's emulators expect
            auth: Any = None
            session = emulator_session(emulator)
            who = "anyone (emulator)"
            project, identity = f"emulator:{emulator}", f"anonymous@{emulator}"
            gate = installed_gate()  # a local emulator has no quota unless one is set
        else:
            auth, who = load_credentials(settings)
            project = str(
                getattr(auth, "project_id", None) or getattr(auth, "quota_project_id", None) or ""
            )
            identity = str(getattr(auth, "service_account_email", None) or who)
            gate = current_gate()
        http = RetryingHTTPClient(
            auth,
            session,
            timeout=wb.request_timeout_seconds,
            deadline=wb.deadline_seconds,
            gate=gate,
            buckets=buckets_for(
                project, identity, wb.requests_per_minute, wb.requests_per_minute_per_user
            ),
        )
        return cls(wb.spreadsheet_id, http, share_with=who)

    # ------------------------------------------------------------ calls

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self.spreadsheet_id, *args, **kwargs)
        except APIError as exc:
            raise self._explain(exc) from None
        except requests.RequestException as exc:
            raise WorkbookError(f"{self.name}: cannot reach Google Sheets: {exc}") from None

    def _explain(self, exc: APIError) -> Exception:
        message = exc.error.get("message", "")
        if exc.code == 404:
            return SheetAccessError(
                f"[workbook] spreadsheet_id {self.spreadsheet_id!r}: no such spreadsheet; "
                "copy the id "
                "from the sheet's URL: https://docs.google.com/spreadsheets/d/<id>/edit"
            )
        if exc.code == 403:
            return SheetAccessError(
                f"{self.name} is not shared with {self.share_with}; open the sheet, click Share "
                f"and add {self.share_with} as Editor"
            )
        return WorkbookError(f"{self.name}: Google Sheets answered {exc.code}: {message}")

    # ------------------------------------------------------------ metadata

    def _metadata(self) -> None:
        meta = self._call(
            self.http.fetch_sheet_metadata,
            params={
                "includeGridData": "false",
                "fields": (
                    "properties(locale),sheets(properties,protectedRanges,merges,basicFilter)"
                ),
            },
        )
        self._locale = meta.get("properties", {}).get("locale", "")
        self._titles = []
        # the metadata is the truth: ids only remembered from an earlier run go
        for title in self._assumed_ids:
            self._sheet_ids.pop(title, None)
        self._assumed_ids.clear()
        for sheet in meta.get("sheets", []):
            props = sheet["properties"]
            title = props["title"]
            self._titles.append(title)
            self._sheet_ids[title] = props["sheetId"]
            self._assumed_ids.discard(title)
            grid = props.get("gridProperties", {})
            cache = self._tabs.setdefault(title, _TabCache())
            cache.rows, cache.cols = grid.get("rowCount", 1000), grid.get("columnCount", 26)
            cache.header_merges = [
                (1, m.get("startColumnIndex", 0) + 1, m["endRowIndex"], m["endColumnIndex"])
                for m in sheet.get("merges", [])
                if m.get("startRowIndex", 0) == 0 and "endRowIndex" in m and "endColumnIndex" in m
            ]
        self._filtered = {
            s["properties"]["title"] for s in meta.get("sheets", []) if "basicFilter" in s
        }
        self._protected = {
            (s["properties"]["title"], p.get("description", ""))
            for s in meta.get("sheets", [])
            for p in s.get("protectedRanges", [])
        }

    def tab_titles(self) -> list[str]:
        self._metadata()
        return list(self._titles or [])

    def sheet_locale(self) -> str:
        # with the metadata: one request, and none if this run fetched it already
        if self._locale is None:
            self._metadata()
        return self._locale or ""

    def titles_known(self) -> list[str]:
        # a read that met a missing tab fetched the metadata already: no request here
        return list(self._titles or [])

    def _batch_get(self, ranges: list[str], tabs: Sequence[str]) -> list[dict[str, Any]]:
        params = {
            "valueRenderOption": "UNFORMATTED_VALUE",
            "dateTimeRenderOption": "SERIAL_NUMBER",
            "majorDimension": "ROWS",
        }
        try:
            return self.http.values_batch_get(self.spreadsheet_id, ranges, params=dict(params)).get(
                "valueRanges", []
            )
        except APIError as exc:
            if exc.code != 400 or "parse range" not in exc.error.get("message", ""):
                raise self._explain(exc) from None
        # a tab is missing: learn which exist (one extra request, only in this case)
        self._metadata()
        raise _MissingTabs([t for t in tabs if t not in (self._titles or [])])

    # ------------------------------------------------------------ read

    def read(self, tabs: Sequence[str]) -> dict[str, Grid]:
        wanted = list(tabs) if self._titles is None else [t for t in tabs if t in self._titles]
        try:
            ranges = self._batch_get([quote_title(t) for t in wanted], wanted)
        except _MissingTabs as missing:
            wanted = [t for t in wanted if t not in missing.tabs]
            ranges = self._batch_get([quote_title(t) for t in wanted], wanted) if wanted else []
        out: dict[str, Grid] = {}
        for title, vr in zip(wanted, ranges, strict=True):
            rows = vr.get("values", [])  # fresh lists of this response: ours to keep
            cache = self._tabs.setdefault(title, _TabCache())
            # merges come with the metadata only: no request of their own (unknown
            # otherwise, and parse_table then reads the header row for their sign)
            out[title] = Grid(title, rows, cache.header_merges)
            cache.header = rows[0] if rows else []
            cache.read_rows = len(rows)
            extent = range_extent(vr.get("range", ""))
            if extent:
                cache.rows, cache.cols = max(cache.rows, extent[0]), max(cache.cols, extent[1])
        return out

    # ------------------------------------------------------------ write

    def snapshot(self, changes: ChangeSet) -> dict[str, TabSnapshot]:
        tabs = changes.tabs
        known = self._titles
        missing = [t for t in tabs if t not in known] if known is not None else []
        present = [t for t in tabs if t not in missing]
        try:
            snaps = self._fetch_snapshots(present, changes)
        except _MissingTabs as exc:
            missing += exc.tabs
            present = [t for t in present if t not in exc.tabs]
            snaps = self._fetch_snapshots(present, changes)
        for t in missing:
            snaps[t] = TabSnapshot(t, [], {}, 0, exists=False)
            self._tabs.setdefault(t, _TabCache(rows=0, cols=0))
        return snaps

    def _fetch_snapshots(self, tabs: list[str], changes: ChangeSet) -> dict[str, TabSnapshot]:
        """Header rows and anchor columns in one batchGet; whole tabs if headers moved."""
        if not tabs:
            return {}
        ranges: list[str] = []
        layout: list[tuple[str, str, int]] = []  # (tab, kind, column)
        for tab in tabs:
            at = changes.header_rows.get(tab, 1)
            ranges.append(f"{quote_title(tab)}!{at}:{at}")
            layout.append((tab, "header", 0))
            # where the anchors were at our read; for a tab we did not read (the
            # service's own tabs), where we put them: in declared order
            known = self._tabs.get(tab, _TabCache()).header or changes.headers.get(tab, [])
            positions = {normalise_header(h): i + 1 for i, h in reversed(list(enumerate(known)))}
            for anchor in changes.anchors.get(tab, []):
                col = positions.get(normalise_header(anchor))
                if col:
                    ranges.append(f"{quote_title(tab)}!{col_letter(col)}:{col_letter(col)}")
                    layout.append((tab, "column", col))
        answers = self._batch_get(ranges, tabs)
        headers: dict[str, list[Cell]] = {}
        columns: dict[str, dict[int, list[Cell]]] = {t: {} for t in tabs}
        for (tab, kind, col), vr in zip(layout, answers, strict=True):
            values = vr.get("values", [])
            extent = range_extent(vr.get("range", ""))
            cache = self._tabs.setdefault(tab, _TabCache())
            if kind == "header":
                headers[tab] = list(values[0]) if values else []
                if extent:
                    cache.cols = extent[1]
            else:
                columns[tab][col] = [r[0] if r else None for r in values]
                if extent:
                    cache.rows = extent[0]
        snaps: dict[str, TabSnapshot] = {}
        stale: list[str] = []
        for tab in tabs:
            header = headers[tab]
            by_name: dict[str, list[Cell]] = {}
            ok = True
            for anchor in changes.anchors.get(tab, []):
                norm = normalise_header(anchor)
                col = next(
                    (i + 1 for i, h in enumerate(header) if normalise_header(h) == norm), None
                )
                if col is None:
                    continue  # anchor column missing: nothing can match, updates get skipped
                if col not in columns[tab]:
                    ok = False  # a person moved the column since our read
                    break
                by_name[norm] = columns[tab][col][changes.header_rows.get(tab, 1) :]
            if not ok:
                stale.append(tab)
                continue
            at = changes.header_rows.get(tab, 1)
            last = max(
                [_nonblank_len(c) + at for c in by_name.values()]
                + [at if header else 0, self._tabs[tab].read_rows]
            )
            snaps[tab] = TabSnapshot(tab, header, by_name, last, header_row=at)
            self._tabs[tab].header = header
        if stale:
            grids = self.read(stale)  # columns moved: fall back to whole tabs (rare)
            from ops_sheets.sheet.workbook.base import snapshot_from_rows

            for tab in stale:
                snaps[tab] = snapshot_from_rows(
                    tab, grids[tab].rows if tab in grids else None, changes.header_rows.get(tab, 1)
                )
        return snaps

    def append_rows(self, changes: ChangeSet) -> WriteReport:
        """values:append per tab, in the columns of the header as read this run.

        The explicit table range (``'Tab'!A1:<last column>``) makes Google append
        below the tab's table whatever people did meanwhile, in those columns.
        """
        headers = {t: self._tabs[t].header for t in changes.tabs if t in self._tabs}
        if any(not headers.get(a.tab) for a in changes.appends):
            return super().append_rows(changes)  # a tab we did not read: plan it
        rows: dict[str, list[list[Any]]] = {}
        for a in changes.appends:
            position = {normalise_header(h): i for i, h in enumerate(headers[a.tab])}
            if any(normalise_header(h) not in position for h in a.values):
                return super().append_rows(changes)  # a column to add first: plan it
            row: list[Any] = [""] * len(headers[a.tab])
            for h, v in a.values.items():
                row[position[normalise_header(h)]] = to_raw(v)
            rows.setdefault(a.tab, []).append(row)
        for tab, values in rows.items():
            width = len(headers[tab])
            self._call(
                self.http.values_append,
                f"{quote_title(tab)}!A1:{col_letter(width)}",
                params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
                body={"majorDimension": "ROWS", "values": values},
            )
            self._tabs[tab].rows += len(values)  # INSERT_ROWS grows the grid
        return WriteReport(sum(len(r[0]) for r in rows.values()), len(changes.appends), [], [], [])

    def apply(self, plan: WritePlan, changes: ChangeSet) -> None:
        """One write request: values:batchUpdate, or a batchUpdate when the grid changes.

        A values write cannot go past a tab's grid (Google answers "exceeds grid
        limits"), and a new tab or more rows/columns need a batchUpdate: then
        the cells go into that same batchUpdate as ``updateCells`` after the
        requests that make room for them, so growing costs no extra write.
        """
        structural = self._structure_requests(plan)
        looks = _look_requests(plan, changes, self._sheet_ids, self._filtered)
        written = {c.tab for c in plan.cells}
        # links (Problems rows) need updateCells, so the cells go in a batchUpdate
        # instead of the values write: they cost no request. They need the sheet
        # ids (``#gid=``), which a steady-state run does not fetch: known from this
        # process's metadata or remembered by the state (learn_sheet_ids); without
        # them the links wait for a run that knows them, rather than cost a request
        linked = {
            t: col for t, col in plan.link_columns.items() if t in written and t in self._sheet_ids
        }
        if not structural and not looks and not linked:
            data = _value_ranges(plan)
            if data:
                self._call(
                    self.http.values_batch_update,
                    {"valueInputOption": "RAW", "data": data},
                )
            return
        if any(t not in self._sheet_ids for t in written):
            self._metadata()  # not reached today: growing or adding a tab fetched every id
        reply = self._batch_update_cells(plan, structural, looks, linked)
        for r in reply.get("replies", []):
            props = r.get("addSheet", {}).get("properties")
            if props:
                self._sheet_ids[props["title"]] = props["sheetId"]
                if self._titles is not None:
                    self._titles.append(props["title"])

    def _batch_update_cells(
        self,
        plan: WritePlan,
        structural: list[dict[str, Any]],
        looks: list[dict[str, Any]],
        linked: Mapping[str, int],
    ) -> Any:
        """Structure, cells (with their links) and looks in one batchUpdate. Sheet ids
        remembered from an earlier run may be stale (a tab deleted and added again):
        Google then answers "No grid with id", and the write is made again once
        with the ids of a fresh metadata read."""
        for attempt in (1, 2):
            uris = {
                key: f"#gid={self._sheet_ids[link.tab]}&range={link.a1}"
                for key, link in plan.links.items()
                if link.tab in self._sheet_ids  # a tab gone since the read: no link
            }
            cells = _update_cells_requests(plan, self._sheet_ids, linked, uris)
            # looks after the cells: a column's number format then covers them too
            try:
                return self.http.batch_update(
                    self.spreadsheet_id, {"requests": structural + cells + looks}
                )
            except APIError as exc:
                stale = "No grid with id" in exc.error.get("message", "")
                if exc.code != 400 or not stale or attempt == 2 or not self._assumed_ids:
                    raise self._explain(exc) from None
                self._assumed_ids.clear()
                self._metadata()
            except requests.RequestException as exc:
                raise WorkbookError(f"{self.name}: cannot reach Google Sheets: {exc}") from None
        raise AssertionError("unreachable")

    def known_sheet_ids(self) -> dict[str, int]:
        return dict(self._sheet_ids)

    def learn_sheet_ids(self, ids: Mapping[str, int]) -> None:
        """Sheet ids an earlier run saw (the state keeps them): a write with links
        then needs no metadata request. Ids this process has read win."""
        for title, sheet_id in ids.items():
            if title not in self._sheet_ids:
                self._sheet_ids[title] = int(sheet_id)
                self._assumed_ids.add(title)

    def _structure_requests(self, plan: WritePlan) -> list[dict[str, Any]]:
        """New tabs, and more rows/columns where the write goes past the grid."""
        requests_: list[dict[str, Any]] = []
        need: dict[str, tuple[int, int]] = {}
        for tab, run in groupby(plan.cells, key=attrgetter("tab")):  # a tab's cells come together
            cells = list(run)
            r, k = need.get(tab, (0, 0))
            need[tab] = (
                max(r, *map(attrgetter("row"), cells)),
                max(k, *map(attrgetter("col"), cells)),
            )
        for tab in plan.new_tabs:
            rows, cols = need.get(tab, (1, 1))
            # our own id, so the cells can go to the new tab in the same batchUpdate
            # (a new tab is known to be missing from the metadata, which has every id)
            self._sheet_ids[tab] = _new_sheet_id(tab, set(self._sheet_ids.values()))
            requests_.append(
                {
                    "addSheet": {
                        "properties": {
                            "sheetId": self._sheet_ids[tab],
                            "title": tab,
                            "gridProperties": {
                                "rowCount": max(1000, rows),
                                "columnCount": max(26, cols),
                                "frozenRowCount": 1,
                            },
                        }
                    }
                }
            )
            self._tabs[tab] = _TabCache(rows=max(1000, rows), cols=max(26, cols))
        for tab, (rows, cols) in need.items():
            if tab in plan.new_tabs:
                continue
            cache = self._tabs.setdefault(tab, _TabCache())
            sheet_id = self._sheet_ids.get(tab)
            if (rows > cache.rows or cols > cache.cols) and sheet_id is None:
                self._metadata()
                sheet_id = self._sheet_ids.get(tab)
            if rows > cache.rows:
                extra = rows - cache.rows + 500  # grow with headroom: fewer structural writes
                requests_.append(
                    {"appendDimension": {"sheetId": sheet_id, "dimension": "ROWS", "length": extra}}
                )
                cache.rows += extra
            if cols > cache.cols:
                extra = cols - cache.cols
                requests_.append(
                    {
                        "appendDimension": {
                            "sheetId": sheet_id,
                            "dimension": "COLUMNS",
                            "length": extra,
                        }
                    }
                )
                cache.cols += extra
        return requests_

    # ------------------------------------------------------------ init

    def ensure_layout(
        self,
        layout: Mapping[str, Sequence[str]],
        header_rows: Mapping[str, int] | None = None,
        looks: Mapping[str, dict[str, ColumnLook]] | None = None,
    ) -> list[str]:
        """Tabs and headers (with their looks), then frozen header rows, Status
        dropdowns, and warning-only protection on service columns (one batchUpdate).
        The decorations assume headers on row 1: a tab with a title row above its
        headers gets its columns, not the dropdowns."""
        self._metadata()
        done = super().ensure_layout(layout, header_rows, looks)
        self._metadata()
        dressed = self._undressed_looks(layout, header_rows or {}, looks or {})
        dropdowns, protections = self._decorate(layout, dressed)
        # dropdowns are set again on every init (it is idempotent): say so only
        # when this init changed the layout, so a second init reports nothing new
        headers = sum(1 for r in dressed if r.get("repeatCell", {}).get("cell", {}).get("note"))
        found = (
            [f"formatted {headers} service column(s) found without their look"] if headers else []
        )
        return done + (dropdowns if done else []) + protections + found

    def _undressed_looks(
        self,
        layout: Mapping[str, Sequence[str]],
        header_rows: Mapping[str, int],
        looks: Mapping[str, dict[str, ColumnLook]],
    ) -> list[dict[str, Any]]:
        """The look requests of service columns ``init`` finds without their look
        (an older version made them, or a person typed the header): the header
        cell carries no service note. One request reads every header row with its
        notes; a column with its note is left alone, so a second init adds nothing."""
        tabs = [
            t
            for t in layout
            if t in self._sheet_ids
            and header_rows.get(t, 1) == 1
            and any(look.service for look in looks.get(t, {}).values())
        ]
        if not tabs:
            return []
        meta = self._call(
            self.http.fetch_sheet_metadata,
            params={
                "includeGridData": "true",
                "ranges": [f"{quote_title(t)}!1:1" for t in tabs],
                "fields": "sheets(properties(title),data(rowData(values(note,userEnteredValue))))",
            },
        )
        out: list[dict[str, Any]] = []
        for sheet in meta.get("sheets", []):
            title = sheet.get("properties", {}).get("title")
            if title not in tabs:
                continue
            data = sheet.get("data") or [{}]
            rows = data[0].get("rowData") or [{}]
            cells = rows[0].get("values") or []
            wanted = {normalise_header(h): look for h, look in looks[title].items()}
            seen: set[str] = set()
            for col, cell in enumerate(cells):
                value = (cell.get("userEnteredValue") or {}).get("stringValue", "")
                norm = normalise_header(value)
                look = wanted.get(norm)
                if look is None or not look.service or norm in seen:
                    continue
                seen.add(norm)
                if cell.get("note") != HEADER_NOTE:
                    out += _column_look(self._sheet_ids[title], col, look)
        return out

    def _decorate(
        self, layout: Mapping[str, Sequence[str]], looks: Sequence[dict[str, Any]] = ()
    ) -> tuple[list[str], list[str]]:
        """(dropdown lines, protection lines) of one batchUpdate of decorations,
        with ``looks`` (the requests that dress columns found without their look)."""
        from ops_sheets.sheet.tables import TAB_SPECS

        grids = self.read(list(layout))
        requests_: list[dict[str, Any]] = list(looks)
        dropdowns: list[str] = []
        done: list[str] = []
        specs = {s.title: s for s in TAB_SPECS.values()}
        for tab, grid in grids.items():
            sheet_id = self._sheet_ids[tab]
            requests_.append(
                {
                    "updateSheetProperties": {
                        "properties": {
                            "sheetId": sheet_id,
                            "gridProperties": {"frozenRowCount": 1},
                        },
                        "fields": "gridProperties.frozenRowCount",
                    }
                }
            )
            if tab not in self._filtered:  # a filter on every tab (issue 17)
                requests_.append({"setBasicFilter": {"filter": {"range": {"sheetId": sheet_id}}}})
                self._filtered.add(tab)
            spec = specs.get(tab)
            if spec is None:
                continue
            header = [normalise_header(h) for h in grid.header]
            for column in spec.columns:
                norm = normalise_header(column.header)
                if norm not in header:
                    continue
                col = header.index(norm)
                if column.kind == "enum" and column.owner == "team":
                    requests_.append(
                        {
                            "setDataValidation": {
                                "range": {
                                    "sheetId": sheet_id,
                                    "startRowIndex": 1,
                                    "startColumnIndex": col,
                                    "endColumnIndex": col + 1,
                                },
                                "rule": {
                                    "condition": {
                                        "type": "ONE_OF_LIST",
                                        "values": [{"userEnteredValue": v} for v in column.choices],
                                    },
                                    "showCustomUi": True,
                                    "strict": False,
                                },
                            }
                        }
                    )
                    dropdowns.append(f"dropdown on {tab}!{column.header}")
            description = f"ops-sheets: service columns of {tab}"
            if not spec.service_owned and (tab, description) not in self._protected:
                protected = 0
                for column in spec.service_columns:
                    norm = normalise_header(column.header)
                    if norm not in header:
                        continue
                    col = header.index(norm)
                    requests_.append(
                        {
                            "addProtectedRange": {
                                "protectedRange": {
                                    "range": {
                                        "sheetId": sheet_id,
                                        "startColumnIndex": col,
                                        "endColumnIndex": col + 1,
                                    },
                                    "description": description,
                                    "warningOnly": True,
                                }
                            }
                        }
                    )
                    protected += 1
                if protected:
                    done.append(f"warning on editing service columns of {tab}")
        if requests_:
            self._call(self.http.batch_update, {"requests": requests_})
        return dropdowns, done

    def exists(self) -> bool:
        return True


class _MissingTabs(Exception):
    def __init__(self, tabs: list[str]) -> None:
        super().__init__(tabs)
        self.tabs = tabs


def _nonblank_len(values: Sequence[Cell]) -> int:
    n = len(values)
    while n and values[n - 1] in (None, ""):
        n -= 1
    return n


def to_raw(value: Cell) -> Any:
    """A value for valueInputOption RAW: stored exactly, never parsed as a formula."""
    if value is None:
        return ""  # in a values write, null means "leave unchanged": "" clears
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value


def _value_ranges(plan: WritePlan) -> list[dict[str, Any]]:
    """Planned cells as few rectangular ranges: a run of adjacent cells in a row, and
    the runs of the rows below it in the same columns with it (a column written
    down many rows, like the Orders service columns, is one range, not one per row)."""
    by_row: dict[tuple[str, int], dict[int, Cell]] = {}
    for c in plan.cells:
        by_row.setdefault((c.tab, c.row), {})[c.col] = c.value
    blocks: list[tuple[str, int, int, list[list[Any]]]] = []  # (tab, first row, first col, rows)
    # (tab, first col, width) -> (last row, index in blocks) of the block a run may extend
    open_blocks: dict[tuple[str, int, int], tuple[int, int]] = {}

    def add(tab: str, row: int, start: int, run: list[Any]) -> None:
        shape = (tab, start, len(run))
        below = open_blocks.get(shape)
        if below is not None and below[0] == row - 1:
            blocks[below[1]][3].append(run)
            open_blocks[shape] = (row, below[1])
        else:
            open_blocks[shape] = (row, len(blocks))
            blocks.append((tab, row, start, [run]))

    for (tab, row), cells in by_row.items():
        cols = sorted(cells)
        start = prev = cols[0]
        run: list[Any] = [to_raw(cells[start])]
        for col in cols[1:]:
            if col == prev + 1:
                run.append(to_raw(cells[col]))
            else:
                add(tab, row, start, run)
                start, run = col, [to_raw(cells[col])]
            prev = col
        add(tab, row, start, run)
    return [_range(tab, row, start, rows) for tab, row, start, rows in blocks]


def _new_sheet_id(title: str, taken: set[int]) -> int:
    """A sheet id for a new tab: from its title (the same every time), unless taken."""
    sheet_id = zlib.crc32(title.encode("utf-8")) & 0x7FFFFFFF
    while sheet_id in taken:
        sheet_id = (sheet_id + 1) & 0x7FFFFFFF
    return sheet_id


def _cell_data(value: Cell) -> dict[str, Any]:
    """A value as ``updateCells`` takes it, stored as values:batchUpdate RAW stores it:
    text is never parsed (a formula-looking string stays text), "" clears the cell."""
    raw = to_raw(value)
    if raw == "":
        return {}  # with fields=userEnteredValue: no value, the format kept
    if isinstance(raw, bool):
        return {"userEnteredValue": {"boolValue": raw}}
    if isinstance(raw, int | float):
        return {"userEnteredValue": {"numberValue": raw}}
    return {"userEnteredValue": {"stringValue": str(raw)}}


def _update_cells_requests(
    plan: WritePlan,
    sheet_ids: Mapping[str, int],
    linked: Mapping[str, int] | None = None,
    uris: Mapping[tuple[str, int, int], str] | None = None,
) -> list[dict[str, Any]]:
    """Planned cells as ``updateCells`` requests: one per block of rows that are
    next to each other and written in the same columns (a Replace is one block).

    ``linked``: tab -> its link column. The cells of such a tab are written with
    their cell-level link (``userEnteredFormat.textFormat.link``), set from
    ``uris`` or cleared, so a row that lost its problem loses its link too."""
    linked = linked or {}
    uris = uris or {}

    def data(tab: str, row: int, col: int, value: Cell) -> dict[str, Any]:
        out = _cell_data(value)
        uri = uris.get((tab, row, col)) if value is not None else None
        if uri is not None:
            out["userEnteredFormat"] = {"textFormat": {"link": {"uri": uri}}}
        return out

    by_row: dict[tuple[str, int], dict[int, Cell]] = {}
    for c in plan.cells:
        by_row.setdefault((c.tab, c.row), {})[c.col] = c.value
    runs: list[tuple[str, int, int, list[dict[str, Any]]]] = []  # (tab, row, first col, cells)
    for (tab, row), cells in sorted(by_row.items()):
        cols = sorted(cells)
        start = prev = cols[0]
        run = [data(tab, row, start, cells[start])]
        for col in cols[1:]:
            if col != prev + 1:
                runs.append((tab, row, start, run))
                start, run = col, []
            run.append(data(tab, row, col, cells[col]))
            prev = col
        runs.append((tab, row, start, run))
    requests_: list[dict[str, Any]] = []
    block: dict[str, Any] | None = None
    last: tuple[str, int, int, int] | None = None  # (tab, row, first col, width) of the last run

    def fields(tab: str, row: int) -> str:
        if tab in linked and row > 1:  # the header row keeps its own links
            return "userEnteredValue,userEnteredFormat.textFormat.link"
        return "userEnteredValue"

    for tab, row, start, run in runs:
        if (
            block is not None
            and last == (tab, row - 1, start, len(run))
            and block["updateCells"]["fields"] == fields(tab, row)
        ):
            block["updateCells"]["rows"].append({"values": run})
        else:
            block = {
                "updateCells": {
                    "start": {
                        "sheetId": sheet_ids[tab],
                        "rowIndex": row - 1,
                        "columnIndex": start - 1,
                    },
                    "rows": [{"values": run}],
                    "fields": fields(tab, row),
                }
            }
            requests_.append(block)
        last = (tab, row, start, len(run))
    return requests_


def _range(tab: str, row: int, start: int, rows: list[list[Any]]) -> dict[str, Any]:
    """Rows of values of the same width, the first at ``row``, from column ``start``."""
    end = start + len(rows[0]) - 1
    last = row + len(rows) - 1
    return {
        "range": f"{quote_title(tab)}!{col_letter(start)}{row}:{col_letter(end)}{last}",
        "majorDimension": "ROWS",
        "values": rows,
    }


# ---------------------------------------------------------------- looks

_CONDITION = {"contains": "TEXT_CONTAINS", "begins": "TEXT_STARTS_WITH", "equals": "TEXT_EQ"}


def _colour(hex_rgb: str) -> dict[str, float]:
    return {
        name: round(int(hex_rgb[i : i + 2], 16) / 255, 4)
        for name, i in (("red", 0), ("green", 2), ("blue", 4))
    }


def _look_requests(
    plan: WritePlan, changes: ChangeSet, sheet_ids: Mapping[str, int], filtered: set[str]
) -> list[dict[str, Any]]:
    """Formats for the columns and tabs this write creates (issue 17), nothing else:
    a steady-state run creates none, so it costs no request and no change here.

    Header fill and note, width, number format and status colours for each new
    service column; a filter on each new tab (a team tab keeps its own, or none).
    """
    new_columns: dict[str, dict[int, str]] = {}
    added = set(plan.added_headers)
    for c in plan.cells:
        if c.row == 1 and (c.tab, c.value) in added:
            new_columns.setdefault(c.tab, {})[c.col - 1] = str(c.value)
    out: list[dict[str, Any]] = []
    for tab, columns in new_columns.items():
        looks = {normalise_header(h): look for h, look in changes.looks.get(tab, {}).items()}
        sheet_id = sheet_ids.get(tab)
        if sheet_id is None:
            continue
        for col, header in sorted(columns.items()):
            look = looks.get(normalise_header(header))
            if look is not None and look.service:
                out += _column_look(sheet_id, col, look)
    for tab in plan.new_tabs:
        if tab in sheet_ids and tab not in filtered and tab in new_columns:
            out.append({"setBasicFilter": {"filter": {"range": {"sheetId": sheet_ids[tab]}}}})
            filtered.add(tab)
    return out


def _column_look(sheet_id: int, col: int, look: ColumnLook) -> list[dict[str, Any]]:
    column = {"sheetId": sheet_id, "startColumnIndex": col, "endColumnIndex": col + 1}
    out: list[dict[str, Any]] = [
        {
            "repeatCell": {
                "range": {**column, "startRowIndex": 0, "endRowIndex": 1},
                "cell": {
                    "userEnteredFormat": {
                        "backgroundColor": _colour(HEADER_FILL),
                        "textFormat": {"bold": True, "foregroundColor": _colour(HEADER_TEXT)},
                    },
                    "note": HEADER_NOTE,
                },
                "fields": "userEnteredFormat(backgroundColor,textFormat),note",
            }
        }
    ]
    if look.width:
        out.append(
            {
                "updateDimensionProperties": {
                    "range": {
                        "sheetId": sheet_id,
                        "dimension": "COLUMNS",
                        "startIndex": col,
                        "endIndex": col + 1,
                    },
                    "properties": {"pixelSize": look.pixels},
                    "fields": "pixelSize",
                }
            }
        )
    data_format: dict[str, Any] = {}
    fields = []
    if look.number_format:
        data_format["numberFormat"] = {
            "type": look.number_type or "NUMBER",
            "pattern": look.number_format,
        }
        fields.append("numberFormat")
    if look.wrap:
        data_format["wrapStrategy"] = "WRAP"
        fields.append("wrapStrategy")
    if look.statuses or look.centred:  # clear of the number or words beside it
        data_format["horizontalAlignment"] = "CENTER"
        fields.append("horizontalAlignment")
    if data_format:
        out.append(
            {
                "repeatCell": {
                    "range": {**column, "startRowIndex": 1},
                    "cell": {"userEnteredFormat": data_format},
                    "fields": f"userEnteredFormat({','.join(fields)})",
                }
            }
        )
    if look.statuses:
        for index, (how, word, (fill, text)) in enumerate(STATUS_RULES):
            out.append(
                {
                    "addConditionalFormatRule": {
                        "index": index,
                        "rule": {
                            "ranges": [{**column, "startRowIndex": 1}],
                            "booleanRule": {
                                "condition": {
                                    "type": _CONDITION[how],
                                    "values": [{"userEnteredValue": word}],
                                },
                                "format": {
                                    "backgroundColor": _colour(fill),
                                    "textFormat": {"foregroundColor": _colour(text), "bold": True},
                                },
                            },
                        },
                    }
                }
            )
    return out
