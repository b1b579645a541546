"""Run one job: read the sheet once, let the job decide, write once, then send.

A job (a module in ``jobs/``) is a function ``run(ctx: JobContext) -> None``. It
reads typed tables from ``ctx``, computes with pure domain functions, and records
what it wants done: cell values by key (``ctx.set``), rows to append, emails to
send, problems found. The runner does all the I/O, in this order:

1. one read of every tab the job needs;
2. the job runs (no I/O of its own);
3. emails are rendered and their addresses checked, so that a bad address is a
   problem on the Problems tab in the same write;
4. rows that must exist before their email does (new PO lines) are appended;
5. emails go out through the ledger (at most once per key);
6. one write of every cell change, appended row, the Problems tab, the Activity
   log and the values that depend on delivery (a PO line becomes SENT only once
   the ledger says sent), each located by key against a look taken now. If that
   write fails after mail went out, the ledger still knows what was sent and the
   Activity log rows wait in the state for the next run.

``--dry-run`` stops after step 3 and prints every change and every email instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pandas as pd

from ops_sheets.config import Settings
from ops_sheets.domain.validation import validate
from ops_sheets.errors import JobError, OpsSheetsError, UsageError
from ops_sheets.mail.sent_log import SentLog
from ops_sheets.service import problems_tab
from ops_sheets.service.deliveries import Deliveries
from ops_sheets.service.problem_links import LINK_HEADER, problem_links
from ops_sheets.service.state_guard import MailGuard, guard_mail
from ops_sheets.service.synced_orders import preset_of, read_synced_orders
from ops_sheets.service.synced_stock import read_synced_stock
from ops_sheets.service.today_tab import add_today
from ops_sheets.sheet.cells import key_text
from ops_sheets.sheet.looks import looks_for
from ops_sheets.sheet.tab_input import prepare_grid
from ops_sheets.sheet.tables import (
    ACTIVITY_LOG,
    TAB_SPECS,
    TEAM_TABS,
    Column,
    Problem,
    Table,
    TabSpec,
    layout_for,
    layout_headers,
    parse_table,
    similar_title,
)
from ops_sheets.sheet.workbook import open_workbook
from ops_sheets.sheet.workbook.base import (
    Append,
    Cell,
    ChangeSet,
    ChartSpec,
    Grid,
    Replace,
    Update,
    Workbook,
    WriteReport,
)
from ops_sheets.sheet.workbook.memory import MemoryWorkbook

if TYPE_CHECKING:
    from ops_sheets.domain.today import Todo
    from ops_sheets.mail.postman import DeliveryReport, OutgoingEmail
    from ops_sheets.service.shared_read import SharedRead
    from ops_sheets.store.ledger import Ledger

log = logging.getLogger(__name__)

JOB_NAMES = (
    "check",
    "stock",
    "orders",
    "returns",
    "monitor",
    "weekly",
    # issue 18
    "customers",
    "complaints",
    # issue 19
    "listings",
    "content",
)


def to_cell(value: Any) -> Cell:
    """A value the backends can store: numpy and pandas scalars become plain Python."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (str, bool, datetime, date, time)):
        return value
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 6)
    if isinstance(value, int):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


@dataclass
class AfterSend:
    """Cell values to write only when the email ``email_key`` was delivered."""

    email_key: str
    update: Update


