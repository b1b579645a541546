"""A new state next to a processed sheet holds all mail until accepted, and the
Activity log keeps what it shows as sent from ever going out again (issue 12,
break 2). Runs jobs on the in-memory workbook with the outbox transport; the
end-to-end version with both backends and a real SMTP server is
tests/test_lost_state.py.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops_sheets.config import Settings
from ops_sheets.mail.message import message_id_for
from ops_sheets.service.runner import run_job
from ops_sheets.service.state_guard import PROCESSED, SHEETS, sheet_identity
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.store.ledger import SENT, Ledger
from ops_sheets.store.state import _SCHEMA, State

ACTIVITY_HEADER = ["Time", "Job", "Action", "Subject", "To", "Reference", "Result"]
SENDER_DOMAIN = "example.com"  # of the default [mail] sender, Ops <ops@example.com>


def _notify_job(settings: Settings, name: str = "notify", keys: tuple[str, ...] = ()) -> None:
    """A user job that sends one manager alert per key (the keys are given at run
    time through the state, so one job module serves every test)."""
    jobs = settings.resolve(settings.jobs_dir)
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / f"{name}.py").write_text(
        "from ops_sheets.mail.postman import OutgoingEmail\n"
        "from ops_sheets.mail.samples import sample_context\n"
        f"KEYS = {list(keys)!r}\n"
        "def run(ctx):\n"
        "    for key in KEYS:\n"
        "        ctx.send(OutgoingEmail('manager_alert', key, ctx.settings.mail.manager,\n"
        "                               sample_context('manager_alert'), reference='test'))\n"
    )


def _sent_row(key: str, when: datetime, domain: str = SENDER_DOMAIN) -> list[object]:
    return [
        when.replace(tzinfo=None),
        "notify",
        "Email sent",
        "subject",
        "manager@example.com",
        "test",
        f"sent, Message-ID {message_id_for(key, domain)}",
    ]


def _outbox(settings: Settings) -> list[str]:
    outbox = settings.resolve(settings.mail.outbox_dir)
    return sorted(p.stem for p in outbox.glob("*.eml")) if outbox.is_dir() else []


def _held(result: object) -> list[str]:
    return [p.problem for p in result.problems if p.tab == "(state)"]  # type: ignore[attr-defined]


def _processed(shop: MemoryWorkbook, now: datetime, *keys: str) -> None:
    """The sheet after an earlier state's runs: service values and Activity log rows."""
    shop.tabs["Activity log"] = [ACTIVITY_HEADER, *(_sent_row(k, now) for k in keys)]


