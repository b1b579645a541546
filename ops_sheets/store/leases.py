"""Slot leases: each slot of each job runs once, however many ``serve`` processes
share the shop's store (issue 21).

A worker that finds a job due claims the slot (job, scheduled UTC instant) with a
lease that lasts longer than the job may run (its timeout plus a margin). Claiming
is one atomic upsert: it succeeds when no one holds the slot, or when the holder's
lease expired without the run finishing (that worker was killed). A finished slot
is never run again. Mail inside a run is still protected by the ledger's claims,
so a run taken over after a crash sends at most once what the dead run planned.

The table is ``slot_leases`` in the shop's store: migration 2 on PostgreSQL; on
SQLite it is created here on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Literal

from ops_sheets.store.location import PostgresLocation, StoreLocation, parse_location

_SQLITE_TABLE = """
CREATE TABLE IF NOT EXISTS slot_leases (
    job         TEXT NOT NULL,
    slot        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    leased_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    finished_at TEXT,
    result      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job, slot)
)
"""

Verdict = Literal["granted", "taken_over", "finished", "held"]


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"slot leases need timezone-aware times, got {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Lease:
    job: str
    slot: datetime
    owner: str
    expires_at: datetime
    finished_at: datetime | None
    result: str


class SlotLeases:
    """The slot leases of one shop's store."""

    def __init__(self, location: StoreLocation | str) -> None:
        loc = parse_location(location)
        if isinstance(loc, PostgresLocation):
            from ops_sheets.store.postgres import open_store

            self._conn = open_store(loc)  # migration 2 creates the table
        else:
            from ops_sheets.store.state import connect

            self._conn = connect(Path(loc))  # type: ignore[assignment]
            self._conn.execute(_SQLITE_TABLE)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SlotLeases:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def claim(
        self, job: str, slot: datetime, owner: str, now: datetime, lease: timedelta
    ) -> Verdict:
        """Take ``slot`` of ``job`` for ``owner`` until ``now + lease`` (atomic).

        ``granted``: no one had it; ``taken_over``: its holder's lease ran out before
        the run finished (so that run died); ``finished``: it ran already; ``held``: a
        live lease holds it (wait, and ask again later).
        """
        before = self.get(job, slot)
        row = self._conn.execute(
            "INSERT INTO slot_leases (job, slot, owner, leased_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job, slot) DO UPDATE SET "
            "owner = excluded.owner, leased_at = excluded.leased_at, "
            "expires_at = excluded.expires_at "
            "WHERE slot_leases.finished_at IS NULL "
            "AND slot_leases.expires_at <= excluded.leased_at "
            "RETURNING owner",
            (job, _ts(slot), owner, _ts(now), _ts(now + lease)),
        ).fetchone()
        if row is not None:
            return "taken_over" if before is not None else "granted"
        after = self.get(job, slot)
        return "finished" if after is not None and after.finished_at is not None else "held"

    def finish(self, job: str, slot: datetime, owner: str, now: datetime, result: str) -> bool:
        """Mark the slot run (only by the lease's holder); False if it lost the lease."""
        row = self._conn.execute(
            "UPDATE slot_leases SET finished_at = ?, result = ? "
            "WHERE job = ? AND slot = ? AND owner = ? RETURNING job",
            (_ts(now), result, job, _ts(slot), owner),
        ).fetchone()
        return row is not None

    def get(self, job: str, slot: datetime) -> Lease | None:
        r = self._conn.execute(
            "SELECT job, slot, owner, expires_at, finished_at, result FROM slot_leases "
            "WHERE job = ? AND slot = ?",
            (job, _ts(slot)),
        ).fetchone()
        if r is None:
            return None
        return Lease(
            r[0],
            datetime.fromisoformat(r[1]),
            r[2],
            datetime.fromisoformat(r[3]),
            datetime.fromisoformat(r[4]) if r[4] else None,
            r[5],
        )

    def all(self) -> list[Lease]:
        rows = self._conn.execute("SELECT job, slot FROM slot_leases ORDER BY job, slot").fetchall()
        return [lease for r in rows if (lease := self.get(r[0], datetime.fromisoformat(r[1])))]


def owner_name() -> str:
    """This process, as a lease owner: host, pid, and a random part (pids are reused)."""
    import socket
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


__all__ = ["Lease", "SlotLeases", "Verdict", "owner_name"]
