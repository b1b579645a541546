"""The service's own memory between runs (SQLite, next to the message ledger).

What lives here is what the sheet cannot hold without the team editing it: the
history of job runs, sequences (RMA numbers), daily on-hand snapshots, findings
already reported. Message delivery state lives in :mod:`ops_sheets.ledger`, in
the same file but its own tables.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import LedgerError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    business_now TEXT NOT NULL,     -- the run's `now` (ISO, business time zone)
    started_at TEXT NOT NULL,       -- wall clock, UTC ISO
    finished_at TEXT,
    result TEXT NOT NULL DEFAULT 'running',  -- running | ok | problems | failed | interrupted
    counts TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS job_runs_job ON job_runs(job, started_at);
CREATE TABLE IF NOT EXISTS kv (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE IF NOT EXISTS sequences (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    business_now: str
    started_at: datetime
    finished_at: datetime | None
    result: str
    counts: dict[str, Any]
    error: str

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def connect(path: Path) -> sqlite3.Connection:
    """Open the state database the way every part of the service does."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise LedgerError(f"{path}: cannot open the state database: {exc}") from None
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------ job runs

    def start_run(self, job: str, business_now: datetime, started_at: datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO job_runs(job, business_now, started_at) VALUES (?, ?, ?)",
            (job, business_now.isoformat(), started_at.isoformat()),
        )
        return int(cur.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        result: str,
        finished_at: datetime,
        counts: dict[str, Any] | None = None,
        error: str = "",
    ) -> None:
        self.conn.execute(
            "UPDATE job_runs SET result=?, finished_at=?, counts=?, error=? WHERE id=?",
            (result, finished_at.isoformat(), json.dumps(counts or {}), error, run_id),
        )

    def runs(self, job: str | None = None, limit: int = 50) -> list[JobRun]:
        sql = "SELECT * FROM job_runs"
        args: tuple[Any, ...] = ()
        if job:
            sql += " WHERE job=?"
            args = (job,)
        rows = self.conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_run(r) for r in rows]

    def last_run(self, job: str, result: str | None = None) -> JobRun | None:
        sql = "SELECT * FROM job_runs WHERE job=?"
        args: tuple[Any, ...] = (job,)
        if result:
            sql += " AND result=?"
            args += (result,)
        row = self.conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return _run(row) if row else None

    # ------------------------------------------------------------ key/value

    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        row = self.conn.execute(
            "SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)
        ).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, namespace: str, key: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO kv(namespace, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT(namespace, key) DO UPDATE SET value=excluded.value",
            (namespace, key, json.dumps(value, default=str)),
        )

    def items(self, namespace: str) -> dict[str, Any]:
        rows = self.conn.execute("SELECT key, value FROM kv WHERE namespace=?", (namespace,))
        return {k: json.loads(v) for k, v in rows}

    def next_in_sequence(self, name: str, above: int = 0) -> int:
        """1, 2, 3… per name, and always more than ``above`` (numbers the team typed);
        atomic across processes, never reused."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(
                "INSERT INTO sequences(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=MAX(value + 1, ?)",
                (name, above + 1, above + 1),
            )
            (value,) = self.conn.execute(
                "SELECT value FROM sequences WHERE name=?", (name,)
            ).fetchone()
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return int(value)


def _run(row: tuple[Any, ...]) -> JobRun:
    id_, job, business_now, started, finished, result, counts, error = row
    return JobRun(
        id=id_,
        job=job,
        business_now=business_now,
        started_at=datetime.fromisoformat(started),
        finished_at=datetime.fromisoformat(finished) if finished else None,
        result=result,
        counts=json.loads(counts),
        error=error,
    )
