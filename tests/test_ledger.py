"""The delivery ledger: states, atomic claims, crash recovery, review, counts."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mailfixtures import NOW, REPO

from ops_sheets.errors import LedgerError
from ops_sheets.store.ledger import (
    CLAIMED,
    FAILED,
    FAILED_PERMANENT,
    PLANNED,
    SENDING,
    SENT,
    UNKNOWN,
    Ledger,
    PlanEntry,
    RetryPolicy,
)
from ops_sheets.store.location import StoreLocation, location_text


def entry(key: str = "po:PO-1", body: str = "h1", *, on_unknown: str = "review") -> PlanEntry:
    return PlanEntry(
        key=key,
        kind="purchase_order",
        job="stock",
        recipients=("orders@acme.example.com",),
        subject=f"Purchase order {key}",
        reference=key,
        message_id=f"<{key}@shop.example.com>",
        body_hash=body,
        message=b"Subject: x\r\n\r\nbody\r\n",
        on_unknown=on_unknown,  # type: ignore[arg-type]
    )


@pytest.fixture
def ledger(store_location: StoreLocation):
    """A ledger on each store in turn: SQLite, then PostgreSQL."""
    with Ledger(store_location) as led:
        yield led


def run_script(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (a separate process that really exits)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        timeout=60,
        check=False,
    )


CLAIM_AND_DIE = """
    import os, sys
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from ops_sheets.store.ledger import Ledger
    led = Ledger(sys.argv[1])
    token = led.start_run()
    now = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/London"))
    assert led.claim(sys.argv[2], token, now).granted
    if sys.argv[3] == "sending":
        led.mark_sending(sys.argv[2], token, now)
    os._exit(0)  # no clean-up, like a crash
