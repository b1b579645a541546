"""Google's quota shared by every shop (issue 21): token buckets per Cloud project and
per credentials, in this process or in a store shared by processes, and the Google
backend drawing on them before every request and backing off together on 429."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from test_workbook_google import google_settings, shop_rows

from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.quota import Bucket, LocalGate, buckets_for, install_gate
from ops_sheets.store.location import PostgresLocation, StoreLocation, location_text
from ops_sheets.store.quota import SharedGate


class FakeTime:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


PROJECT = Bucket("project:p", 300)  # a burst of 50, then 250 over the minute
USER = Bucket("user:u", 60)  # a burst of 10, then 50 over the minute: one per 1.2 s


def test_the_tighter_bucket_sets_the_pace_and_waits_are_exact() -> None:
    t = FakeTime()
    gate = LocalGate(t.clock, t.sleep)
    for _ in range(10):  # the user bucket's burst
        assert gate.acquire((PROJECT, USER)) == 0
    assert gate.acquire((PROJECT, USER)) == pytest.approx(1.2)  # then one per 1.2 s
    assert gate.acquire((PROJECT, USER)) == pytest.approx(1.2)


def test_no_sixty_seconds_ever_see_more_requests_than_the_quota() -> None:
    t = FakeTime()
    gate = LocalGate(t.clock, t.sleep)
    stamps = []
    for _ in range(400):  # as fast as the gate lets them go, for about seven minutes
        gate.acquire((USER,))
        stamps.append(t.now)
    worst = max(sum(1 for s in stamps if a <= s < a + 60) for a in stamps)
    assert 55 <= worst <= 60  # the whole budget used, never more


def test_a_429_holds_back_every_user_of_the_bucket() -> None:
    t = FakeTime()
    gate = LocalGate(t.clock, t.sleep)
    gate.backoff((PROJECT,), 7.0)
    assert gate.acquire((PROJECT, USER)) == pytest.approx(7.0)


def shared_location(store_location: StoreLocation) -> str:
    if isinstance(store_location, PostgresLocation):
        return store_location.url  # the gate keeps its own schema
    return str(store_location)


def test_processes_sharing_a_store_share_one_budget(store_location: StoreLocation) -> None:
    t = FakeTime()
    where = shared_location(store_location)
    one = SharedGate(where, clock=t.clock, sleep=t.sleep)
    two = SharedGate(where, clock=t.clock, sleep=t.sleep)
    try:
        bucket = (Bucket(f"user:{location_text(store_location)}", 60),)
        taken = [g.acquire(bucket) for g in (one, two) * 5]  # ten between them: the burst
        assert taken == [0.0] * 10
        assert two.acquire(bucket) == pytest.approx(1.2)  # the eleventh waits for a token
        one.backoff(bucket, 30.0)  # a 429 seen by one...
        assert two.acquire(bucket) == pytest.approx(30.0)  # ...holds the other back too
        assert one.requests()[bucket[0].name] == 12
    finally:
        one.close()
        two.close()


def test_the_google_backend_takes_a_token_before_every_request_and_backs_off_on_429(
    sheets_emulator: object, tmp_path: Path, now: datetime
) -> None:
    sheet_id = sheets_emulator.create_spreadsheet(sheets=shop_rows(5))  # type: ignore[attr-defined]
    settings = google_settings(tmp_path, sheet_id, deadline_seconds=60.0)
    gate = SharedGate(tmp_path / "quota.db")
    install_gate(gate)
    try:
        sheets_emulator.faults.fail_rate(0.3, status=429, seed=3)  # type: ignore[attr-defined]
        run_job("check", settings, now)
        sheets_emulator.faults.clear()  # type: ignore[attr-defined]
        host = sheets_emulator.host_port  # type: ignore[attr-defined]
        project, user = buckets_for(f"emulator:{host}", f"anonymous@{host}", 300, 60)
        counted = gate.requests()
        answered = len(sheets_emulator.requests)  # type: ignore[attr-defined]
        assert counted[project.name] == counted[user.name] == answered
        refused = [r for r in sheets_emulator.requests if r.status == 429]  # type: ignore[attr-defined]
        assert refused
        blocked = gate._conn.execute("SELECT MAX(blocked_until) FROM quota_buckets").fetchone()[0]
        assert blocked > 0  # the 429s held back the whole bucket
    finally:
        install_gate(None)
        gate.close()
