"""The message ledger: the only place where delivery state lives.

One row per idempotency key (``po:PO-20261123-ACME``, chosen by the jobs) in
the SQLite file named by ``[state] path``, opened in WAL mode with
``synchronous=FULL`` so that a state written before a send survives a power
cut. Each row keeps the finished message bytes, so a retry or a reviewed
resend sends exactly what was recorded, with the same Message-ID. With
``[state] url`` the same table lives in PostgreSQL instead (the shop's schema;
:mod:`ops_sheets.store.postgres`), with the same states and transitions.

States::

    planned ─► claimed ─► sending ─► sent
                  │           ├────► unknown ──review──► sent | planned
                  │           ├────► failed (retry after backoff) ─► claimed …
                  │           └────► failed-permanent ──review──► sent | planned
                  └─(owner died)─► planned

* ``claimed``: a run owns the key and may still decide not to send; if that
  run dies the claim is released, because nothing can have left yet.
* ``sending``: written at the last moment before the message data goes out; a
  ``sending`` row whose owner is gone becomes ``unknown``.
* ``failed-permanent`` (5xx, or too many 4xx) is never retried as it was; a
  run that produces a *different* message for the key (say, the supplier's
  address was corrected) plans it afresh, since a refused message was not
  delivered and cannot be duplicated.
* ``unknown`` rows of kinds that go to suppliers and forwarders wait for
  ``ops-sheets review``; for the other kinds (``on_unknown = "resend"``) an
  unknown outcome is retried like a temporary failure, same Message-ID.
* any key not sent yet (or not known at all) becomes ``sent`` without sending
  when the Activity log shows it sent (``record_sent_elsewhere``): the state
  that sent it was lost, or another one sent it.

Concurrency — why claim tokens plus owner liveness, not long transactions:
every transition is one short ``BEGIN IMMEDIATE`` transaction (one writer at a
time; WAL readers are never blocked) and a compare-and-set on the row's state
and claim token, so two processes can never both claim a key, and a run that
lost its claim cannot overwrite someone else's state. Holding a write
transaction across the network send would serialise all senders and, worse,
roll back the ``sending`` mark on a crash – the one fact recovery needs.
Deciding that a ``claimed`` or ``sending`` row is abandoned needs to know
whether its owner is still running: each claim records the owner's host, pid
and process start time. On the same host the owner is alive while that process
exists (and, within this process, while the run's token is registered); a
claim from another host is trusted for ``lease`` after its last update.
``recover()`` therefore never flips a row that a concurrent live process is
sending right now.

Time is always passed in: ``now`` must be timezone-aware; it is stored in UTC.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ops_sheets.config import Settings
from ops_sheets.errors import LedgerError
from ops_sheets.store.location import PostgresLocation, StoreLocation, parse_location

if TYPE_CHECKING:
    from ops_sheets.store.postgres import PgConnection

PLANNED = "planned"
CLAIMED = "claimed"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
FAILED_PERMANENT = "failed-permanent"
UNKNOWN = "unknown"
STATES = (PLANNED, CLAIMED, SENDING, SENT, FAILED, FAILED_PERMANENT, UNKNOWN)
#: States that wait for a person (``ops-sheets review``).
REVIEW_STATES = (UNKNOWN, FAILED_PERMANENT)
#: ``job`` of the rows that are posts to a chat channel (mail.channels.poster), not emails
CHANNEL_JOB_PREFIX = "channel:"

OnUnknown = Literal["review", "resend"]
Decision = Literal[
    "send",
    "already_sent",
    "conflict",
    "awaiting_review",
    "failed_permanent",
    "waiting",
    "in_progress",
]

_HOST = socket.gethostname()
#: Claim tokens of runs that are active in *this* process (see module docstring).
_LIVE_TOKENS: set[str] = set()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_messages (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    job             TEXT NOT NULL DEFAULT '',
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    reference       TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL,
    body_hash       TEXT NOT NULL,
    message         BLOB NOT NULL,
    on_unknown      TEXT NOT NULL DEFAULT 'review',
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    next_attempt_at TEXT,
    claim_token     TEXT,
    owner_host      TEXT,
    owner_pid       INTEGER,
    owner_started   TEXT,
    claimed_at      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    conflict_hash   TEXT,
    conflict_at     TEXT,
    review          TEXT,
    reviewed_at     TEXT
);
CREATE INDEX IF NOT EXISTS mail_messages_state ON mail_messages(state);
CREATE INDEX IF NOT EXISTS mail_messages_sent_at ON mail_messages(sent_at);
CREATE TABLE IF NOT EXISTS mail_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    key    TEXT NOT NULL,
    at     TEXT NOT NULL,
    state  TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS mail_events_key ON mail_events(key);
"""


