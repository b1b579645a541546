"""Google's quota shared by processes: token buckets in a table (issue 21).

The same buckets as :class:`ops_sheets.sheet.workbook.quota.LocalGate`, kept in a
``quota_buckets`` table so that every process drawing on one Cloud project and one
set of credentials draws from one budget: a SQLite file for the shops of one
machine (``serve --shops`` puts it in DIR), or PostgreSQL (schema
``ops_sheets_quota``) for several machines. Taking a token is one short
transaction on the bucket's row; a 429 sets ``blocked_until`` for everyone.

Times are the wall clock (``time.time``): processes on several machines must
have synchronised clocks (NTP), which a lease-based fleet needs anyway.
"""

from __future__ import annotations

import threading
import time as time_module
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops_sheets.sheet.workbook.quota import EPSILON, Bucket
from ops_sheets.store.location import PostgresLocation, parse_location

QUOTA_SCHEMA = "ops_sheets_quota"
_TABLE = """
CREATE TABLE IF NOT EXISTS quota_buckets (
    bucket        TEXT PRIMARY KEY,
    tokens        DOUBLE PRECISION NOT NULL,
    updated       DOUBLE PRECISION NOT NULL,
    blocked_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    requests      BIGINT NOT NULL DEFAULT 0
)
"""


class SharedGate:
    """A :class:`~ops_sheets.sheet.workbook.quota.RequestGate` kept in a store."""

    def __init__(
        self,
        location: str | Path | PostgresLocation,
        *,
        clock: Callable[[], float] = time_module.time,
        sleep: Callable[[float], None] = time_module.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        loc = parse_location(location if not isinstance(location, Path) else str(location))
        self._pg = isinstance(loc, PostgresLocation)
        if isinstance(loc, PostgresLocation):
            from ops_sheets.store.postgres import PgConnection

            conn = PgConnection(PostgresLocation(loc.url, QUOTA_SCHEMA))
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('quota-setup', 0))")
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {QUOTA_SCHEMA}")
                conn.execute(f"SET search_path TO {QUOTA_SCHEMA}")
                conn.execute(_TABLE)
            self._conn: Any = conn
        else:
            from ops_sheets.store.state import connect

            self._conn = connect(Path(loc))
            self._conn.execute(_TABLE.replace("DOUBLE PRECISION", "REAL"))

    def close(self) -> None:
        self._conn.close()

    def _take(self, buckets: tuple[Bucket, ...]) -> float:
        lock = " FOR UPDATE" if self._pg else ""
        ordered = sorted(buckets, key=lambda b: b.name)  # one order: no deadlock
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                rows = {}
                for b in ordered:
                    self._conn.execute(
                        "INSERT INTO quota_buckets (bucket, tokens, updated) VALUES (?, ?, ?) "
                        "ON CONFLICT (bucket) DO NOTHING",
                        (b.name, b.capacity, self.clock()),
                    )
                    rows[b.name] = self._conn.execute(
                        f"SELECT tokens, updated, blocked_until FROM quota_buckets "  # noqa: S608
                        f"WHERE bucket = ?{lock}",
                        (b.name,),
                    ).fetchone()
                # read the clock only once every row is ours: a time taken before
                # waiting for a lock would move `updated` back and refill twice
                now = self.clock()
                wait = 0.0
                levels: dict[str, tuple[float, float]] = {}
                for b in ordered:
                    tokens, updated, blocked = rows[b.name]
                    level = min(b.capacity, tokens + max(now - updated, 0.0) * b.per_second)
                    levels[b.name] = (level, max(now, updated))
                    wait = max(wait, blocked - now)
                    if level < 1.0 - EPSILON:
                        wait = max(wait, (1.0 - level) / b.per_second)
                taken = 0.0 if wait > 0 else 1.0
                for b in ordered:
                    level, at = levels[b.name]
                    self._conn.execute(
                        "UPDATE quota_buckets SET tokens = ?, updated = ?, "
                        "requests = requests + ? WHERE bucket = ?",
                        (level - taken, at, int(taken), b.name),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return wait

    def acquire(self, buckets: tuple[Bucket, ...]) -> float:
        waited = 0.0
        while (wait := self._take(buckets)) > 0:
            self.sleep(min(wait, 5.0))
            waited += min(wait, 5.0)
        return waited

    def backoff(self, buckets: tuple[Bucket, ...], seconds: float) -> None:
        until = self.clock() + seconds
        with self._lock:
            for b in buckets:
                self._conn.execute(
                    "UPDATE quota_buckets SET blocked_until = CASE WHEN blocked_until > ? "
                    "THEN blocked_until ELSE ? END WHERE bucket = ?",
                    (until, until, b.name),
                )

    def requests(self) -> dict[str, int]:
        """Tokens taken so far, per bucket (for benchmarks and status)."""
        rows = self._conn.execute("SELECT bucket, requests FROM quota_buckets").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}


class QuotaRun:
    """A run function that first installs the shared gate in its (child) process.

    Picklable, so the spawned child of each run gets it: ``quota`` is the full text
    of the gate's location (a SQLite path, or ``postgresql://...``).
    """

    def __init__(self, run: Any, quota: str) -> None:
        self.run = run
        self.quota = quota

    def __call__(self, name: str, settings: Any, now: Any) -> Any:
        from ops_sheets.sheet.workbook.quota import install_gate

        gate = SharedGate(self.quota)
        install_gate(gate)
        try:
            return self.run(name, settings, now)
        finally:
            install_gate(None)
            gate.close()