"""


def test_ledger_file_uses_wal_and_full_synchronous(tmp_path: Path) -> None:
    with Ledger(tmp_path / "state.db") as led:
        assert led._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_new_key_is_planned_then_claimed_by_exactly_one_run(ledger: Ledger) -> None:
    [plan] = ledger.plan([entry()], NOW)
    assert plan.decision == "send" and plan.row.state == PLANNED
    first, second = ledger.start_run(), ledger.start_run()
    try:
        assert ledger.claim("po:PO-1", first, NOW).granted
        refused = ledger.claim("po:PO-1", second, NOW)
        assert not refused.granted and refused.row is not None and refused.row.state == CLAIMED
    finally:
        ledger.finish_run(first)
        ledger.finish_run(second)


def test_claim_needs_a_registered_run_token(ledger: Ledger) -> None:
    ledger.plan([entry()], NOW)
    with pytest.raises(LedgerError):
        ledger.claim("po:PO-1", "made-up-token", NOW)


def test_full_send_records_sent_and_history(ledger: Ledger) -> None:
    ledger.plan([entry()], NOW)
    token = ledger.start_run()
    ledger.claim("po:PO-1", token, NOW)
    ledger.mark_sending("po:PO-1", token, NOW)
    ledger.mark_sent("po:PO-1", token, NOW)
    ledger.finish_run(token)
    row = ledger.get("po:PO-1")
    assert row is not None and row.state == SENT and row.sent_at == NOW
    assert [state for _, state, _ in ledger.events("po:PO-1")] == [
        PLANNED,
        CLAIMED,
        SENDING,
        SENT,
    ]


def test_sent_key_is_already_sent_with_same_body_and_conflict_with_another(
    ledger: Ledger,
) -> None:
    ledger.plan([entry()], NOW)
    token = ledger.start_run()
    ledger.claim("po:PO-1", token, NOW)
    ledger.mark_sending("po:PO-1", token, NOW)
    ledger.mark_sent("po:PO-1", token, NOW)
    assert ledger.plan([entry()], NOW)[0].decision == "already_sent"
    changed = ledger.plan([entry(body="h2")], NOW)[0]
    assert changed.decision == "conflict" and changed.new_conflict
    again = ledger.plan([entry(body="h2")], NOW)[0]
    assert again.decision == "conflict" and not again.new_conflict  # reported once
    row = ledger.get("po:PO-1")
    assert row is not None and row.body_hash == "h1"  # the sent body is never replaced
    assert [r.key for r in ledger.conflicts_since(NOW)] == ["po:PO-1"]
    assert not ledger.claim("po:PO-1", token, NOW).granted


def test_unsent_key_takes_the_newest_content(ledger: Ledger) -> None:
    ledger.plan([entry()], NOW)
    [plan] = ledger.plan([entry(body="h2")], NOW)
    assert plan.decision == "send" and plan.row.body_hash == "h2"


def test_temporary_failure_backs_off_then_gives_up_after_max_attempts(ledger: Ledger) -> None:
    retry = RetryPolicy(first_delay=timedelta(minutes=10), max_attempts=3)
    ledger.plan([entry()], NOW)
    token = ledger.start_run()
    now = NOW
    ledger.claim("po:PO-1", token, now)
    row = ledger.mark_failed("po:PO-1", token, now, "451 try later", retry)
    assert row.state == FAILED and row.next_attempt_at == now + timedelta(minutes=10)
    assert not ledger.claim("po:PO-1", token, now + timedelta(minutes=9)).granted
    assert ledger.plan([entry()], now)[0].decision == "waiting"
    now += timedelta(minutes=10)
    assert ledger.claim("po:PO-1", token, now).granted
    row = ledger.mark_failed("po:PO-1", token, now, "451 try later", retry)
    assert row.next_attempt_at == now + timedelta(minutes=20)  # doubled
    now += timedelta(minutes=20)
    assert ledger.claim("po:PO-1", token, now).granted
    row = ledger.mark_failed("po:PO-1", token, now, "451 try later", retry)
    assert row.state == FAILED_PERMANENT and "gave up after 3 attempts" in row.last_error
    assert [r.key for r in ledger.awaiting_review()] == ["po:PO-1"]


def test_crashed_claim_is_released_and_sent_by_the_next_run(store_location: StoreLocation) -> None:
    db = store_location
    with Ledger(db) as led:
        led.plan([entry()], NOW)
    child = run_script(CLAIM_AND_DIE, location_text(db), "po:PO-1", "claimed")
    assert child.returncode == 0, child.stderr
    with Ledger(db) as led:
        assert led.get("po:PO-1").state == CLAIMED  # type: ignore[union-attr]
        [row] = led.recover(NOW)
        assert row.state == PLANNED
        token = led.start_run()
        assert led.claim("po:PO-1", token, NOW).granted


def test_crashed_sending_becomes_unknown_and_is_not_claimable(
    store_location: StoreLocation,
) -> None:
    db = store_location
    with Ledger(db) as led:
        led.plan([entry()], NOW)
    child = run_script(CLAIM_AND_DIE, location_text(db), "po:PO-1", "sending")
    assert child.returncode == 0, child.stderr
    with Ledger(db) as led:
        [row] = led.recover(NOW)
        assert row.state == UNKNOWN
        token = led.start_run()
        assert not led.claim("po:PO-1", token, NOW).granted
        assert led.plan([entry()], NOW)[0].decision == "awaiting_review"
        assert led.counts_since(NOW).awaiting_review == 1


def test_crashed_sending_of_a_resend_kind_is_retried(store_location: StoreLocation) -> None:
    db = store_location
    with Ledger(db) as led:
        led.plan([entry("ack:RMA-1", on_unknown="resend")], NOW)
    run_script(CLAIM_AND_DIE, location_text(db), "ack:RMA-1", "sending")
    with Ledger(db, retry=RetryPolicy(first_delay=timedelta(0))) as led:
        [row] = led.recover(NOW)
        assert row.state == FAILED and "outcome unknown" in row.last_error
        token = led.start_run()
        assert led.claim("ack:RMA-1", token, NOW).granted


def test_recover_leaves_rows_of_a_live_process_alone(store_location: StoreLocation) -> None:
    db = store_location
    with Ledger(db) as led:
        led.plan([entry()], NOW)
    code = CLAIM_AND_DIE.replace(
        "os._exit(0)  # no clean-up, like a crash",
        "print('ready', flush=True); sys.stdin.readline()",
    )
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), location_text(db), "po:PO-1", "sending"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(REPO),
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with Ledger(db) as led:
            assert led.recover(NOW) == []
            assert led.get("po:PO-1").state == SENDING  # type: ignore[union-attr]
            assert led.plan([entry()], NOW)[0].decision == "in_progress"
    finally:
        child.communicate("go\n", timeout=30)
    with Ledger(db) as led:  # the child has exited without finishing: now it is unknown
        [row] = led.recover(NOW)
        assert row.state == UNKNOWN


def test_a_live_run_in_this_process_is_not_recovered(ledger: Ledger) -> None:
    ledger.plan([entry()], NOW)
    token = ledger.start_run()
    ledger.claim("po:PO-1", token, NOW)
    ledger.mark_sending("po:PO-1", token, NOW)
    with Ledger(ledger.location) as other:
        assert other.recover(NOW) == []
    ledger.finish_run(token)  # the run ended without settling the row
    with Ledger(ledger.location) as other:
        assert [r.state for r in other.recover(NOW)] == [UNKNOWN]


def test_claims_race_between_processes_has_one_winner(store_location: StoreLocation) -> None:
    db = store_location
    with Ledger(db) as led:
        led.plan([entry()], NOW)
    code = """
        import sys, json
        from datetime import datetime
        from zoneinfo import ZoneInfo
        from ops_sheets.store.ledger import Ledger
        led = Ledger(sys.argv[1])
        token = led.start_run()
        now = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/London"))
        print(json.dumps(led.claim("po:PO-1", token, now).granted), flush=True)
        sys.stdin.readline()  # stay alive: a dead owner's claim may be taken over
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), location_text(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
        )
        for _ in range(6)
    ]
    try:
        results = [json.loads(p.stdout.readline()) for p in procs]  # type: ignore[union-attr]
    finally:
        for p in procs:
            p.communicate("done\n", timeout=60)
    assert sorted(results) == [False] * 5 + [True]