# ---------------------------------------------------------------- values


def _ts(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"the ledger needs timezone-aware times, got {value!r}")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for temporary failures: first_delay × 2^(n-1), capped."""

    first_delay: timedelta = timedelta(minutes=15)
    max_attempts: int = 5
    max_delay: timedelta = timedelta(hours=24)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            first_delay=timedelta(minutes=settings.mail.retry_after_minutes),
            max_attempts=max(1, settings.mail.max_attempts),
        )

    def delay(self, attempts: int) -> timedelta:
        return min(self.first_delay * (2 ** max(attempts - 1, 0)), self.max_delay)


@dataclass(frozen=True)
class LedgerRow:
    key: str
    kind: str
    job: str
    recipients: tuple[str, ...]
    subject: str
    reference: str
    message_id: str
    body_hash: str
    on_unknown: str
    state: str
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    claim_token: str | None
    owner_host: str | None
    owner_pid: int | None
    owner_started: str | None
    claimed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    conflict_hash: str | None
    conflict_at: datetime | None
    review: str | None
    reviewed_at: datetime | None
    message: bytes = b""

    @classmethod
    def from_sql(cls, r: sqlite3.Row) -> LedgerRow:
        return cls(
            key=r["key"],
            kind=r["kind"],
            job=r["job"],
            recipients=tuple(json.loads(r["recipients"])),
            subject=r["subject"],
            reference=r["reference"],
            message_id=r["message_id"],
            body_hash=r["body_hash"],
            on_unknown=r["on_unknown"],
            state=r["state"],
            attempts=r["attempts"],
            last_error=r["last_error"],
            next_attempt_at=_dt(r["next_attempt_at"]),
            claim_token=r["claim_token"],
            owner_host=r["owner_host"],
            owner_pid=r["owner_pid"],
            owner_started=r["owner_started"],
            claimed_at=_dt(r["claimed_at"]),
            created_at=_dt(r["created_at"]) or datetime.min.replace(tzinfo=UTC),
            updated_at=_dt(r["updated_at"]) or datetime.min.replace(tzinfo=UTC),
            sent_at=_dt(r["sent_at"]),
            conflict_hash=r["conflict_hash"],
            conflict_at=_dt(r["conflict_at"]),
            review=r["review"],
            reviewed_at=_dt(r["reviewed_at"]),
            message=bytes(r["message"]),
        )

    @property
    def to(self) -> str:
        return ", ".join(self.recipients)


@dataclass(frozen=True)
class PlanEntry:
    """What a run intends to send under ``key``."""

    key: str
    kind: str
    job: str
    recipients: tuple[str, ...]
    subject: str
    reference: str
    message_id: str
    body_hash: str
    message: bytes
    on_unknown: OnUnknown = "review"


@dataclass(frozen=True)
class PlanResult:
    key: str
    decision: Decision
    row: LedgerRow
    #: for "conflict": True the first time this different body is seen
    new_conflict: bool = False


@dataclass(frozen=True)
class Claim:
    granted: bool
    row: LedgerRow | None


@dataclass(frozen=True)
class LedgerCounts:
    sent: int
    awaiting_review: int
    failed: int
    unknown: int
    failed_permanent: int


# ---------------------------------------------------------------- owners


def _process_stat(pid: int) -> list[str] | None:
    """Fields 3… of /proc/<pid>/stat (state first), or None where /proc is absent."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data.rsplit(b")", 1)[-1].decode("ascii", "replace").split()


def _process_started(pid: int) -> str:
    fields = _process_stat(pid)
    return fields[19] if fields and len(fields) > 19 else ""


_SELF_STARTED = _process_started(os.getpid())


