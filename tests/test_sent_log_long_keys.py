"""Message-IDs of long keys (issue 18's ``delayed:<order>:backorder:<date>``) are
made short enough never to be folded when sent, while every key that was ever
sent keeps being found: short keys keep their Message-ID byte for byte, and mail
a long key got before the change is still recognised in the Activity log.

Real aiosmtpd, the real serialiser, a real ledger."""

from __future__ import annotations

from email.headerregistry import Address
from pathlib import Path

import pytest
from mailfixtures import NOW, make_settings, po_emails, smtp_server
from test_sent_log import HEADER, LOGGED_AT, sent_row

from ops_sheets.mail.message import (
    LOCAL_MAX,
    MessageParts,
    build_message,
    message_bytes,
    message_id_for,
    message_id_local,
    message_id_locals,
)
from ops_sheets.mail.postman import Postman
from ops_sheets.mail.sent_log import SentLog
from ops_sheets.sheet.workbook.base import Grid
from ops_sheets.store.ledger import SENT, Ledger

LONG = "delayed:#100234567:backorder:2026-12-01"
#: its Message-ID as every version before this change made it (and folded it)
LONG_BEFORE = "<delayed.100234567.backorder.2026-12-01.d721e0d51f405330@shop.example.com>"


def header_lines(raw: bytes, name: str) -> list[str]:
    """The physical lines of one header as they went over the wire (folds included)."""
    lines = raw.decode("ascii").split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(name.lower() + ":"))
    end = start + 1
    while end < len(lines) and lines[end][:1] in (" ", "\t"):
        end += 1
    return lines[start:end]


def test_a_long_keys_message_id_goes_out_on_one_line(tmp_path: Path) -> None:
    email = po_emails(1)[0]
    email.key = LONG
    with smtp_server() as server:
        settings = make_settings(tmp_path, port=server.port)
        with Ledger.from_settings(settings) as ledger:
            report = Postman(settings, ledger).deliver([email], job="customers", now=NOW)
            row = ledger.get(LONG)
        [raw] = server.handler.messages
    assert report.sent == [LONG]
    [line] = header_lines(raw, "Message-ID")
    assert len(line) <= 78 and line == f"Message-ID: {message_id_for(LONG, 'shop.example.com')}"
    assert row is not None and row.message_id == line.removeprefix("Message-ID: ")
    assert server.keys() == [LONG]


@pytest.mark.parametrize(
    "key",
    [
        LONG,
        "shipped:#1002345:1Z999AA10123456784",
        "delayed:ORDER-2026-000123456:late:2026-12-24",
        "x" * 300,
        "ünïcödé:ключ:" + "7" * 40,
    ],
)
def test_no_message_id_is_folded_for_a_sender_domain_of_up_to_27_characters(key: str) -> None:
    sender = Address("Ops", addr_spec="orders@harbourandpinehome.example")  # 27-char domain
    msg = build_message(
        sender=sender,
        to=Address("T", addr_spec="t@example.com"),
        parts=MessageParts("s", "t", "<p>h</p>"),
        key=key,
        date=NOW,
    )
    [line] = header_lines(message_bytes(msg), "Message-ID")
    assert len(line) <= 78
    assert len(message_id_local(key)) <= LOCAL_MAX


def test_keys_already_sent_keep_their_message_id_and_long_ones_keep_their_old_form() -> None:
    # short keys (every key before issue 18): exactly the Message-ID they always had
    assert message_id_for("po:PO-1", "shop.example.com") == (
        "<po.PO-1.b3d2398fd3f700bd@shop.example.com>"
    )
    assert message_id_locals("po:PO-20261123-S000") == ("po.PO-20261123-S000.44974cad220a1e8d",)
    # a long key: a new short form first, the form it was sent with before second
    new, old = message_id_locals(LONG)
    assert new == message_id_local(LONG) == "delayed.100234567.b.d721e0d51f405330"
    assert f"<{old}@shop.example.com>" == LONG_BEFORE
    # the hash of the whole key keeps keys with the same beginning apart
    other = LONG.replace("2026-12-01", "2026-12-02")
    assert message_id_local(other) != new and message_id_local(other).startswith(new[:19])


def test_mail_a_long_key_got_before_the_change_is_still_found_in_the_activity_log(
    tmp_path: Path,
) -> None:
    email = po_emails(1)[0]
    email.key = LONG
    result = f"sent, Message-ID {LONG_BEFORE}"  # as the postman logged it then
    before = [LOGGED_AT, "customers", "Email sent", "s", "t", "1002", result]
    with smtp_server() as server:
        settings = make_settings(tmp_path, port=server.port)
        log = SentLog.from_grid(Grid("Activity log", [HEADER, before]), settings)
        assert log.shows_sent(LONG)
        assert log.sent_at(LONG) == LOGGED_AT.replace(tzinfo=settings.tz)
        with Ledger.from_settings(settings) as ledger:  # state.db lost: a fresh ledger
            report = Postman(settings, ledger).deliver(
                [email], job="customers", now=NOW, sent_log=log
            )
            row = ledger.get(LONG)
    assert server.messages == []  # not sent twice
    assert report.outcome(LONG).status == "already_sent"  # type: ignore[union-attr]
    assert row is not None and row.state == SENT
    # and mail sent with the new form is found the same way
    assert SentLog.from_grid(Grid("Activity log", [HEADER, sent_row(LONG)]), settings).shows_sent(
        LONG
    )