@dataclass
class JobContext:
    """What a job sees: its tables, `now`, settings; and where it records changes."""

    job: str
    settings: Settings
    now: datetime
    tables: dict[str, Table]
    clock: Callable[[], datetime]
    state: Any = None  # ops_sheets.store.state.State, None in pure unit tests
    #: a dry run: ``state`` (if any) is read-only, and nothing may be recorded in it
    dry_run: bool = False
    #: the runner's; jobs ask ``deliveries``, never the ledger itself
    ledger: Ledger | None = None
    problems: list[Problem] = field(default_factory=list)
    changes: ChangeSet = field(default_factory=ChangeSet)
    emails: list[OutgoingEmail] = field(default_factory=list)
    after_send: list[AfterSend] = field(default_factory=list)
    #: rows that must be in the sheet before any email of this run goes out
    before_send: ChangeSet = field(default_factory=ChangeSet)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    #: outputs left as they were because a tab they depend on could not be read
    skipped: list[str] = field(default_factory=list)
    _deliveries: Deliveries | None = field(default=None, init=False, repr=False)
    _specs: dict[str, tuple[TabSpec, str, Mapping[str, str]]] = field(
        default_factory=dict, init=False, repr=False
    )
    #: the spreadsheet's locale (Google; "" for a file), for a job that sets
    #: ``READS_LOCALE = True`` (check: does ``day_first`` agree with it?)
    sheet_locale: str = ""
    #: the jobs of a ``run all`` share their reading of the sheet (see shared_read)
    shared: SharedRead | None = field(default=None, repr=False)
    _checks: list[Problem] | None = field(default=None, init=False, repr=False)
    _columns: dict[tuple[str, str], tuple[Column, str]] = field(
        default_factory=dict, init=False, repr=False
    )
    #: to-dos the job works out itself (complaints due today), by source name: each
    #: replaces its set on the Today tab; a source not given keeps its last set
    todos: dict[str, list[Todo]] = field(default_factory=dict)
    #: the tabs ``requires`` found readable this run: the job's own Problems rows
    #: are worked out from them (kept while one cannot be read, see problems_tab)
    read_for: set[str] = field(default_factory=set)
    #: the jobs present and enabled in the config (set by the runner): only their
    #: kept Problems rows and Today to-dos stay; None keeps every job's
    live_jobs: frozenset[str] | None = None

    # -------------------------------------------------------------- reading

    @property
    def deliveries(self) -> Deliveries:
        """What became of the messages earlier runs queued (``delivered(key)``...)."""
        if self._deliveries is None or self._deliveries.ledger is not self.ledger:
            self._deliveries = Deliveries(self.ledger)
        return self._deliveries

    def table(self, key: str) -> Table:
        return self.tables[key]

    def checks(self) -> list[Problem]:
        """The cross-tab checks (``validation.validate``) of this run's tables: worked
        out once per run, and once for all the jobs of a ``run all``."""
        if self._checks is None:
            if self.shared is None:
                self._checks = validate(self.tables)
            else:
                self._checks = self.shared.checked(lambda: validate(self.tables))
        return list(self._checks)

    @property
    def tz(self):
        return self.settings.tz

    def unavailable(self, *tab_keys: str) -> list[str]:
        """Those of these tabs (all tabs read, if none named) that this run could
        not read whole: missing, or a required column missing. A tab the run did
        not read at all counts as unavailable too."""
        keys = tab_keys or tuple(self.tables)
        return [k for k in keys if k not in self.tables or not self.tables[k].available]

    def requires(self, output: str, *tab_keys: str) -> bool:
        """Whether ``output`` (words for people: "Stock figures") can be made: every
        tab it is computed from was read whole. If not, the run leaves it as it was
        (a missing tab is unknown data, never zero rows), says so in a note, and
        returns False; the tab's own Problems row says how to fix it.
        """
        missing = self.unavailable(*tab_keys)
        if not missing:
            self.read_for.update(tab_keys or self.tables)
            return True
        tabs = ", ".join(self._tab_title(k) for k in missing)
        self.note(f"{output}: not updated, {tabs} could not be read (see the Problems tab)")
        self.skipped.append(output)
        return False

    def _tab_title(self, key: str) -> str:
        table = self.tables.get(key)
        return table.title if table is not None else layout_for(TAB_SPECS[key], self.settings).title

    # -------------------------------------------------------------- writing

    def _spec(self, tab_key: str) -> tuple[TabSpec, str, Mapping[str, str]]:
        # asked once per row written: worked out once per tab
        known = self._specs.get(tab_key)
        if known is None:
            spec = TAB_SPECS[tab_key]
            table = self.tables.get(tab_key)
            layout = layout_for(spec, self.settings)
            headers = dict(layout.headers)
            if table is not None:
                headers.update(table.headers)  # the sheet's own spelling wins
            title = table.title if table is not None else layout.title
            known = self._specs[tab_key] = (spec, title, MappingProxyType(headers))
            if table is not None and table.header_row != 1:  # below a title row
                self.changes.header_rows[title] = table.header_row
                self.before_send.header_rows[title] = table.header_row
        spec, title, headers = known
        if title not in self.changes.headers:
            declared = (
                [headers[c.key] for c in spec.columns]
                if spec.service_owned
                # wave 2's optional service columns only once a job writes them
                else [headers[c.key] for c in spec.service_columns if not c.optional]
            )
            anchors = [headers[k] for k in spec.key_columns]
            self.changes.declare(title, declared, anchors)
            self.changes.looks[title] = looks_for(spec, headers, self.settings.currency)
        return spec, title, headers

    def _cells(
        self, spec: TabSpec, headers: Mapping[str, str], values: Mapping[str, Any], *, team_ok: bool
    ) -> dict[str, Cell]:
        out: dict[str, Cell] = {}
        for key, value in values.items():
            col, header = self._column(spec, headers, key)
            if col.owner == "team" and not team_ok:
                # Principle 1: the service never overwrites a team column.
                raise JobError(f"job {self.job}: {spec.title}!{col.header} belongs to the team")
            out[header] = to_cell(value)
        return out

    def _key(
        self, spec: TabSpec, headers: Mapping[str, str], key: Mapping[str, Any]
    ) -> dict[str, str]:
        return {self._column(spec, headers, k)[1]: key_text(to_cell(v)) for k, v in key.items()}

    def _column(self, spec: TabSpec, headers: Mapping[str, str], name: str) -> tuple[Column, str]:
        """The column a job names (key or header) and its header in this sheet; jobs
        name columns once per row they write, so each name is looked up once."""
        found = self._columns.get((spec.key, name))
        if found is None:
            col = spec.column(name)
            if col is None:
                raise JobError(f"job {self.job}: {spec.title} has no column {name!r}")
            found = self._columns[(spec.key, name)] = (col, headers[col.key])
        return found

    def locate_by(self, tab_key: str, columns: Sequence[str]) -> None:
        """Find this tab's rows by these columns at write time (not only by its key),
        e.g. Returns rows whose Return ID is still blank: Order ID + SKU."""
        spec, title, headers = self._spec(tab_key)
        anchors = self.changes.anchors.setdefault(title, [])
        for column in columns:
            header = headers[spec.column(column).key]  # type: ignore[union-attr]
            if header not in anchors:
                anchors.append(header)

    def _update(
        self,
        tab_key: str,
        key: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        team_ok: bool,
        upsert: bool = False,
        keep_existing: bool = False,
    ) -> Update:
        spec, title, headers = self._spec(tab_key)
        cells = self._cells(spec, headers, values, team_ok=team_ok)
        return Update(
            title, self._key(spec, headers, key), cells, upsert=upsert, keep_existing=keep_existing
        )

    def set(self, tab_key: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """Write service columns of the row with this key (found again at write time)."""
        self.changes.updates.append(self._update(tab_key, key, values, team_ok=False))
        spec, title, headers = self._spec(tab_key)
        self._declare_optional(spec, title, headers, values)

    def set_rows(
        self, tab_key: str, rows: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]
    ) -> None:
        """:meth:`set` for each ``(key, values)`` in turn: the same updates, with the
        columns a job names looked up and checked once for all the rows (a write
        to every Orders line is 100k rows)."""
        spec, title, headers = self._spec(tab_key)
        updates = self.changes.updates
        value_headers: dict[str, str] = {}
        key_headers: dict[str, str] = {}
        for key, values in rows:
            new_names: list[str] = []
            cells: dict[str, Cell] = {}
            for name, value in values.items():
                header = value_headers.get(name)
                if header is None:
                    col, header = self._column(spec, headers, name)
                    if col.owner == "team":  # Principle 1, as in set
                        raise JobError(
                            f"job {self.job}: {spec.title}!{col.header} belongs to the team"
                        )
                    value_headers[name] = header
                    new_names.append(name)
                # text and blanks, most cells, are as to_cell leaves them
                cells[header] = value if value is None or value.__class__ is str else to_cell(value)
            found: dict[str, str] = {}
            for name, value in key.items():
                header = key_headers.get(name)
                if header is None:
                    header = key_headers[name] = self._column(spec, headers, name)[1]
                found[header] = (
                    value.strip() if value.__class__ is str else key_text(to_cell(value))
                )
            updates.append(Update(title, found, cells))
            if new_names:
                self._declare_optional(spec, title, headers, new_names)

    def _declare_optional(
        self, spec: TabSpec, title: str, headers: Mapping[str, str], names: Iterable[str]
    ) -> None:
        """Optional service columns a write names go after the last declared one."""
        declared = self.changes.headers.get(title)
        for k in names:
            column = spec.column(k)
            if column is None or not column.optional or declared is None:
                continue
            if headers[column.key] not in declared:  # added after the last used column
                declared.append(headers[column.key])

    def set_team_cells(
        self, tab_key: str, key: Mapping[str, Any], values: Mapping[str, Any]
    ) -> None:
        """Fill a team cell the design gives to the service (a blank Return ID → RMA)."""
        self.changes.updates.append(self._update(tab_key, key, values, team_ok=True))

    def set_team_cell_after_send(
        self, email_key: str, tab_key: str, key: Mapping[str, Any], values: Mapping[str, Any]
    ) -> None:
        """A workflow column the team hands over (PO Status → SENT), only once delivered."""
        update = self._update(tab_key, key, values, team_ok=True)
        self.after_send.append(AfterSend(email_key, update))

    def upsert(self, tab_key: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """Rewrite the row with this key, or append it (today's Daily KPIs row)."""
        service_tab = TAB_SPECS[tab_key].service_owned
        self.changes.updates.append(
            self._update(tab_key, key, values, team_ok=service_tab, upsert=True)
        )

    def add_if_missing(
        self, tab_key: str, key: Mapping[str, Any], values: Mapping[str, Any]
    ) -> None:
        """Append the row with this key unless a row has it at write time, which is
        then left exactly as it is (a back-filled past week of the Weekly summary)."""
        service_tab = TAB_SPECS[tab_key].service_owned
        self.changes.updates.append(
            self._update(tab_key, key, values, team_ok=service_tab, upsert=True, keep_existing=True)
        )

    def append(self, tab_key: str, values: Mapping[str, Any], *, before_send: bool = False) -> None:
        """Append a row (Purchase orders lines, service tabs). ``before_send``: the row
        is written before this run sends any email (a new PO line before its PO)."""
        spec, title, headers = self._spec(tab_key)
        row = Append(title, self._cells(spec, headers, values, team_ok=True))
        if before_send:
            self.before_send.declare(title, [], self.changes.anchors.get(title, []))
            self.before_send.appends.append(row)
        else:
            self.changes.appends.append(row)

    def chart(self, spec: ChartSpec) -> None:
        """A native chart on a service tab, drawn in the same write (xlsx only; the
        Google and memory backends ignore charts)."""
        self.changes.charts.append(spec)

    def problem(self, problem: Problem) -> None:
        self.problems.append(problem)

    def send(self, email: OutgoingEmail) -> None:
        """Queue an email; it goes out after the sheet write, at most once per key."""
        self.emails.append(email)

    def log(
        self, action: str, subject: str = "", to: str = "", reference: str = "", result: str = ""
    ) -> None:
        """An Activity log row, stamped with the wall-clock moment it happened."""
        self.append(
            "activity_log",
            {
                "time": self.clock().astimezone(self.tz),
                "job": self.job,
                "action": action,
                "subject": subject,
                "to": to,
                "reference": reference,
                "result": result,
            },
        )

    def note(self, line: str) -> None:
        """A line for the run summary printed to the person who ran the job."""
        self.notes.append(line)


@dataclass
class JobResult:
    job: str
    now: datetime
    problems: list[Problem]
    notes: list[str]
    counts: dict[str, int]
    write: WriteReport | None = None
    delivery: DeliveryReport | None = None
    dry_run_lines: list[str] = field(default_factory=list)
    error: str = ""
    #: posts to Slack, Teams, Telegram, webhooks (mail.channels.poster.ChannelReport)
    channels: Any = None

    @property
    def exit_code(self) -> int:
        if self.error:
            return 1
        if self.problems:
            return 1
        if self.delivery is not None and not self.delivery.ok:
            return 1
        if self.channels is not None and not self.channels.ok:
            return 1
        return 0


# ---------------------------------------------------------------- job loading


def load_job(name: str, settings: Settings) -> ModuleType:
    """The job module: the user's ``jobs_dir/<name>.py`` if present, else the bundled one."""
    if not name.isidentifier():
        raise UsageError(f"{name!r} is not a job name; valid: {', '.join(JOB_NAMES)}")
    user_file = settings.resolve(settings.jobs_dir) / f"{name}.py"
    if user_file.is_file():
        spec = importlib.util.spec_from_file_location(f"ops_sheets_user_jobs.{name}", user_file)
        if spec is None or spec.loader is None:
            raise UsageError(f"{user_file}: cannot load this job module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(f"ops_sheets.jobs.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"jobs.{name}"):
                raise UsageError(
                    f"no job named {name!r}; valid: {', '.join(available_jobs(settings))}"
                ) from None
            raise
    if not callable(getattr(module, "run", None)):
        raise UsageError(f"job module {name!r} has no run(ctx) function")
    return module


def available_jobs(settings: Settings | None = None) -> list[str]:
    names = list(JOB_NAMES)
    bundled = Path(importlib.import_module("ops_sheets.jobs").__file__ or ".").parent
    present = [n for n in names if (bundled / f"{n}.py").is_file()]
    # issue 19: the reporting jobs last, so they see what every other job found
    present.sort(key=lambda j: j in REPORTING_JOBS)
    if settings is not None:
        user_dir = settings.resolve(settings.jobs_dir)
        if user_dir.is_dir():
            present += sorted(
                p.stem
                for p in user_dir.glob("*.py")
                if p.stem not in present and not p.stem.startswith("_")
            )
    return present


# ---------------------------------------------------------------- running


def tabs_to_read(job: ModuleType) -> list[str]:
    """Every team tab (so every run finds the same data problems) plus what the job asks."""
    extra = list(getattr(job, "READS", ()))
    return list(dict.fromkeys([*TEAM_TABS, *extra]))


def titles_to_read(job: ModuleType, settings: Settings, *, dry_run: bool = False) -> list[str]:
    """The tabs a run of this job reads, in its one read."""
    keys = tabs_to_read(job)
    # The Activity log rides in the same read: it shows what was sent (mail.sent_log).
    # A dry run reads Problems too, so the printed changes are against what it holds.
    extra = ("problems", "activity_log") if dry_run else ("activity_log",)
    return list(dict.fromkeys(layout_for(TAB_SPECS[k], settings).title for k in [*keys, *extra]))


def parse_tables(
    grids: Mapping[str, Grid],
    tab_keys: Iterable[str],
    settings: Settings,
    now: datetime | None = None,
    *,
    existing_titles: Sequence[str] = (),
    shared: SharedRead | None = None,
) -> dict[str, Table]:
    """Each tab parsed; ``now`` (the job's) bounds date cells (``tables.date_window``).

    ``existing_titles``: every tab of the workbook, so that a missing tab can name
    the one that looks like it (a renamed "Orders 2026"). ``shared``: the jobs of a
    ``run all`` parse each tab once (the same ``now`` and settings for all of them).
    """
    out: dict[str, Table] = {}
    for key in tab_keys:
        spec = TAB_SPECS[key]
        title = layout_for(spec, settings).title

        def parse(key: str = key, spec: TabSpec = spec, title: str = title) -> Table:
            grid = grids.get(title)
            if key == "orders" and grid is not None and preset_of(settings):
                # synced in a platform's layout: read through its preset
                return read_synced_orders(grid, settings, now)
            if key == "stock" and grid is not None and preset_of(settings, "stock"):
                return read_synced_stock(grid, settings, now)  # Shopify's inventory export
            prepared = None
            if grid is not None and not spec.service_owned:
                # header row, value maps and numbers as typed: a pre-pass over the raw cells
                prepared = prepare_grid(spec, grid, settings)
                grid = prepared.grid
            table = parse_table(
                spec, grid, settings.tz, settings, day_first=settings.day_first, now=now
            )
            if prepared is not None and prepared.reworded:
                table.problems = prepared.reword(table.problems)
            if grid is not None:
                table.header_row = grid.header_index + 1
            return table

        out[key] = table = parse() if shared is None else shared.parsed(key, title, parse)
        if not table.exists and not spec.service_owned:
            table.similar = similar_title(title, existing_titles, settings)
    return out


def missing_tab_problems(tables: Mapping[str, Table]) -> list[Problem]:
    """One Problems row per missing team tab. When a tab with a similar title exists
    (someone renamed it), the row says how to map it, and does not suggest ``init``,
    which would add a second, empty tab beside the team's own."""
    out: list[Problem] = []
    for key, t in tables.items():
        if t.exists or key not in TEAM_TABS:
            continue
        if t.similar:
            problem = f"tab {t.title!r} not found — did you mean {t.similar!r}?"
            fix = (
                f'map it in the config: [tabs.{key}] name = "{t.similar}"; until then, '
                f"nothing that depends on {t.title} is written or sent"
            )
        else:
            problem = f"tab {t.title!r} not found"
            fix = (
                "run `ops-sheets init` to create it, or name yours in config: "
                f'[tabs.{key}] name = "Your tab"; until then, nothing that depends on '
                f"{t.title} is written or sent"
            )
        out.append(Problem(t.title, None, "", "", "", problem, fix))
    return out


def run_job(
    name: str,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool = False,
    workbook: Workbook | None = None,
    clock: Callable[[], datetime] | None = None,
    state: Any = None,
    ledger: Any = None,
    transport: Any = None,
    accept_new_state: bool = False,
    shared: SharedRead | None = None,
) -> JobResult:
    """Run one job once. Errors of the service's own kind propagate to the CLI.

    ``shared``: the jobs of a ``run all`` read the sheet once between them (its
    workbook is used, and the run's writes are followed there).

    ``accept_new_state``: send mail although the state is new and the sheet was
    processed before; recorded in the state, so given once (see
    :mod:`ops_sheets.service.state_guard`). What the Activity log shows as sent is never
    sent again, accepted or not.
    """
    clock = clock or (lambda: datetime.now(UTC))
    job = load_job(name, settings)
    if shared is not None:
        workbook = shared.workbook
    own_workbook = workbook is None
    wb = workbook or open_workbook(settings)
    own_state = state is None
    if own_state:
        from ops_sheets.store.location import state_location
        from ops_sheets.store.state import State

        location = state_location(settings)
        state = State.peek(location) if dry_run else State(location)
    run_id = state.start_run(name, now, clock()) if state is not None and not dry_run else None
    # what the run opens for itself is closed (and a dry run's copy removed) however it ends
    resources = ExitStack()
    try:
        if ledger is None:
            ledger = resources.enter_context(_own_ledger(settings, dry_run=dry_run))
        result = _run(
            job,
            name,
            settings,
            now,
            wb,
            clock,
            dry_run,
            state,
            ledger,
            transport,
            accept_new_state,
            shared,
        )
    except BaseException as exc:
        if run_id is not None:
            state.finish_run(run_id, "failed", clock(), error=_one_line(exc))
        raise
    finally:
        resources.close()
        if own_workbook:
            wb.close()
    if run_id is not None:
        outcome = "ok" if result.exit_code == 0 else "problems"
        state.finish_run(run_id, outcome, clock(), counts=result.counts)
    if own_state and state is not None:
        state.close()
    return result


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OpsSheetsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" + " | " + traceback.format_exc(limit=1).splitlines()[-1]


def _run(
    job: ModuleType,
    name: str,
    settings: Settings,
    now: datetime,
    wb: Workbook,
    clock: Callable[[], datetime],
    dry_run: bool,
    state: Any,
    ledger: Any,
    transport: Any,
    accept_new_state: bool = False,
    shared: SharedRead | None = None,
) -> JobResult:
    keys = tabs_to_read(job)
    titles = titles_to_read(job, settings, dry_run=dry_run)
    looked_for = _optional_tabs_to_look_for(titles, settings, state, wb, now)
    for key in getattr(job, "ALWAYS_READS", ()):  # a job's own optional tab
        looked_for.pop(layout_for(TAB_SPECS[key], settings).title, None)
    titles = [t for t in titles if t not in looked_for or looked_for[t]]
    grids = shared.read(titles) if shared is not None else wb.read(titles)
    _remember_optional_tabs(looked_for, grids, state, wb, now)
    sent_log = SentLog.from_grid(
        grids.get(layout_for(TAB_SPECS["activity_log"], settings).title), settings
    )
    team_titles = [layout_for(TAB_SPECS[k], settings).title for k in keys if k in TEAM_TABS]
    # a team tab is missing (renamed?): the titles there are, to name the one it may be
    existing = wb.titles_known() if any(t not in grids for t in team_titles) else []
    tables = parse_tables(grids, keys, settings, now, existing_titles=existing, shared=shared)
    if shared is None and not dry_run:  # memory: past this point only header rows are read
        grids = _header_rows_only(grids)
    guard = (
        guard_mail(state, settings, tables, sent_log, accept=accept_new_state, now=now)
        if state is not None
        else MailGuard(hold=False)
    )
    ctx = JobContext(
        job=name,
        settings=settings,
        now=now,
        tables=tables,
        clock=clock,
        # Mail held: the job's memory is left as it was, so nothing that went unsent is
        # remembered as done (a pickup "booked" by a held request would be booked anew
        # under another key, which the Activity log cannot recognise).
        state=state.read_only_view() if guard.hold and state is not None else state,
        dry_run=dry_run,
        shared=shared,
    )

    ctx.ledger = ledger
    ctx.live_jobs = frozenset(j for j in available_jobs(settings) if settings.job(j).enabled)
    if getattr(job, "READS_LOCALE", False):
        ctx.sheet_locale = _sheet_locale(wb, ctx.state, now)
    postman = _postman(settings, None if dry_run else ledger, transport)
    job.run(ctx)
    _keep_off_missing_tabs(ctx)
    carried_over = _restore_unwritten_activity(ctx)

    problems = missing_tab_problems(tables)
    shared_rows: list[Problem] = []  # kept while a tab they depend on cannot be read
    for t in tables.values():
        problems += t.problems
        if t.available:  # an unreadable tab's rows say why: each run says it afresh
            shared_rows += t.problems
    checks = ctx.checks()
    problems += checks
    shared_rows += checks
    problems += ctx.problems
    own_problems = list(ctx.problems)  # only this job finds them: kept across other jobs' runs

    sendable: list[OutgoingEmail] = list(ctx.emails)
    if ctx.emails:
        prepared = postman.prepare(ctx.emails)
        rejected = [p for p in prepared if not p.ok]
        problems += [_mail_problem(r) for r in rejected]
        own_problems += [_mail_problem(r) for r in rejected]
        bad = {r.email.key for r in rejected}
        sendable = [e for e in ctx.emails if e.key not in bad]
        if dry_run:
            ctx.notes += [_describe_email(p, sent_log) for p in prepared if p.ok]
    if dry_run and settings.channels and not guard.hold:  # what Slack, Teams... would get
        from ops_sheets.mail.channels.poster import describe_posts

        ctx.notes += describe_posts(settings, ctx.emails)

    if guard.hold:  # a new state next to a processed sheet: no mail at all, every job
        unsent = [e for e in sendable if not sent_log.shows_sent(e.key)]
        problems.append(_held_mail_problem(settings, guard, len(unsent)))
        logged = len(sendable) - len(unsent)
        ctx.note(
            f"mail held, the state is new (see Problems): {len(unsent)} email(s) not sent"
            + (f"; {logged} more the Activity log shows as sent already" if logged else "")
        )
        sendable = []
    elif guard.accepted_now:
        ctx.note(
            "new state accepted for this sheet: mail goes out again, except what the "
            "Activity log shows as sent"
        )

    problem_rows = [p.as_row(name, now) for p in problems]
    # the rows only other jobs find (and ours kept while a tab is unreadable) stay,
    # and so do the shared rows worked out from a tab this run could not read
    kept = problems_tab.keep_shared(ctx, shared_rows, now)
    earlier = problems_tab.shown(problems, kept + problems_tab.publish(ctx, own_problems, now))
    problem_rows += [f.row() for f in earlier]
    _, problems_title, _ = ctx._spec("problems")
    # each row's Tab cell leads to its cell
    links = problem_links([*problems, *(f.problem for f in earlier)], grids)
    ctx.changes.replaces.append(
        Replace(problems_title, problem_rows, link_header=LINK_HEADER, links=links)
    )
    # the team's to-do list, in the same write (kept rows stay to-dos too)
    still = [f.problem for f in earlier if f.job == name or f in kept]
    add_today(ctx, [*problems, *still], now)
    ctx.counts.setdefault("problems", len(problems))

    result = JobResult(name, now, problems, ctx.notes, ctx.counts)
    if dry_run:
        everything = ctx.changes
        for tab in ctx.before_send.tabs:
            everything.declare(tab, [], ctx.before_send.anchors.get(tab, []))
        everything.appends = ctx.before_send.appends + everything.appends
        result.dry_run_lines = describe_changes(grids, everything)
        return result

    if ctx.before_send:
        # New PO lines are in the sheet before their email exists anywhere else, so
        # a failed write can never leave a sent PO the sheet does not know about.
        _following(shared, ctx.before_send, lambda: wb.append_rows(ctx.before_send))
        wb.flush()  # on disk, with anything held before it (Workbook.hold_saves)

    # Slack, Teams, Telegram, webhooks: before the email, and never stopping it
    if not guard.hold and ledger is not None and settings.channels:
        from ops_sheets.mail.channels.poster import post_to_channels, report_notes

        result.channels = post_to_channels(settings, ledger, ctx.emails, job=name, now=now)
        add_activity(ctx.changes, result.channels.activity, ctx)
        ctx.notes += report_notes(result.channels)

    # messages of earlier runs waiting for a retry slot go out with this run's
    if not guard.hold and (sendable or postman.has_pending()):
        delivery = postman.deliver(sendable, job=name, now=now, sent_log=sent_log)
        result.delivery = delivery
        delivered = set(delivery.keys("sent")) | set(delivery.keys("already_sent"))
        ctx.changes.updates += [a.update for a in ctx.after_send if a.email_key in delivered]
        add_activity(ctx.changes, delivery.activity, ctx)
        ctx.counts["emails_sent"] = len(delivery.sent)

    # One write of everything else, located by key against a fresh look taken now,
    # after sending: values that depend on delivery (PO Status SENT) land by key too.
    _recall_sheet_ids(wb, state)
    try:
        result.write = _following(shared, ctx.changes, lambda: wb.write(ctx.changes))
        _remember_sheet_ids(wb, state)
        if carried_over or (result.delivery is not None and result.delivery.activity):
            wb.flush()  # the record of mail sent is never held back (Workbook.hold_saves)
    except OpsSheetsError:
        if result.delivery is not None and ctx.state is not None:
            _keep_unwritten_activity(ctx, result.delivery.activity)
        raise
    if carried_over:
        ctx.state.put(PENDING_ACTIVITY, ctx.job, [])  # written at last
    for s in result.write.skipped:
        ctx.note(f"skipped {s.tab} {s.key}: {s.reason}")
    return result


def _following(
    shared: SharedRead | None, changes: ChangeSet, write: Callable[[], WriteReport]
) -> WriteReport:
    """Write, and keep the run's shared copy of the sheet true to what was written."""
    if shared is None:
        return write()
    try:
        report = write()
    except BaseException:
        shared.forget(changes.tabs)
        raise
    shared.wrote(report, changes)
    return report


def _keep_off_missing_tabs(ctx: JobContext) -> None:
    """Drop every change to a team tab this run did not find. Writing it would create
    the tab: a second, empty "Orders" beside the team's renamed "Orders 2026"."""
    missing = {t.title for k, t in ctx.tables.items() if k in TEAM_TABS and not t.exists}
    if not missing:
        return
    dropped = 0
    for changes in (ctx.changes, ctx.before_send):
        before = len(changes)
        changes.updates = [u for u in changes.updates if u.tab not in missing]
        changes.appends = [a for a in changes.appends if a.tab not in missing]
        changes.replaces = [r for r in changes.replaces if r.tab not in missing]
        changes.charts = [c for c in changes.charts if c.tab not in missing]
        for title in missing:
            changes.headers.pop(title, None)
            changes.anchors.pop(title, None)
        dropped += before - len(changes)
    kept = [a for a in ctx.after_send if a.update.tab not in missing]
    dropped += len(ctx.after_send) - len(kept)
    ctx.after_send = kept
    if dropped:
        ctx.note(f"{dropped} change(s) to missing tab(s) {', '.join(sorted(missing))} not written")


#: Tabs a shop may well not have (a shop without kits has no Kits tab). Asking
#: Google for a missing tab costs a failed read and a metadata request, so one
#: found missing is looked for again once a day, not on every run.
OPTIONAL_TABS = (
    "kits",
    # issue 18: read by customers, monitor and weekly; the complaints job, whose
    # tab it is, looks for it on every run (its ALWAYS_READS)
    "complaints",
    # issue 19: a shop may have no content plan
    "content_plan",
)
#: when an optional tab was last found missing: ISO time, by workbook and title
MISSING_TAB = "sheet.missing_tab"
MISSING_TAB_HOURS = 24


def _optional_tabs_to_look_for(
    titles: Sequence[str], settings: Settings, state: Any, wb: Workbook, now: datetime
) -> dict[str, bool]:
    """Each optional tab this run would read → whether to read it this time."""
    out: dict[str, bool] = {}
    for key in OPTIONAL_TABS:
        title = layout_for(TAB_SPECS[key], settings).title
        if title not in titles:
            continue
        missing_since = state.get(MISSING_TAB, f"{wb.name}|{title}") if state else None
        out[title] = not missing_since or now - datetime.fromisoformat(missing_since) >= (
            timedelta(hours=MISSING_TAB_HOURS)
        )
    return out


def _remember_optional_tabs(
    looked_for: Mapping[str, bool],
    grids: Mapping[str, Grid],
    state: Any,
    wb: Workbook,
    now: datetime,
) -> None:
    if state is None:
        return
    for title, read in looked_for.items():
        if read:
            found = title in grids
            state.put(MISSING_TAB, f"{wb.name}|{title}", None if found else now.isoformat())


#: the spreadsheet's locale as last fetched, and when: (locale, ISO time)
SHEET_LOCALE = "sheet.locale"
#: how long a fetched locale is trusted before check asks again (one request)
SHEET_LOCALE_DAYS = 7


def _sheet_locale(wb: Workbook, state: Any, now: datetime) -> str:
    """The spreadsheet's locale, fetched at most once a week (it is in a metadata
    request a steady-state run does not otherwise make) and remembered in the state."""
    known = state.get(SHEET_LOCALE, wb.name) if state is not None else None
    if known is not None:
        locale, fetched = known
        if now - datetime.fromisoformat(fetched) < timedelta(days=SHEET_LOCALE_DAYS):
            return str(locale)
    locale = wb.sheet_locale()
    if state is not None and locale:
        state.put(SHEET_LOCALE, wb.name, [locale, now.isoformat()])
    return locale


#: the sheet ids of a Google spreadsheet's tabs, by title: the Problems links
#: (``#gid=…``) need them, and a steady-state run makes no metadata request
SHEET_IDS = "sheet.ids"


def _recall_sheet_ids(wb: Workbook, state: Any) -> None:
    if state is not None:
        ids = state.get(SHEET_IDS, wb.name)
        if isinstance(ids, dict) and ids:
            wb.learn_sheet_ids(ids)


def _remember_sheet_ids(wb: Workbook, state: Any) -> None:
    ids = wb.known_sheet_ids()
    if state is not None and ids and state.get(SHEET_IDS, wb.name) != ids:
        state.put(SHEET_IDS, wb.name, ids)


PENDING_ACTIVITY = "activity.unwritten"


def _restore_unwritten_activity(ctx: JobContext) -> bool:
    """Activity log rows an earlier run could not write go into this run's write
    (they stay in the state until that write succeeds)."""
    if ctx.state is None or ctx.dry_run:
        return False
    from ops_sheets.mail.postman import ActivityEntry

    pending = ctx.state.get(PENDING_ACTIVITY, ctx.job, [])
    entries = [ActivityEntry(**{**e, "time": datetime.fromisoformat(e["time"])}) for e in pending]
    add_activity(ctx.changes, entries, ctx)
    return bool(entries)


def _keep_unwritten_activity(ctx: JobContext, entries: Iterable[Any]) -> None:
    """Mail went out but the sheet could not be written: keep the Activity log rows
    in the state; the next run of the job writes them."""
    from dataclasses import asdict

    pending = ctx.state.get(PENDING_ACTIVITY, ctx.job, [])
    pending += [{**asdict(e), "time": e.time.isoformat()} for e in entries]
    ctx.state.put(PENDING_ACTIVITY, ctx.job, pending)


@contextmanager
def _own_ledger(settings: Settings, *, dry_run: bool) -> Iterator[Ledger | None]:
    """The ledger a run opens for itself, closed when the run ends."""
    if dry_run:
        with _dry_run_ledger(settings) as copy:
            yield copy
        return
    from ops_sheets.store.ledger import Ledger
    from ops_sheets.store.location import state_location

    with Ledger(state_location(settings)) as ledger:
        yield ledger


@contextmanager
def _dry_run_ledger(settings: Settings) -> Iterator[Ledger | None]:
    """A dry run asks the ledger what was sent, on a throwaway copy of it: the
    real one is never touched (opening a ledger may write its schema). The copy
    holds recipients' addresses, so its folder is removed when the run ends,
    however it ends. None when there is no ledger yet."""
    import shutil
    import tempfile

    from ops_sheets.store.ledger import Ledger
    from ops_sheets.store.location import PostgresLocation, state_location

    location = state_location(settings)
    if isinstance(location, PostgresLocation):
        # one transaction rolled back when the run ends: the real rows never change
        with Ledger(location, scratch=True) as scratch:
            yield scratch
        return
    path = location
    if not path.is_file():
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="ops-sheets-dry-run-") as folder:
        copy = Path(folder) / path.name
        for suffix in ("", "-wal", "-shm"):
            source = path.with_name(path.name + suffix)
            if source.is_file():
                shutil.copyfile(source, copy.with_name(copy.name + suffix))
        with Ledger(copy) as ledger:  # closed before its folder goes
            yield ledger


