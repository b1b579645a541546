"""May this state send mail for this sheet? A lost state.db must not send twice.

The ledger in state.db is the service's record of what it sent. A new state
next to a sheet the service has already worked on (a new server, a deleted or
lost file) knows none of that mail, and every job would send its pickup
requests, reminders and acknowledgements again. So:

- A state this version creates carries a birth mark (:data:`ops_sheets.store.state.BIRTH`).
  A state without one is older than the mark and has been working with its
  sheet all along: it is trusted.
- The first run of a state that reads a sheet records a verdict for that sheet:
  ``fresh`` when the sheet shows no trace of the service (the state was born with
  the sheet; nothing is ever held), else ``processed``, with the trace it found.
- While a sheet is ``processed`` and not accepted, every run of every job holds
  all of its mail and says so on the Problems tab. One run with
  ``--accept-new-state`` records the acceptance; later runs send normally.
- Whatever the verdict, a key the Activity log shows as sent is never sent again
  (:mod:`ops_sheets.mail.sent_log`; the postman records it in the ledger).

The sheet is named by backend and spreadsheet id or configured workbook path,
so moving the whole folder changes nothing, but pointing a state at another
sheet the service has processed is a new state for that sheet.

Traces of the service: any row on the Activity log, any value in a service
column of a team tab (Stock's Checked at, Orders' Ship by, Returns' Ops status…),
any row on a service tab the job read (Daily KPIs, Weekly summary). The
Problems tab is not one: ``check`` writes it and sends nothing, so a sheet only
ever checked has no mail to repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath

from ops_sheets.config import Settings
from ops_sheets.mail.sent_log import SentLog
from ops_sheets.sheet.tables import Table
from ops_sheets.store.state import State

#: kv namespace of the verdicts, one per sheet identity
SHEETS = "state.sheets"

FRESH = "fresh"
PROCESSED = "processed"
TRUSTED = "trusted"  # a state older than the birth mark


@dataclass(frozen=True)
class MailGuard:
    """What this run may do with its mail."""

    hold: bool
    #: what showed the sheet was processed before (empty when not held)
    trace: str = ""
    #: this run recorded the acceptance of a new state
    accepted_now: bool = False


def sheet_identity(settings: Settings) -> str:
    """The sheet as the config names it (relative paths stay relative)."""
    wb = settings.workbook
    if wb.backend == "google":
        return f"google:{wb.spreadsheet_id}"
    path = PureWindowsPath(wb.path).as_posix() if "\\" in wb.path else wb.path
    return f"{wb.backend}:{PurePosixPath(path)}"


def service_trace(tables: Mapping[str, Table], sent_log: SentLog) -> str:
    """The first trace of the service in what this run read, or "" for a fresh sheet."""
    if sent_log.rows:
        return f"the Activity log has {sent_log.rows} row(s)"
    for table in tables.values():
        if not table.exists or table.frame.empty or table.spec.key == "problems":
            continue
        if table.spec.service_owned:
            return f"the {table.title} tab has {len(table.frame)} row(s)"
        for column in table.spec.service_columns:
            if column.key in table.frame and table.frame[column.key].notna().any():
                return f"{table.title}!{table.header(column.key)} holds values"
    return ""


def guard_mail(
    state: State,
    settings: Settings,
    tables: Mapping[str, Table],
    sent_log: SentLog,
    *,
    accept: bool,
    now: datetime,
) -> MailGuard:
    """Judge (once per sheet) and record whether this state may send for the sheet.

    A dry run's state keeps what is recorded in memory only, so it shows what a
    real run would do and changes nothing.
    """
    identity = sheet_identity(settings)
    verdict = state.get(SHEETS, identity)
    if verdict is None:
        if not state.born_marked and not state.items(SHEETS):
            verdict = {"verdict": TRUSTED, "at": now.isoformat()}
        else:
            trace = service_trace(tables, sent_log)
            verdict = {"verdict": PROCESSED if trace else FRESH, "trace": trace}
            verdict["at"] = now.isoformat()
        state.put(SHEETS, identity, verdict)
    if verdict["verdict"] != PROCESSED or verdict.get("accepted_at"):
        return MailGuard(hold=False)
    if accept:
        state.put(SHEETS, identity, {**verdict, "accepted_at": now.isoformat()})
        return MailGuard(hold=False, accepted_now=True)
    return MailGuard(hold=True, trace=str(verdict.get("trace", "")))
