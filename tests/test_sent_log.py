"""The Activity log as a record of what was sent (issue 12, break 2): reading it,
and the postman and the ledger acting on it, with a real aiosmtpd server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailfixtures import NOW, Behaviour, make_settings, po_emails, smtp_server

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.mail.message import message_id_for
from ops_sheets.mail.postman import Postman
from ops_sheets.mail.review import review_message
from ops_sheets.mail.sent_log import SentLog
from ops_sheets.service.runner import JobContext, add_activity
from ops_sheets.sheet.workbook.base import ChangeSet, Grid
from ops_sheets.store.ledger import FAILED, SENT, UNKNOWN, Ledger, PlanEntry

HEADER = ["Time", "Job", "Action", "Subject", "To", "Reference", "Result"]
LOGGED_AT = datetime(2026, 11, 20, 14, 30)  # as the sheet holds it: naive, local time


def sent_row(key: str, when: datetime = LOGGED_AT, domain: str = "shop.example.com") -> list:
    """An Activity log row as the postman writes it for a message sent."""
    return [when, "stock", "Email sent", "subject", "to@example.com", "REF", (
        f"sent, Message-ID {message_id_for(key, domain)}"
    )]  # fmt: skip


def sent_log(settings: Settings, *rows: list) -> SentLog:
    return SentLog.from_grid(Grid("Activity log", [HEADER, *rows]), settings)


# ---------------------------------------------------------------- reading the log


def test_the_log_names_keys_by_message_id_whatever_the_sender(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    log = sent_log(
        settings,
        sent_row("pickup:PU-1", domain="old-shop.example"),  # the sender changed since
        [LOGGED_AT, "stock", "Email failed", "", "", "PO-1", f"4xx {message_id_for('po:1', 'x')}"],
        [LOGGED_AT, "orders", "Email outcome unknown", "", "", "PU-2", "timeout"],
        [LOGGED_AT, "returns", "RMA number", "", "", "RMA-2026-0001", "assigned"],
    )
    assert log.shows_sent("pickup:PU-1")
    assert log.sent_at("pickup:PU-1") == LOGGED_AT.replace(tzinfo=settings.tz)
    assert not log.shows_sent("po:1") and not log.shows_sent("pickup:PU-2")
    assert not log.shows_sent("PU-1")  # the Reference column is not the key
    assert log.rows == 4 and len(log) == 1


def test_the_log_is_read_with_renamed_columns(tmp_path: Path) -> None:
    renamed = settings_from_dict(
        {"tabs": {"activity_log": {"columns": {"action": "What", "result": "Outcome"}}}},
        base_dir=tmp_path,
    )
    header = ["Time", "Job", "What", "Subject", "To", "Reference", "Outcome"]
    log = SentLog.from_grid(Grid("Activity log", [header, sent_row("k:1")]), renamed)
    assert log.shows_sent("k:1")


def test_a_delivery_a_person_confirmed_is_in_the_log_too(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, transport="outbox")
    key = "pickup:PU-9"
    with Ledger.from_settings(settings) as ledger:
        entry = PlanEntry(
            key, "pickup_request", "orders", ("z@zip.example",), "Pickup", "PU-9",
            message_id_for(key, "shop.example.com"), "hash", b"Subject: x\r\n\r\nbody",
        )  # fmt: skip
        ledger.plan([entry], NOW)
        ledger._conn.execute("UPDATE mail_messages SET state = ? WHERE key = ?", (UNKNOWN, key))
        result = review_message(settings, ledger, key, "sent", now=NOW)
    changes = ChangeSet()
    add_activity(changes, result.activity, JobContext("review", settings, NOW, {}, lambda: NOW))
    row = [changes.appends[0].values.get(h) for h in HEADER]
    assert sent_log(settings, row).shows_sent(key)


# ---------------------------------------------------------------- acting on it


def test_the_postman_never_sends_what_the_log_shows_and_the_ledger_learns_it(
    tmp_path: Path,
) -> None:
    with smtp_server() as server:
        settings = make_settings(tmp_path, port=server.port)
        log = sent_log(settings, sent_row("po:PO-20261123-S000"))
        with Ledger.from_settings(settings) as ledger:
            report = Postman(settings, ledger).deliver(
                po_emails(2), job="stock", now=NOW, sent_log=log
            )
            row = ledger.get("po:PO-20261123-S000")
    assert server.keys() == ["po:PO-20261123-S001"]
    assert report.outcome("po:PO-20261123-S000").status == "already_sent"  # type: ignore[union-attr]
    assert report.ok
    assert row is not None and row.state == SENT
    assert row.sent_at == LOGGED_AT.replace(tzinfo=settings.tz).astimezone(UTC)
    actions = [(a.action, a.reference) for a in report.activity]
    assert actions == [
        ("Email not sent (logged as sent)", "PO-20261123-S000"),
        ("Email sent", "PO-20261123-S001"),
    ]


def test_a_retry_the_log_shows_as_sent_is_not_sent(tmp_path: Path) -> None:
    """Another state sent it meanwhile: the ledger's own retry would repeat it."""
    with smtp_server(Behaviour(data_reply="451 try later", data_times=1)) as server:
        settings = make_settings(tmp_path, port=server.port)
        with Ledger.from_settings(settings) as ledger:
            postman = Postman(settings, ledger)
            first = postman.deliver(po_emails(1), job="stock", now=NOW)
            assert first.outcome("po:PO-20261123-S000").status == "failed"  # type: ignore[union-attr]
            assert ledger.get("po:PO-20261123-S000").state == FAILED  # type: ignore[union-attr]
            log = sent_log(settings, sent_row("po:PO-20261123-S000"))
            later = NOW + timedelta(hours=2)
            retry = postman.deliver([], job="stock", now=later, sent_log=log)
            assert ledger.get("po:PO-20261123-S000").state == SENT  # type: ignore[union-attr]
    assert server.keys() == []
    assert retry.keys("already_sent") == ["po:PO-20261123-S000"]


def test_the_ledger_keeps_its_own_word_over_the_log(tmp_path: Path) -> None:
    with Ledger(tmp_path / "state.db") as ledger:
        assert ledger.record_sent_elsewhere("k:unknown", NOW, detail="log") is None  # no entry
        entry = PlanEntry("k:1", "manager_alert", "monitor", ("m@x.example",), "s", "r",
                          "<k.1@x>", "hash", b"msg")  # fmt: skip
        ledger.plan([entry], NOW)
        token = ledger.start_run()
        ledger.claim("k:1", token, NOW)
        assert ledger.record_sent_elsewhere("k:1", NOW, detail="log") is None  # a live run holds it
        ledger.mark_sending("k:1", token, NOW)
        ledger.mark_sent("k:1", token, NOW)
        ledger.finish_run(token)
        sent_at = ledger.get("k:1").sent_at  # type: ignore[union-attr]
        assert ledger.record_sent_elsewhere("k:1", NOW + timedelta(days=1), detail="log") is None
        assert ledger.get("k:1").sent_at == sent_at  # type: ignore[union-attr]