def _postman(settings: Settings, ledger: Any, transport: Any) -> Any:
    from ops_sheets.mail.postman import Postman

    return Postman(settings, ledger, transport=transport)


def add_activity(changes: ChangeSet, entries: Iterable[Any], ctx: JobContext) -> None:
    """Activity log rows (wall-clock ``time``) for mail sent, failed or reviewed."""
    entries = list(entries)
    if not entries:
        return
    _, title, headers = ctx._spec("activity_log")
    changes.declare(title, layout_headers(ACTIVITY_LOG, ctx.settings), [headers["time"]])
    for entry in entries:
        values = {
            "time": entry.time.astimezone(ctx.tz),
            "job": entry.job,
            "action": entry.action,
            "subject": entry.subject,
            "to": entry.to,
            "reference": entry.reference,
            "result": entry.result,
        }
        changes.appends.append(Append(title, {headers[k]: to_cell(v) for k, v in values.items()}))


def log_activity(settings: Settings, entries: Iterable[Any], job: str = "review") -> None:
    """Append Activity log rows outside a job run (``ops-sheets review``)."""
    entries = list(entries)
    if not entries:
        return
    with open_workbook(settings) as wb:
        now = datetime.now(settings.tz)
        ctx = JobContext(job, settings, now, {}, clock=lambda: now)
        changes = ChangeSet()
        add_activity(changes, entries, ctx)
        wb.write(changes)


