"""The PostgreSQL store end to end (issue 21): real jobs on a shop whose `[state] url`
points at a real PostgreSQL server, and `ops-sheets state migrate` moving a SQLite
state there without losing a key."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from backends import _xlsx_write
from conftest import small_shop
from mailfixtures import NOW
from storefixtures import fresh_schema

from ops_sheets.config import load_settings
from ops_sheets.service.cli import main
from ops_sheets.store.ledger import Ledger, PlanEntry, RetryPolicy
from ops_sheets.store.location import PostgresLocation, state_location
from ops_sheets.store.state import State

RUN_NOW = "2026-11-23T09:00"
CONFIG = """\
timezone = "Europe/London"
[workbook]
backend = "xlsx"
path = "workbook.xlsx"
[mail]
transport = "outbox"
outbox_dir = "outbox"
manager = "manager@example.com"
[state]
path = "state.db"
"""


def shop(tmp_path: Path, extra_state: str = "") -> Path:
    folder = tmp_path / "shop"
    folder.mkdir(exist_ok=True)
    (folder / "config.toml").write_text(CONFIG + extra_state, encoding="utf-8")
    _xlsx_write(folder / "workbook.xlsx", small_shop())
    return folder


def run_all(folder: Path) -> int:
    return main(["run", "all", "--config", str(folder / "config.toml"), "--now", RUN_NOW])


def outbox(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "outbox").rglob("*.eml"))


def message_ids(folder: Path) -> list[str]:
    """The Message-ID of every message in the outbox (a resend would repeat one)."""
    from email import message_from_bytes

    return [
        str(message_from_bytes(p.read_bytes())["Message-ID"])
        for p in (folder / "outbox").rglob("*.eml")
    ]


def entry(key: str) -> PlanEntry:
    return PlanEntry(
        key=key,
        kind="purchase_order",
        job="elsewhere",  # no job of the shop sends these from the ledger
        recipients=("orders@acme.example.com",),
        subject=f"Purchase order {key}",
        reference=key,
        message_id=f"<{key}@shop.example.com>",
        body_hash="h-" + key,
        message=f"Subject: {key}\r\n\r\nbody \u00e9\r\n".encode(),
    )


def dump(conn: sqlite3.Connection | object, table: str) -> list[str]:
    rows = conn.execute(f"SELECT * FROM {table}").fetchall()  # type: ignore[attr-defined]
    return sorted(
        repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)) for r in rows
    )


def test_jobs_on_a_postgresql_state_record_runs_and_send_each_mail_once(
    tmp_path: Path, pg_url: str
) -> None:
    schema = fresh_schema("shop")
    folder = shop(tmp_path, f'url = "{pg_url}"\nschema = "{schema}"\n')

    assert run_all(folder) in (0, 1)
    first = outbox(folder)
    assert run_all(folder) in (0, 1)

    assert outbox(folder) == first  # nothing sent twice
    assert not (folder / "state.db").exists()  # the state lives in PostgreSQL
    settings = load_settings(folder / "config.toml")
    location = state_location(settings)
    assert location == PostgresLocation(pg_url, schema)
    with Ledger(location) as ledger:
        assert all(r.state == "sent" for r in ledger.recent(100))
        assert len([r for r in ledger.recent(100) if r.state == "sent"]) == len(first)
    state = State(location)
    assert {r.job for r in state.runs()} >= {"stock", "orders"}
    state.close()


def test_a_dry_run_on_postgresql_changes_no_row(tmp_path: Path, pg_url: str) -> None:
    schema = fresh_schema("shop")
    folder = shop(tmp_path, f'url = "{pg_url}"\nschema = "{schema}"\n')
    location = PostgresLocation(pg_url, schema)
    State(location).close()  # the schema exists, empty
    code = main(
        ["run", "all", "--config", str(folder / "config.toml"), "--now", RUN_NOW, "--dry-run"]
    )
    assert code in (0, 1)
    with Ledger(location) as ledger:
        assert ledger.recent(100) == []
    state = State(location)
    assert state.runs() == []
    state.close()


def test_state_migrate_moves_every_key_state_and_sent_record_into_postgresql(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = shop(tmp_path)
    assert run_all(folder) in (0, 1)  # real runs: sent mail, job runs, the birth mark
    sent_before = outbox(folder)
    db = folder / "state.db"
    with Ledger(db) as ledger:  # and a key in every other state a ledger can hold
        ledger.plan([entry(k) for k in ("po:P", "po:F", "po:U", "po:X", "po:C")], NOW)
        token = ledger.start_run()
        for key in ("po:F", "po:U", "po:X", "po:C"):
            assert ledger.claim(key, token, NOW).granted
        ledger.mark_failed("po:F", token, NOW, "421 busy", RetryPolicy())
        ledger.mark_sending("po:U", token, NOW)
        ledger.mark_unknown("po:U", token, NOW, "timeout after DATA", RetryPolicy())
        ledger.mark_failed_permanent("po:X", token, NOW, "550 no such user")
        ledger.finish_run(token)  # po:C stays claimed by a run that has gone
    State(db).next_in_sequence("rma-2026", above=41)
    src = sqlite3.connect(db)
    before = {
        t: dump(src, t) for t in ("mail_messages", "mail_events", "job_runs", "kv", "sequences")
    }
    src.close()
    assert len(before["mail_messages"]) >= 5

    schema = fresh_schema("moved")
    code = main(
        [
            "state",
            "migrate",
            "--to",
            pg_url,
            "--schema",
            schema,
            "--config",
            str(folder / "config.toml"),
        ]
    )

    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "every row read back equal" in out and f'schema = "{schema}"' in out
    location = PostgresLocation(pg_url, schema)
    with Ledger(location) as ledger:
        pg = ledger._conn
        after = {t: dump(pg, t) for t in before}
        assert after == before  # every key, state, stored message, event, run, value
        # the moved ledger behaves as the old one: the dead claim is taken over, the
        # failed key waits for its backoff, sent keys are never sent again
        token = ledger.start_run()
        assert ledger.claim("po:C", token, NOW).granted
        assert not ledger.claim("po:F", token, NOW).granted
        assert ledger.claim("po:F", token, NOW + timedelta(hours=1)).granted
        ledger.finish_run(token)
    assert State(location).next_in_sequence("rma-2026") == 43

    # the shop switched to PostgreSQL sends nothing it had sent from SQLite (the
    # monitor may alert about the keys that wait for review: new messages)
    (folder / "config.toml").write_text(
        CONFIG + f'url = "{pg_url}"\nschema = "{schema}"\n', encoding="utf-8"
    )
    assert run_all(folder) in (0, 1)
    ids = message_ids(folder)
    assert len(ids) == len(set(ids)) and set(sent_before) <= set(outbox(folder))


def test_state_migrate_never_merges_into_a_schema_that_holds_a_state(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = shop(tmp_path)
    assert run_all(folder) in (0, 1)
    schema = fresh_schema("busy")
    state = State(PostgresLocation(pg_url, schema))
    state.start_run("stock", NOW, NOW)
    state.close()

    code = main(
        [
            "state",
            "migrate",
            "--to",
            pg_url,
            "--schema",
            schema,
            "--config",
            str(folder / "config.toml"),
        ]
    )

    assert code == 2
    assert "already holds a state" in capsys.readouterr().err
    state = State(PostgresLocation(pg_url, schema))
    assert len(state.runs()) == 1
    state.close()
