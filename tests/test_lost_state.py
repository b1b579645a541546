"""Losing state.db must never send mail twice (issue 12, break 2).

The demo shop runs every job once, its mail going to a real aiosmtpd server;
then state.db is lost and `run` commands follow. Whatever they are, nothing the
Activity log shows as sent reaches the server again, on xlsx and on Google (real
gspread over HTTP to the in-repo emulator); and until ``--accept-new-state`` is
given once, no mail at all goes out.

The processed sheet is made once per backend (module fixture) and each test gets
its own copy of it, without the state: that is the situation of a lost state.db.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from backends import base_config, google_harness, xlsx_harness
from mailfixtures import SmtpServer, smtp_server
from test_e2e_jobs import demo_grids

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.service.demo import DEMO_NOW, approve_demo_drafts
from ops_sheets.service.demo_data import build_demo_workbook
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.runner import JobResult, available_jobs, run_job
from ops_sheets.sheet.workbook.base import Cell

JOBS = [j for j in available_jobs() if j != "check"]
ALL = ("check", *JOBS)


@dataclass
class Shop:
    settings: Settings
    values: Callable[[str], list[list[Cell]]]

    def run(self, jobs: tuple[str, ...], *, accept: bool = False) -> list[JobResult]:
        return [run_job(job, self.settings, DEMO_NOW, accept_new_state=accept) for job in jobs]

    def logged_as_sent(self) -> set[str]:
        """Message-IDs of the Activity log's "Email sent" rows, read here independently
        of the service's own reading of the log."""
        header, *rows = self.values("Activity log")
        action, result = header.index("Action"), header.index("Result")
        found = (re.search(r"Message-ID (<[^>]+>)", str(r[result])) for r in rows)
        sent = (m for r, m in zip(rows, found, strict=True) if r[action] == "Email sent" and m)
        return {m.group(1) for m in sent}


@dataclass(frozen=True)
class Processed:
    """A sheet every job has worked on, and the keys its mail went out under."""

    kind: str
    source: str  # the workbook file (xlsx) or the spreadsheet id (google)
    #: (key, Message-ID) of every message the server received
    sent: tuple[tuple[str, str], ...]


def message_id(msg: Any) -> str:
    """The Message-ID as sent, unfolded: a long one (a key such as
    ``delayed:<order>:backorder:<date>``) is legally folded onto a second line."""
    return "".join(str(msg["Message-ID"]).split())


def _over_smtp(settings: Settings, port: int) -> Settings:
    smtp = dataclasses.replace(settings.mail.smtp, host="127.0.0.1", port=port, security="none")
    return dataclasses.replace(
        settings, mail=dataclasses.replace(settings.mail, transport="smtp", smtp=smtp)
    )


def _smaller_demo(path: Path) -> None:
    """The demo shop with four weeks of orders instead of a year (and every order a
    return refers to): the same kinds of mail, in a third of the time per run."""
    book = openpyxl.load_workbook(path)
    orders, returns = book["Orders"], book["Returns"]
    header = [c.value for c in orders[1]]
    date_col, id_col = header.index("Order date"), header.index("Order ID")
    returned_col = [c.value for c in returns[1]].index("Order ID")
    returned = {r[returned_col] for r in returns.iter_rows(min_row=2, values_only=True)}
    since = (DEMO_NOW - timedelta(days=28)).replace(tzinfo=None)
    kept = [
        list(r)
        for r in orders.iter_rows(min_row=2, values_only=True)
        if r[id_col] in returned or (isinstance(r[date_col], datetime) and r[date_col] >= since)
    ]
    orders.delete_rows(2, orders.max_row)
    for row in kept:
        orders.append(row)
    book.save(path)


def _approve_google_drafts(emulator: Any, sheet_id: str, pos: int = 2) -> None:
    """approve_demo_drafts, on the emulator: the team approves today's first POs."""
    sheet = emulator.spreadsheet(sheet_id)
    header, *rows = sheet.get_values("Purchase orders")
    number_col, status_col = header.index("PO number"), header.index("Status")
    chosen: list[str] = []
    for i, row in enumerate(rows, start=2):
        number, status = row[number_col], row[status_col]
        if not (str(number).startswith(f"PO-{DEMO_NOW:%Y%m%d}-") and status == "DRAFT"):
            continue
        if number not in chosen and len(chosen) < pos:
            chosen.append(number)
        if number in chosen:
            sheet.set_values("Purchase orders", f"{chr(65 + status_col)}{i}", [["APPROVED"]])