def _pid_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    fields = _process_stat(pid)
    if fields is None:
        return True  # no /proc: the pid exists, trust it
    if fields and fields[0] in ("Z", "X"):
        return False  # exited, not yet reaped
    # A different start time means the pid was reused by another process.
    return not (started and len(fields) > 19 and fields[19] != started)


# ---------------------------------------------------------------- ledger


def enable_wal(conn: sqlite3.Connection, wait_seconds: float) -> str:
    """``PRAGMA journal_mode = WAL``, waiting while another process does the same.

    Switching a new database to WAL takes an exclusive lock, and SQLite answers
    "database is locked" at once instead of calling the busy handler, so two
    processes opening a fresh state file together must wait here themselves.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Ledger:
    """Open (or create) the ledger at ``path``: a SQLite file, or a PostgreSQL
    location (:mod:`ops_sheets.store.location`), where each state change is one
    transaction that locks the rows it reads (``FOR UPDATE``; a per-key advisory
    lock for a key not inserted yet; ``SKIP LOCKED`` for the recovery sweep).

    ``scratch`` (PostgreSQL only; dry runs): everything happens in one transaction
    rolled back on close."""

    def __init__(
        self,
        path: str | os.PathLike[str] | PostgresLocation,
        *,
        busy_timeout: float = 30.0,
        lease: timedelta = timedelta(minutes=30),
        retry: RetryPolicy | None = None,
        scratch: bool = False,
    ) -> None:
        self.location: StoreLocation = parse_location(path)
        self.lease = lease
        #: backoff used when recovery turns an unknown outcome into a retry
        self.retry = retry or RetryPolicy()
        self._pg: PgConnection | None = None
        if isinstance(self.location, PostgresLocation):
            from ops_sheets.store.postgres import open_store

            self.path = Path(str(self.location))
            self._pg = open_store(self.location, scratch=scratch)
            self._conn = self._pg  # type: ignore[assignment]
            return
        self.path = self.location
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = enable_wal(self._conn, busy_timeout)
            if str(mode).lower() != "wal":
                raise LedgerError(f"{self.path}: cannot switch the ledger to WAL mode ({mode})")
            self._conn.execute("PRAGMA synchronous = FULL")
            with self._tx() as conn:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
        except sqlite3.Error as exc:
            raise LedgerError(
                f"{self.path}: cannot open the ledger ({exc}); check [state] path"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Ledger:
        from ops_sheets.store.location import state_location

        return cls(state_location(settings), retry=RetryPolicy.from_settings(settings))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken before reading (BEGIN IMMEDIATE)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ------------------------------------------------------------ runs and owners

    @staticmethod
    def start_run() -> str:
        """A claim token for one delivery run of this process."""
        token = uuid.uuid4().hex
        _LIVE_TOKENS.add(token)
        return token

    @staticmethod
    def finish_run(token: str) -> None:
        _LIVE_TOKENS.discard(token)

    def owner_alive(self, row: LedgerRow, now: datetime) -> bool:
        """Is the run that claimed ``row`` still running? (see module docstring)"""
        if not row.claim_token:
            return False
        if row.owner_host != _HOST:
            return now - row.updated_at < self.lease
        if row.owner_pid == os.getpid():
            return row.claim_token in _LIVE_TOKENS
        if row.owner_pid is None:
            return False
        return _pid_alive(row.owner_pid, row.owner_started)

    # ------------------------------------------------------------ reading

    def get(self, key: str) -> LedgerRow | None:
        r = self._conn.execute("SELECT * FROM mail_messages WHERE key = ?", (key,)).fetchone()
        return LedgerRow.from_sql(r) if r else None

    def _get_in(self, conn: sqlite3.Connection, key: str) -> LedgerRow | None:
        """The row inside a write transaction (locked on PostgreSQL until it ends)."""
        lock = ""
        if self._pg is not None:
            self._pg.lock_key(key)
            lock = self._pg.for_update
        r = conn.execute(f"SELECT * FROM mail_messages WHERE key = ?{lock}", (key,)).fetchone()  # noqa: S608
        return LedgerRow.from_sql(r) if r else None

    def awaiting_review(self) -> list[LedgerRow]:
        """Rows that wait for ``ops-sheets review``: unknown and failed-permanent."""
        rows = self._conn.execute(
            "SELECT * FROM mail_messages WHERE state IN (?, ?) ORDER BY updated_at, key",
            REVIEW_STATES,
        ).fetchall()
        return [LedgerRow.from_sql(r) for r in rows]

    def retrying(self) -> list[LedgerRow]:
        """Rows that failed temporarily and will be tried again."""
        rows = self._conn.execute(
            "SELECT * FROM mail_messages WHERE state = ? ORDER BY next_attempt_at, key", (FAILED,)
        ).fetchall()
        return [LedgerRow.from_sql(r) for r in rows]

    def conflicts_since(self, since: datetime) -> list[LedgerRow]:
        rows = self._conn.execute(
            "SELECT * FROM mail_messages WHERE conflict_at >= ? ORDER BY conflict_at, key",
            (_ts(since),),
        ).fetchall()
        return [LedgerRow.from_sql(r) for r in rows]

    def recent(self, limit: int = 20) -> list[LedgerRow]:
        rows = self._conn.execute(
            "SELECT * FROM mail_messages ORDER BY updated_at DESC, key LIMIT ?", (limit,)
        ).fetchall()
        return [LedgerRow.from_sql(r) for r in rows]

    def events(self, key: str) -> list[tuple[datetime, str, str]]:
        """The history of one key: (time, state, detail), oldest first."""
        rows = self._conn.execute(
            "SELECT at, state, detail FROM mail_events WHERE key = ? ORDER BY id", (key,)
        ).fetchall()
        return [(datetime.fromisoformat(r["at"]), r["state"], r["detail"]) for r in rows]

    def pending_keys(self, job: str, now: datetime) -> list[str]:
        """Keys of ``job`` that a run may send now from their stored message."""
        rows = self._conn.execute(
            "SELECT * FROM mail_messages WHERE job = ? AND state IN (?, ?, ?) ORDER BY created_at",
            (job, PLANNED, FAILED, CLAIMED),
        ).fetchall()
        return [r["key"] for r in rows if self._claimable(LedgerRow.from_sql(r), now)]

    def has_unsent(self, job: str | None = None) -> bool:
        """Any planned, retrying or claimed message (of ``job``), due or not."""
        sql = "SELECT 1 FROM mail_messages WHERE state IN (?, ?, ?)"
        params: list[str] = [PLANNED, FAILED, CLAIMED]
        if job is not None:
            sql += " AND job = ?"
            params.append(job)
        return self._conn.execute(sql + " LIMIT 1", params).fetchone() is not None

    def counts_since(self, since: datetime, until: datetime | None = None) -> LedgerCounts:
        """For KPIs: messages sent in [since, until) and what waits now."""
        params: list[str] = [_ts(since)]
        clause = "sent_at >= ?"
        if until is not None:
            clause += " AND sent_at < ?"
            params.append(_ts(until))
        # Posts to Slack, Teams... (job "channel:<name>") are not emails: not counted.
        not_posts = CHANNEL_JOB_PREFIX + "%"
        sent = self._conn.execute(
            f"SELECT COUNT(*) FROM mail_messages WHERE state = 'sent' AND {clause} "  # noqa: S608
            "AND job NOT LIKE ?",
            [*params, not_posts],
        ).fetchone()[0]
        by_state = dict(
            self._conn.execute(
                "SELECT state, COUNT(*) FROM mail_messages WHERE state IN (?, ?, ?) "
                "AND job NOT LIKE ? GROUP BY state",
                (FAILED, UNKNOWN, FAILED_PERMANENT, not_posts),
            ).fetchall()
        )
        unknown = by_state.get(UNKNOWN, 0)
        permanent = by_state.get(FAILED_PERMANENT, 0)
        return LedgerCounts(
            sent=sent,
            awaiting_review=unknown + permanent,
            failed=by_state.get(FAILED, 0),
            unknown=unknown,
            failed_permanent=permanent,
        )

    def sent_by_kind(self, since: datetime, until: datetime) -> dict[str, int]:
        """For KPIs (issue 18): messages sent in [since, until), by kind."""
        rows = self._conn.execute(
            "SELECT kind, COUNT(*) FROM mail_messages WHERE state = 'sent' "
            "AND sent_at >= ? AND sent_at < ? GROUP BY kind",
            (_ts(since), _ts(until)),
        ).fetchall()
        return {str(k): int(n) for k, n in rows}

    # ------------------------------------------------------------ transitions

    def _event(
        self, conn: sqlite3.Connection, key: str, now: datetime, state: str, detail: str
    ) -> None:
        conn.execute(
            "INSERT INTO mail_events (key, at, state, detail) VALUES (?, ?, ?, ?)",
            (key, _ts(now), state, detail),
        )

    def recover(self, now: datetime) -> list[LedgerRow]:
        """Settle rows whose owning run died: ``claimed`` is released, ``sending``
        becomes ``unknown`` (or retryable for ``on_unknown = "resend"`` kinds).

        Rows owned by a live process (this one or another) are left alone.
        Returns the rows as they are after recovery.
        """
        changed: list[str] = []
        with self._tx() as conn:
            # PostgreSQL: rows another transaction is changing right now are skipped
            # (their owner is alive by definition); the next sweep sees them.
            skip = self._pg.skip_locked if self._pg is not None else ""
            rows = conn.execute(
                f"SELECT * FROM mail_messages WHERE state IN (?, ?){skip}",  # noqa: S608
                (CLAIMED, SENDING),
            ).fetchall()
            for r in rows:
                row = LedgerRow.from_sql(r)
                if self.owner_alive(row, now):
                    continue
                if row.state == CLAIMED:
                    self._release_in(conn, row, now, "claim released: the run that held it stopped")
                else:
                    self._unknown_in(
                        conn,
                        row,
                        now,
                        "the run that was sending it stopped after handing over the message",
                        self.retry,
                    )
                changed.append(row.key)
        return [row for key in changed if (row := self.get(key)) is not None]

    def plan(self, entries: Sequence[PlanEntry], now: datetime) -> list[PlanResult]:
        """Record what this run intends to send; decide per key whether to send.

        New keys are inserted as ``planned``. An unsent key (planned, failed, or a
        released claim) takes the new content, so the newest version is what goes
        out. A sent key is never changed: a different body is a ``conflict``.
        """
        results: list[PlanResult] = []
        with self._tx() as conn:
            if self._pg is not None:
                # every key up front, in one order: two runs planning overlapping keys
                # wait for each other instead of deadlocking
                for key in sorted({e.key for e in entries}):
                    self._pg.lock_key(key)
            for entry in entries:
                results.append(self._plan_one(conn, entry, now))
        return results

    def _plan_one(self, conn: sqlite3.Connection, e: PlanEntry, now: datetime) -> PlanResult:
        row = self._get_in(conn, e.key)
        stamp = _ts(now)
        if row is None:
            conn.execute(
                "INSERT INTO mail_messages (key, kind, job, recipients, subject, reference, "
                "message_id, body_hash, message, on_unknown, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    e.key,
                    e.kind,
                    e.job,
                    json.dumps(list(e.recipients)),
                    e.subject,
                    e.reference,
                    e.message_id,
                    e.body_hash,
                    e.message,
                    e.on_unknown,
                    PLANNED,
                    stamp,
                    stamp,
                ),
            )
            self._event(conn, e.key, now, PLANNED, f"planned by {e.job or 'a run'}")
            created = self._get_in(conn, e.key)
            assert created is not None
            return PlanResult(e.key, "send", created)

        if row.state == SENT:
            if row.body_hash == e.body_hash:
                return PlanResult(e.key, "already_sent", row)
            new = row.conflict_hash != e.body_hash
            if new:
                conn.execute(
                    "UPDATE mail_messages SET conflict_hash = ?, conflict_at = ? WHERE key = ?",
                    (e.body_hash, stamp, e.key),
                )
                self._event(conn, e.key, now, SENT, "a different body was not sent (conflict)")
            return PlanResult(e.key, "conflict", row, new_conflict=new)
        if row.state == UNKNOWN:
            return PlanResult(e.key, "awaiting_review", row)
        if row.state == FAILED_PERMANENT:
            if row.body_hash == e.body_hash:
                return PlanResult(e.key, "failed_permanent", row)  # never retried as it was
            # A refusal means it was not delivered, so a changed version (typically a
            # corrected address) cannot duplicate anything: it starts afresh.
            conn.execute(
                "UPDATE mail_messages SET state = ?, attempts = 0, next_attempt_at = NULL, "
                "updated_at = ? WHERE key = ?",
                (PLANNED, stamp, e.key),
            )
            self._event(conn, e.key, now, PLANNED, "changed after a permanent failure")
            after = self._get_in(conn, e.key)
            assert after is not None
            row = after
        if row.state in (CLAIMED, SENDING):
            if self.owner_alive(row, now):
                return PlanResult(e.key, "in_progress", row)
            if row.state == SENDING:
                self._unknown_in(conn, row, now, "the run that was sending it stopped", self.retry)
                after = self._get_in(conn, e.key)
                assert after is not None
                if after.state == UNKNOWN:
                    return PlanResult(e.key, "awaiting_review", after)
                row = after
            else:
                self._release_in(conn, row, now, "claim released: the run that held it stopped")
                after = self._get_in(conn, e.key)
                assert after is not None
                row = after

        # planned or failed: not sent yet, so the newest content wins.
        if row.body_hash != e.body_hash or row.recipients != tuple(e.recipients):
            conn.execute(
                "UPDATE mail_messages SET kind = ?, job = ?, recipients = ?, subject = ?, "
                "reference = ?, message_id = ?, body_hash = ?, message = ?, on_unknown = ?, "
                "updated_at = ? WHERE key = ?",
                (
                    e.kind,
                    e.job,
                    json.dumps(list(e.recipients)),
                    e.subject,
                    e.reference,
                    e.message_id,
                    e.body_hash,
                    e.message,
                    e.on_unknown,
                    stamp,
                    e.key,
                ),
            )
            self._event(conn, e.key, now, row.state, "content updated before sending")
            after = self._get_in(conn, e.key)
            assert after is not None
            row = after
        if row.state == FAILED and row.next_attempt_at is not None and row.next_attempt_at > now:
            return PlanResult(e.key, "waiting", row)
        return PlanResult(e.key, "send", row)

    def _claimable(self, row: LedgerRow, now: datetime) -> bool:
        if row.state == PLANNED:
            return True
        if row.state == FAILED:
            return row.next_attempt_at is None or row.next_attempt_at <= now
        if row.state == CLAIMED:
            return not self.owner_alive(row, now)
        return False

    def claim(self, key: str, token: str, now: datetime) -> Claim:
        """Take ``key`` for this run if it may be sent now (atomic).

        Returns the row as found when not granted, so the caller can say why.
        """
        if token not in _LIVE_TOKENS:
            raise LedgerError("claim() needs a token from start_run()")
        stamp = _ts(now)
        with self._tx() as conn:
            row = self._get_in(conn, key)
            if row is None or not self._claimable(row, now):
                return Claim(False, row)
            conn.execute(
                "UPDATE mail_messages SET state = ?, claim_token = ?, owner_host = ?, "
                "owner_pid = ?, owner_started = ?, claimed_at = ?, updated_at = ? WHERE key = ?",
                (CLAIMED, token, _HOST, os.getpid(), _SELF_STARTED, stamp, stamp, key),
            )
            self._event(conn, key, now, CLAIMED, f"claimed by pid {os.getpid()}")
            return Claim(True, self._get_in(conn, key))

    def _owned(
        self, conn: sqlite3.Connection, key: str, token: str, states: Sequence[str]
    ) -> LedgerRow:
        row = self._get_in(conn, key)
        if row is None or row.claim_token != token or row.state not in states:
            found = "missing" if row is None else f"{row.state}, claim {row.claim_token}"
            raise LedgerError(f"ledger row {key} is not held by this run ({found})")
        return row

    def mark_sending(self, key: str, token: str, now: datetime) -> None:
        """The message data is about to leave: from here a crash means ``unknown``."""
        with self._tx() as conn:
            self._owned(conn, key, token, (CLAIMED,))
            conn.execute(
                "UPDATE mail_messages SET state = ?, updated_at = ? WHERE key = ?",
                (SENDING, _ts(now), key),
            )
            self._event(conn, key, now, SENDING, "handing over")

    def mark_sent(self, key: str, token: str, now: datetime, detail: str = "") -> None:
        with self._tx() as conn:
            # ``unknown`` too: a slow run that did get its answer knows better.
            self._owned(conn, key, token, (SENDING, UNKNOWN))
            conn.execute(
                "UPDATE mail_messages SET state = ?, sent_at = ?, updated_at = ?, attempts = "
                "attempts + 1, last_error = '', next_attempt_at = NULL, claim_token = NULL "
                "WHERE key = ?",
                (SENT, _ts(now), _ts(now), key),
            )
            self._event(conn, key, now, SENT, detail or "accepted")

    def mark_failed(
        self, key: str, token: str, now: datetime, error: str, retry: RetryPolicy
    ) -> LedgerRow:
        """A temporary failure: retry after backoff, or give up after max attempts."""
        with self._tx() as conn:
            row = self._owned(conn, key, token, (CLAIMED, SENDING))
            self._failed_in(conn, row, now, error, retry)
            after = self._get_in(conn, key)
        assert after is not None
        return after

    def _failed_in(
        self,
        conn: sqlite3.Connection,
        row: LedgerRow,
        now: datetime,
        error: str,
        retry: RetryPolicy,
    ) -> None:
        attempts = row.attempts + 1
        if attempts >= retry.max_attempts:
            state, next_at = FAILED_PERMANENT, None
            error = f"gave up after {attempts} attempts: {error}"
        else:
            state, next_at = FAILED, _ts(now + retry.delay(attempts))
        conn.execute(
            "UPDATE mail_messages SET state = ?, attempts = ?, last_error = ?, "
            "next_attempt_at = ?, claim_token = NULL, updated_at = ? WHERE key = ?",
            (state, attempts, error, next_at, _ts(now), row.key),
        )
        self._event(conn, row.key, now, state, error)

    def mark_failed_permanent(self, key: str, token: str, now: datetime, error: str) -> None:
        with self._tx() as conn:
            self._owned(conn, key, token, (CLAIMED, SENDING))
            conn.execute(
                "UPDATE mail_messages SET state = ?, attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = NULL, claim_token = NULL, updated_at = ? WHERE key = ?",
                (FAILED_PERMANENT, error, _ts(now), key),
            )
            self._event(conn, key, now, FAILED_PERMANENT, error)

    def mark_unknown(
        self, key: str, token: str, now: datetime, error: str, retry: RetryPolicy
    ) -> LedgerRow:
        """The data was handed over without a final answer (see ``on_unknown``)."""
        with self._tx() as conn:
            row = self._owned(conn, key, token, (SENDING,))
            self._unknown_in(conn, row, now, error, retry)
            after = self._get_in(conn, key)
        assert after is not None
        return after

    def _unknown_in(
        self,
        conn: sqlite3.Connection,
        row: LedgerRow,
        now: datetime,
        error: str,
        retry: RetryPolicy,
    ) -> None:
        if row.on_unknown == "resend":
            self._failed_in(conn, row, now, f"outcome unknown, will resend: {error}", retry)
            return
        conn.execute(
            # The claim token stays: a slow run that does get its answer may still
            # record the message as sent (see mark_sent).
            "UPDATE mail_messages SET state = ?, attempts = attempts + 1, last_error = ?, "
            "next_attempt_at = NULL, updated_at = ? WHERE key = ?",
            (UNKNOWN, error, _ts(now), row.key),
        )
        self._event(conn, row.key, now, UNKNOWN, error)

    def release(self, key: str, token: str, now: datetime, error: str) -> None:
        """Give a claim back without counting an attempt (nothing was sent)."""
        with self._tx() as conn:
            row = self._owned(conn, key, token, (CLAIMED,))
            self._release_in(conn, row, now, error)

    def _release_in(
        self, conn: sqlite3.Connection, row: LedgerRow, now: datetime, error: str
    ) -> None:
        state = FAILED if row.attempts else PLANNED
        conn.execute(
            "UPDATE mail_messages SET state = ?, last_error = ?, claim_token = NULL, "
            "updated_at = ? WHERE key = ?",
            (state, error, _ts(now), row.key),
        )
        self._event(conn, row.key, now, state, error)

    def abandon(self, key: str, token: str, now: datetime, error: str) -> None:
        """A run is stopping abnormally while holding ``key``: release or mark unknown."""
        with self._tx() as conn:
            row = self._get_in(conn, key)
            if row is None or row.claim_token != token:
                return
            if row.state == CLAIMED:
                self._release_in(conn, row, now, error)
            elif row.state == SENDING:
                self._unknown_in(conn, row, now, error, self.retry)

    def record_sent_elsewhere(
        self,
        key: str,
        now: datetime,
        *,
        entry: PlanEntry | None = None,
        sent_at: datetime | None = None,
        detail: str,
    ) -> LedgerRow | None:
        """Record ``key`` as sent without sending it: another record shows that it
        went out (the Activity log, after the state that sent it was lost).

        A key the ledger does not know is inserted as sent with ``entry``'s
        content; an unsent one (planned, failed, refused, unknown, or claimed by a
        run that stopped) becomes sent. ``sent_at`` is when the other record says
        it went (None: unknown, so KPIs do not count it on any day). Returns the
        row now sent, or None where the ledger's own decision stands: the key is
        sent already, a live run holds it, or it is unknown and there is no entry.
        """
        with self._tx() as conn:
            row = self._get_in(conn, key)
            when = _ts(sent_at) if sent_at is not None else None
            if row is None:
                if entry is None:
                    return None
                stamp = _ts(now)
                conn.execute(
                    "INSERT INTO mail_messages (key, kind, job, recipients, subject, reference, "
                    "message_id, body_hash, message, on_unknown, state, created_at, updated_at, "
                    "sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.key,
                        entry.kind,
                        entry.job,
                        json.dumps(list(entry.recipients)),
                        entry.subject,
                        entry.reference,
                        entry.message_id,
                        entry.body_hash,
                        entry.message,
                        entry.on_unknown,
                        SENT,
                        stamp,
                        stamp,
                        when,
                    ),
                )
            elif row.state == SENT or (
                row.state in (CLAIMED, SENDING) and self.owner_alive(row, now)
            ):
                return None  # the ledger knows, or a live run is on it
            else:
                conn.execute(
                    "UPDATE mail_messages SET state = ?, sent_at = ?, updated_at = ?, "
                    "next_attempt_at = NULL, claim_token = NULL WHERE key = ?",
                    (SENT, when, _ts(now), key),
                )
            self._event(conn, key, now, SENT, detail)
            return self._get_in(conn, key)

    def review(self, key: str, decision: Literal["sent", "resend"], now: datetime) -> LedgerRow:
        """Settle an ``unknown`` or ``failed-permanent`` key.

        ``sent``: a person confirmed it arrived. ``resend``: it goes back to
        ``planned`` (attempts reset) and is sent again from the stored message,
        same Message-ID, by the caller or the job's next run.
        """
        if decision not in ("sent", "resend"):
            raise LedgerError(f"review decision must be 'sent' or 'resend', not {decision!r}")
        stamp = _ts(now)
        with self._tx() as conn:
            row = self._get_in(conn, key)
            if row is None:
                waiting = [r.key for r in self.awaiting_review()]
                hint = f"; waiting for review: {', '.join(waiting)}" if waiting else ""
                raise LedgerError(f"no message with key {key!r} in the ledger{hint}")
            if row.state not in REVIEW_STATES:
                raise LedgerError(
                    f"message {key} is {row.state}; only unknown or failed-permanent messages "
                    "are reviewed"
                )
            if decision == "sent":
                conn.execute(
                    "UPDATE mail_messages SET state = ?, sent_at = ?, review = ?, reviewed_at = ?, "
                    "updated_at = ? WHERE key = ?",
                    (SENT, stamp, "sent", stamp, stamp, key),
                )
                self._event(conn, key, now, SENT, "reviewed: confirmed as sent")
            else:
                conn.execute(
                    "UPDATE mail_messages SET state = ?, attempts = 0, next_attempt_at = NULL, "
                    "last_error = '', claim_token = NULL, review = ?, reviewed_at = ?, "
                    "updated_at = ? WHERE key = ?",
                    (PLANNED, "resend", stamp, stamp, key),
                )
                self._event(conn, key, now, PLANNED, "reviewed: resend requested")
            after = self._get_in(conn, key)
        assert after is not None
        return after