def test_mark_sent_by_a_run_that_does_not_hold_the_claim_is_refused(ledger: Ledger) -> None:
    ledger.plan([entry()], NOW)
    owner, intruder = ledger.start_run(), ledger.start_run()
    ledger.claim("po:PO-1", owner, NOW)
    ledger.mark_sending("po:PO-1", owner, NOW)
    with pytest.raises(LedgerError):
        ledger.mark_sent("po:PO-1", intruder, NOW)


def _make_unknown(ledger: Ledger, key: str = "po:PO-1") -> None:
    ledger.plan([entry(key)], NOW)
    token = ledger.start_run()
    ledger.claim(key, token, NOW)
    ledger.mark_sending(key, token, NOW)
    ledger.mark_unknown(key, token, NOW, "timed out after data", RetryPolicy())
    ledger.finish_run(token)


def test_review_sent_settles_an_unknown_key(ledger: Ledger) -> None:
    _make_unknown(ledger)
    row = ledger.review("po:PO-1", "sent", NOW + timedelta(hours=1))
    assert row.state == SENT and row.review == "sent"
    assert ledger.awaiting_review() == []
    assert ledger.plan([entry()], NOW)[0].decision == "already_sent"


def test_review_resend_plans_the_stored_message_again(ledger: Ledger) -> None:
    _make_unknown(ledger)
    row = ledger.review("po:PO-1", "resend", NOW)
    assert row.state == PLANNED and row.attempts == 0 and row.review == "resend"
    assert row.message_id == "<po:PO-1@shop.example.com>"
    assert ledger.pending_keys("stock", NOW) == ["po:PO-1"]


def test_review_refuses_keys_that_are_not_waiting(ledger: Ledger) -> None:
    _make_unknown(ledger, "po:PO-9")
    ledger.plan([entry()], NOW)
    with pytest.raises(LedgerError, match="only unknown or failed-permanent"):
        ledger.review("po:PO-1", "sent", NOW)
    with pytest.raises(LedgerError, match="po:PO-9"):
        ledger.review("po:nope", "sent", NOW)


def test_counts_since_counts_sends_in_the_window_and_what_waits(ledger: Ledger) -> None:
    for i, when in enumerate([NOW - timedelta(days=1), NOW, NOW + timedelta(hours=2)]):
        key = f"po:{i}"
        ledger.plan([entry(key)], when)
        token = ledger.start_run()
        ledger.claim(key, token, when)
        ledger.mark_sending(key, token, when)
        ledger.mark_sent(key, token, when)
    _make_unknown(ledger, "po:unknown")
    counts = ledger.counts_since(NOW, NOW + timedelta(hours=1))
    assert (counts.sent, counts.awaiting_review, counts.unknown) == (1, 1, 1)
    assert ledger.counts_since(NOW - timedelta(days=2)).sent == 3


def test_times_must_be_timezone_aware(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.plan([entry()], datetime(2026, 11, 23, 9, 0))


def test_times_are_stored_in_utc(ledger: Ledger) -> None:
    ledger.plan([entry()], NOW)
    row = ledger.get("po:PO-1")
    assert row is not None and row.created_at == NOW and row.created_at.tzinfo == UTC
