"""The service's own memory between runs (SQLite, next to the message ledger; or
PostgreSQL, in the shop's schema: see :mod:`ops_sheets.store.location`).

What lives here is what the sheet cannot hold without the team editing it: the
history of job runs, sequences (RMA numbers), daily on-hand snapshots, findings
already reported. Message delivery state lives in :mod:`ops_sheets.store.ledger`, in
the same file but its own tables.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops_sheets.errors import LedgerError
from ops_sheets.store.ledger import enable_wal
from ops_sheets.store.location import PostgresLocation, StoreLocation, parse_location

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


#: (namespace, key) of the mark a state gets when this version creates it: the
#: mail guard (ops_sheets.service.state_guard) knows from it that the state began empty.
BIRTH = ("state", "created")


def _has_tables(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'job_runs'"
    ).fetchone()
    return found is not None


def _create(conn: sqlite3.Connection) -> None:
    """The schema, and the birth mark when the tables are new, in one transaction:
    a second process opening the same new file sees both or neither."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        new = not _has_tables(conn)
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        if new:
            conn.execute(
                "INSERT INTO kv(namespace, key, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (*BIRTH, json.dumps({"at": datetime.now(UTC).isoformat(), "version": 1})),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


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
    enable_wal(conn, 30.0)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class State:
    def __init__(self, path: StoreLocation | str, *, read_only: bool = False) -> None:
        location = parse_location(path)
        self.location: StoreLocation = location
        self.read_only = read_only
        # A read-only state (dry run) keeps what the run records in memory, so the
        # run sees its own changes exactly as a real run would, and nothing persists.
        self._overlay: dict[tuple[str, str], Any] = {}
        self._sequences: dict[str, int] = {}
        if isinstance(location, PostgresLocation):
            from ops_sheets.store.postgres import open_store

            self.path = Path(str(location))
            # the schema (and the birth mark, in its first migration) comes with it
            self.conn = open_store(location, scratch=read_only)  # type: ignore[assignment]
            return
        self.path = path = location
        if read_only:
            # a dry run looks at the service's memory but must not change it
            self.conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        else:
            self.conn = connect(path)
            _create(self.conn)

    @classmethod
    def peek(cls, path: StoreLocation | str) -> State:
        """The state for a dry run: read-only, and empty when there is none yet (no
        file, or a file that holds only the ledger's tables)."""
        path = parse_location(path)
        if isinstance(path, PostgresLocation):
            return cls(path, read_only=True)  # a scratch transaction, rolled back
        if path.is_file():
            state = cls(path, read_only=True)
            if _has_tables(state.conn):
                return state
            state.close()
        state = cls.__new__(cls)
        state.path, state.read_only, state._overlay, state._sequences = path, True, {}, {}
        state.location = path
        state.conn = sqlite3.connect(":memory:", isolation_level=None)
        _create(state.conn)  # what a real run would create
        return state

    def read_only_view(self) -> State:
        """This state, read-only: what is recorded through the view stays in memory,
        as in a dry run. It shares this state's connection (close this one)."""
        view = State.__new__(State)
        view.path, view.read_only, view._overlay, view._sequences = self.path, True, {}, {}
        view.location = self.location
        view.conn = self.conn
        return view

    @property
    def born_marked(self) -> bool:
        """Created by a version that marks new states (see :data:`BIRTH`): a state
        without the mark is older and has been working with its sheet."""
        return self.get(*BIRTH) is not None

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------ job runs

    def start_run(self, job: str, business_now: datetime, started_at: datetime) -> int:
        if self.read_only:
            return 0
        (run_id,) = self.conn.execute(
            "INSERT INTO job_runs(job, business_now, started_at) VALUES (?, ?, ?) RETURNING id",
            (job, business_now.isoformat(), started_at.isoformat()),
        ).fetchone()
        return int(run_id)

    def finish_run(
        self,
        run_id: int,
        result: str,
        finished_at: datetime,
        counts: dict[str, Any] | None = None,
        error: str = "",
    ) -> None:
        if self.read_only:
            return
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

    def first_run_at(self) -> datetime | None:
        """When the service began: the business `now` of its first job run."""
        (oldest,) = self.conn.execute("SELECT MIN(business_now) FROM job_runs").fetchone()
        return datetime.fromisoformat(oldest) if oldest else None

    # ------------------------------------------------------------ key/value

    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        if (namespace, key) in self._overlay:
            return self._overlay[(namespace, key)]
        row = self.conn.execute(
            "SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)
        ).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, namespace: str, key: str, value: Any) -> None:
        if self.read_only:
            self._overlay[(namespace, key)] = json.loads(json.dumps(value, default=str))
            return
        self.conn.execute(
            "INSERT INTO kv(namespace, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT(namespace, key) DO UPDATE SET value=excluded.value",
            (namespace, key, json.dumps(value, default=str)),
        )

    def items(self, namespace: str) -> dict[str, Any]:
        rows = self.conn.execute("SELECT key, value FROM kv WHERE namespace=?", (namespace,))
        out = {k: json.loads(v) for k, v in rows}
        out.update({k: v for (ns, k), v in self._overlay.items() if ns == namespace})
        return out

    def next_in_sequence(self, name: str, above: int = 0) -> int:
        """1, 2, 3… per name, and always more than ``above`` (numbers the team typed);
        atomic across processes, never reused."""
        if self.read_only:
            row = self.conn.execute("SELECT value FROM sequences WHERE name=?", (name,)).fetchone()
            last = self._sequences.get(name, row[0] if row else 0)
            self._sequences[name] = max(last + 1, above + 1)
            return self._sequences[name]
        # one statement: atomic on SQLite and PostgreSQL alike (the row is locked)
        (value,) = self.conn.execute(
            "INSERT INTO sequences(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = CASE WHEN sequences.value + 1 > ? "
            "THEN sequences.value + 1 ELSE ? END RETURNING value",
            (name, above + 1, above + 1, above + 1),
        ).fetchone()
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