def _held_mail_problem(settings: Settings, guard: MailGuard, count: int) -> Problem:
    """The Problems row every run writes while a new state holds the mail."""
    from ops_sheets.store.location import state_location

    path = state_location(settings)
    return Problem(
        "(state)",
        None,
        "",
        "",
        str(path),
        f"{f'{count} email(s)' if count else 'mail'} held: the state database is new, but "
        f"this sheet was processed before ({guard.trace}), so mail may have been sent "
        "already; every job holds all its mail until the new state is accepted",
        "restore the state.db that belongs to this sheet; if there is none, run "
        "`ops-sheets run JOB --accept-new-state` once (any job): what the Activity log "
        "shows as sent is never sent again, the rest then goes out",
    )


def _mail_problem(rejected: Any) -> Problem:
    """A rejected email as a Problems row, at the place to fix it (cell, template, config)."""
    origin = rejected.origin
    return Problem(
        origin.tab,
        origin.row,
        origin.column,
        origin.key,
        rejected.value,
        rejected.problem,
        rejected.fix,
    )


def _describe_email(prepared: Any, sent_log: SentLog) -> str:
    msg = prepared.message
    if sent_log.shows_sent(prepared.email.key):
        return f"email {prepared.email.key}: not sent, the Activity log shows it sent already"
    return f"email {prepared.email.key}: to {msg['To']}: {msg['Subject']}"