def test_a_new_state_next_to_a_processed_sheet_holds_every_run_of_every_job_until_accepted(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    _notify_job(settings, "notify", ("alert:a",))
    _notify_job(settings, "remind", ("alert:b",))
    _processed(shop, now, "alert:old")
    for job in ("notify", "remind", "notify", "check", "remind"):
        result = run_job(job, settings, now, workbook=shop)
        assert _outbox(settings) == [], job
        (held,) = _held(result)
        assert "the state database is new" in held and "Activity log has 1 row" in held
        assert result.exit_code == 1
    accepted = run_job("notify", settings, now, workbook=shop, accept_new_state=True)
    assert _held(accepted) == [] and _outbox(settings) == ["alert_a"]
    later = run_job("remind", settings, now, workbook=shop)  # the acceptance is remembered
    assert _held(later) == [] and _outbox(settings) == ["alert_a", "alert_b"]


def test_a_state_born_with_a_fresh_sheet_never_holds(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    _notify_job(settings, "notify", ("alert:a",))
    run_job("check", settings, now, workbook=shop)  # first run: the sheet is fresh
    run_job("stock", settings, now, workbook=shop)  # now it carries service values
    result = run_job("notify", settings, now, workbook=shop)
    assert _held(result) == [] and _outbox(settings) == ["alert_a"]
    with closing(State(settings.resolve(settings.state.path))) as state:
        assert state.get(SHEETS, sheet_identity(settings))["verdict"] == "fresh"


def test_service_values_alone_show_a_processed_sheet(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    """No Activity log at all (deleted?), but Stock's Checked at is filled in."""
    run_job("stock", settings, now, workbook=shop)
    shop.tabs.pop("Activity log", None)
    state = settings.resolve(settings.state.path)
    for suffix in ("", "-wal", "-shm"):
        state.with_name(state.name + suffix).unlink(missing_ok=True)
    _notify_job(settings, "notify", ("alert:a",))
    (held,) = _held(run_job("notify", settings, now, workbook=shop))
    assert "Stock!" in held and _outbox(settings) == []


def test_a_state_older_than_the_birth_mark_is_trusted(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    """A state.db made before this check existed has always served its sheet."""
    path = settings.resolve(settings.state.path)
    with sqlite3.connect(path) as old:
        old.executescript(_SCHEMA)  # the tables, without the mark
    _processed(shop, now, "alert:old")
    _notify_job(settings, "notify", ("alert:a",))
    result = run_job("notify", settings, now, workbook=shop)
    assert _held(result) == [] and _outbox(settings) == ["alert_a"]


def test_a_state_pointed_at_another_processed_sheet_is_new_for_it(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    _notify_job(settings, "notify", ("alert:a",))
    run_job("notify", settings, now, workbook=MemoryWorkbook({}))  # born with a fresh sheet
    assert _outbox(settings) == ["alert_a"]
    other = dataclasses.replace(
        settings, workbook=dataclasses.replace(settings.workbook, path="other.xlsx")
    )
    _notify_job(settings, "notify", ("alert:b",))
    _processed(shop, now, "alert:old")
    assert _held(run_job("notify", other, now, workbook=shop))
    assert _outbox(settings) == ["alert_a"]


def test_what_the_activity_log_shows_as_sent_is_never_sent_even_after_acceptance(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    logged_at = now - timedelta(hours=2)
    _processed(shop, logged_at, "alert:a")
    _notify_job(settings, "notify", ("alert:a", "alert:b"))
    result = run_job("notify", settings, now, workbook=shop, accept_new_state=True)
    assert _outbox(settings) == ["alert_b"]
    assert result.delivery is not None and result.delivery.keys("already_sent") == ["alert:a"]
    with Ledger(settings.resolve(settings.state.path)) as ledger:  # the new state learns it
        row = ledger.get("alert:a")
        assert row is not None and row.state == SENT
        assert row.sent_at == logged_at.astimezone(UTC)
    log = shop.tabs["Activity log"]
    assert [r[2] for r in log[2:]] == ["Email not sent (logged as sent)", "Email sent"]
    run_job("notify", settings, now, workbook=shop)
    assert _outbox(settings) == ["alert_b"]


def test_a_held_run_remembers_nothing_it_did_not_send(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    """Jobs record what they booked in the state (pickups): a held run's records would
    make the next run book the same parcels again under a new key."""
    jobs = settings.resolve(settings.jobs_dir)
    jobs.mkdir(parents=True)
    (jobs / "booker.py").write_text(
        "def run(ctx):\n"
        "    ctx.state.put('booker', 'booked', True)\n"
        "    ctx.state.next_in_sequence('booker')\n"
    )
    _processed(shop, now, "alert:old")
    run_job("booker", settings, now, workbook=shop)
    with closing(State(settings.resolve(settings.state.path))) as state:
        assert state.get("booker", "booked") is None
        assert state.next_in_sequence("booker") == 1
        assert state.get(SHEETS, sheet_identity(settings))["verdict"] == PROCESSED


def test_a_dry_run_shows_the_hold_and_records_nothing(
    shop: MemoryWorkbook, settings: Settings, now: datetime
) -> None:
    _processed(shop, now, "alert:old")
    _notify_job(settings, "notify", ("alert:a",))
    result = run_job("notify", settings, now, workbook=shop, dry_run=True)
    assert _held(result)
    assert not settings.resolve(settings.state.path).exists()


@pytest.fixture(autouse=True)
def _tmp_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dry runs copy the state to a temporary folder: keep it under tmp_path."""
    import tempfile

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
