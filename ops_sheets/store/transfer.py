"""Moving a shop's SQLite state (ledger and job history) into PostgreSQL.

Everything is copied in one PostgreSQL transaction, row for row: every ledger key
with its state, stored message, claim and history; every job run; the key/value
state (the birth mark included, or its absence: an old state stays old for the
mail guard); every sequence. Then the copy is read back and compared with the
source; any difference rolls the whole transfer back. The SQLite file is never
changed, so it stays the way back.

The target schema must be empty of shop data: a transfer never merges two states
(that could mark a key sent that the other state never sent, or the reverse).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops_sheets.errors import LedgerError
from ops_sheets.store.location import PostgresLocation, redact

#: table -> (columns in a stable order, ordering for the comparison)
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "mail_messages": (
        (
            "key",
            "kind",
            "job",
            "recipients",
            "subject",
            "reference",
            "message_id",
            "body_hash",
            "message",
            "on_unknown",
            "state",
            "attempts",
            "last_error",
            "next_attempt_at",
            "claim_token",
            "owner_host",
            "owner_pid",
            "owner_started",
            "claimed_at",
            "created_at",
            "updated_at",
            "sent_at",
            "conflict_hash",
            "conflict_at",
            "review",
            "reviewed_at",
        ),
        "key",
    ),
    "mail_events": (("id", "key", "at", "state", "detail"), "id"),
    "job_runs": (
        ("id", "job", "business_now", "started_at", "finished_at", "result", "counts", "error"),
        "id",
    ),
    "kv": (("namespace", "key", "value"), "namespace, key"),
    "sequences": (("name", "value"), "name"),
}


@dataclass(frozen=True)
class TransferReport:
    source: Path
    target: PostgresLocation
    rows: dict[str, int]

    def lines(self) -> list[str]:
        counts = ", ".join(f"{n} {table}" for table, n in self.rows.items())
        return [
            f"copied {self.source} into {self.target}: {counts}; every row read back equal",
            f"{self.source} is unchanged. To use PostgreSQL from now on, set in the config:",
            "  [state]",
            f'  url = "{redact(self.target.url).replace(":***@", "@")}"',
            f'  schema = "{self.target.schema}"',
        ]


def _sqlite_rows(conn: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    columns, order = TABLES[table]
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}").fetchall()  # noqa: S608
    return [_normal(r) for r in rows]


def _normal(row: Any) -> tuple[Any, ...]:
    return tuple(bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else v for v in row)


def copy_sqlite_to_postgres(source: Path, target: PostgresLocation) -> TransferReport:
    """Copy the state at ``source`` into ``target``'s schema (see the module doc)."""
    from ops_sheets.store.postgres import open_store

    if not source.is_file():
        raise LedgerError(f"{source}: no state file to migrate; check [state] path or --config")
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        data = {table: _sqlite_rows(src, table) for table in TABLES}
    finally:
        src.close()

    pg = open_store(target)
    try:
        with pg.transaction():
            for table in ("mail_messages", "job_runs", "sequences"):
                pg.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
                if pg.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():  # noqa: S608
                    raise LedgerError(
                        f"{target}: the schema already holds a state ({table} has rows); "
                        "migrate into a new schema (--schema NAME) — states are never merged"
                    )
            # the copy carries the source's own birth mark, or none (see module doc)
            pg.execute("DELETE FROM kv")
            for table, rows in data.items():
                columns, _ = TABLES[table]
                if not rows:
                    continue
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
                pg._conn.cursor().executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])
            for table in ("mail_events", "job_runs"):
                top = f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1"  # noqa: S608
                pg.execute(
                    f"SELECT setval(pg_get_serial_sequence(?, 'id'), {top}, false)", (table,)
                )
            for table, rows in data.items():
                columns, order = TABLES[table]
                back = pg.execute(
                    f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"  # noqa: S608
                ).fetchall()
                # compared as sets of rows: the two databases may sort text differently
                if sorted(map(repr, map(_normal, back))) != sorted(map(repr, rows)):
                    raise LedgerError(
                        f"{target}: {table} read back differs from {source}; nothing was kept"
                    )
    finally:
        pg.close()
    return TransferReport(source, target, {t: len(r) for t, r in data.items()})