def describe_changes(grids: Mapping[str, Grid], changes: ChangeSet) -> list[str]:
    """What a write would do, as lines a person can check: cell, before → after."""
    mem = MemoryWorkbook({t: g.rows for t, g in grids.items()})
    before = {t: [list(r) for r in rows] for t, rows in mem.tabs.items()}
    report = mem.write(changes)
    lines: list[str] = []
    for tab, rows in mem.tabs.items():
        old_rows = before.get(tab, [])
        height = max(len(rows), len(old_rows))
        for r in range(height):
            new = rows[r] if r < len(rows) else []
            old = old_rows[r] if r < len(old_rows) else []
            for c in range(max(len(new), len(old))):
                a = old[c] if c < len(old) else None
                b = new[c] if c < len(new) else None
                if a != b and not (a in (None, "") and b in (None, "")):
                    lines.append(f"{_a1(tab, r + 1, c + 1)}: {_show(a)} → {_show(b)}")
    lines += [f"skip {s.tab} {s.key}: {s.reason}" for s in report.skipped]
    return lines


def _a1(tab: str, row: int, col: int) -> str:
    letters, n = "", col
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return f"'{tab}'!{letters}{row}"


def _show(v: Cell) -> str:
    if v is None or v == "":
        return "(blank)"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return repr(v) if isinstance(v, str) else str(v)