@pytest.fixture(scope="module", params=["xlsx", "google"])
def processed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, emulator: Any
) -> Iterator[Processed]:
    directory = tmp_path_factory.mktemp(f"processed-{request.param}")
    demo = directory / "demo.xlsx"
    build_demo_workbook(demo, DEMO_NOW)
    _smaller_demo(demo)
    with pytest.MonkeyPatch.context() as env, smtp_server() as smtp:
        env.setenv("SHEETS_EMULATOR_HOST", emulator.host_port)
        if request.param == "xlsx":
            harness = xlsx_harness(directory)
            shutil.copy(demo, directory / "workbook.xlsx")
            source = str(directory / "workbook.xlsx")
        else:
            harness = google_harness(directory, emulator)
            harness.seed(demo_grids(demo))
            source = harness.extra["sheet_id"]
        init_workbook(harness.settings)
        settings = _over_smtp(harness.settings, smtp.port)
        for job in JOBS:
            run_job(job, settings, DEMO_NOW)
        # as in `demo`: the team approves two POs, and stock emails them
        if request.param == "xlsx":
            approve_demo_drafts(directory / "workbook.xlsx", DEMO_NOW)
        else:
            _approve_google_drafts(emulator, source)
        run_job("stock", settings, DEMO_NOW)
        received = [(str(m["X-Ops-Key"]), message_id(m)) for m in smtp.handler.parsed()]
        yield Processed(request.param, source, tuple(received))


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def _copy_without_state(
    processed: Processed, directory: Path, emulator: Any, smtp: SmtpServer
) -> Shop:
    """The processed sheet as a new server finds it: no state.db beside it."""
    directory.mkdir()
    if processed.kind == "xlsx":
        shutil.copy(processed.source, directory / "workbook.xlsx")
        config = base_config("xlsx", path="workbook.xlsx")

        def values(tab: str) -> list[list[Cell]]:
            return [
                list(r) for r in openpyxl.load_workbook(directory / "workbook.xlsx")[tab].values
            ]

    else:
        original = emulator.spreadsheet(processed.source)
        clone = copy.deepcopy(original, memo={id(original.store): original.store})
        clone.id = original.store.new_spreadsheet_id()
        original.store.spreadsheets[clone.id] = clone
        config = base_config("google", spreadsheet_id=clone.id, deadline_seconds=20.0)

        def values(tab: str) -> list[list[Cell]]:
            return emulator.spreadsheet(clone.id).get_values(tab)

    settings = settings_from_dict(config, base_dir=directory)
    return Shop(_over_smtp(settings, smtp.port), values)


#: Each step is one `run` command: its jobs, and whether --accept-new-state is given.
SEQUENCES: dict[str, list[tuple[tuple[str, ...], bool]]] = {
    # the second repro of the issue (the first, `check; orders`, has its own test below)
    "stock orders returns": [(("stock", "orders", "returns"), False)],
    # a held run first (it must not remember its unsent pickups as booked), then accepted
    "orders; all --accept-new-state": [(("orders",), False), (ALL, True)],
}


@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_after_losing_the_state_nothing_the_activity_log_shows_as_sent_goes_out_again(
    sequence: str, processed: Processed, tmp_path: Path, sheets_emulator: Any, smtp: SmtpServer
) -> None:
    shop = _copy_without_state(processed, tmp_path / "shop", sheets_emulator, smtp)
    logged = shop.logged_as_sent()
    kinds = {key.split(":")[0] for key, _ in processed.sent}
    assert kinds >= {"po", "po-reminder", "pickup", "rma", "alert", "weekly"}, kinds
    assert {mid for _, mid in processed.sent} <= logged, "the log names every send"

    accepted = False
    for jobs, accept in SEQUENCES[sequence]:
        shop.run(jobs, accept=accept)
        accepted = accepted or accept
        received = smtp.handler.parsed()
        again = [str(m["X-Ops-Key"]) for m in received if message_id(m) in logged]
        assert again == [], f"sent again by `run {' '.join(jobs)}`: {again}"
        if not accepted:
            assert received == [], "a new state sends nothing before --accept-new-state"


def test_check_then_orders_with_a_new_state_holds_the_pickups_until_accepted(
    processed: Processed, tmp_path: Path, sheets_emulator: Any, smtp: SmtpServer
) -> None:
    pickups = sorted(k for k, _ in processed.sent if k.startswith("pickup:"))
    assert len(pickups) == 3
    shop = _copy_without_state(processed, tmp_path / "shop", sheets_emulator, smtp)

    (checked,) = shop.run(("check",))
    (orders,) = shop.run(("orders",))
    assert smtp.keys() == []
    for result in (checked, orders):  # every run says why, so the reason never vanishes
        held = [p for p in result.problems if p.tab == "(state)"]
        assert len(held) == 1 and "the state database is new" in held[0].problem
        assert "Activity log" in held[0].problem  # what showed the sheet was processed
    assert [r[0] for r in shop.values("Problems")[1:]].count("(state)") == 1

    (accepted,) = shop.run(("orders",), accept=True)
    assert smtp.keys() == [], "the Activity log shows all three pickups as sent"
    assert accepted.delivery is not None
    assert sorted(accepted.delivery.keys("already_sent")) == pickups
    assert not [p for p in accepted.problems if p.tab == "(state)"]
    (later,) = shop.run(("orders",))  # accepted once: later runs are not held
    assert not [p for p in later.problems if p.tab == "(state)"]
    assert smtp.keys() == []