def print_result(
    result: JobResult, out: Callable[[str], Any] = print, *, problems: bool = True
) -> None:
    """The readable summary of a run (``problems=False``: leave out the problem list)."""
    head = f"{result.job}: as of {result.now:%a %Y-%m-%d %H:%M %Z}"
    out(head)
    for line in result.notes:
        out(f"  {line}")
    if result.write is not None:
        out(
            f"  wrote {result.write.cells_written} cells, "
            f"appended {result.write.rows_appended} rows"
        )
    if result.delivery is not None:
        out(f"  mail: {result.delivery.summary()}")
    if result.problems and problems:
        out(f"  {len(result.problems)} problem(s) in the sheet, listed on the Problems tab:")
        for p in result.problems[:10]:
            out(f"    - {p}")
        if len(result.problems) > 10:
            out(f"    … and {len(result.problems) - 10} more")
    if result.dry_run_lines:
        out(
            f"  dry run: {len(result.dry_run_lines)} cell change(s) would be made "
            "(nothing written):"
        )
        for line in result.dry_run_lines:
            out(f"    {line}")


def write_err(line: str) -> None:
    sys.stderr.write(line + "\n")


def parse_now(text: str | None, tz: ZoneInfo) -> datetime:
    """``--now``: ISO 8601; without an offset it is business time (DESIGN.md)."""
    if text is None:
        return datetime.now(tz)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--now {text!r}: not an ISO 8601 date-time; use e.g. 2026-11-23T09:00 "
            "or 2026-11-23T09:00+00:00"
        ) from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


#: Jobs that report on what the others found (findings, emails sent): ``all``
#: runs them after the rest, so one ``run all`` alerts about everything it found
#: (an overdue complaint) and a second run the same day finds nothing new.
REPORTING_JOBS = ("monitor", "weekly")


def jobs_for(names: Sequence[str], settings: Settings) -> list[str]:
    present = available_jobs(settings)
    out: list[str] = []
    for name in names:
        if name == "all":
            enabled = [j for j in present if settings.job(j).enabled]
            out += [j for j in enabled if j not in REPORTING_JOBS]
            out += [j for j in enabled if j in REPORTING_JOBS]
        elif name in present:
            out.append(name)
        else:
            raise UsageError(f"no job named {name!r}; valid: {', '.join([*present, 'all'])}")
    return list(dict.fromkeys(out))


def _header_rows_only(grids: Mapping[str, Grid]) -> dict[str, Grid]:
    """The grids as far as a run needs them once its tables are parsed (the Problems
    links find columns by header): the data rows, the bulk of a run's memory, go."""
    return {
        title: Grid(g.title, g.rows[: g.header_index + 1], g.merges, g.header_index)
        for title, g in grids.items()
    }
