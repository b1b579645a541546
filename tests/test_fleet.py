"""`serve --shops` and `status --shops` (issue 21): many shops in one process, each
run in its own child with its own timeout; shops come and go without a restart;
slots claimed in the store with leases so that several processes share the work."""

from __future__ import annotations

import json
import shutil
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storefixtures import fresh_schema
from test_serve import HANG, QUICK, helper, make_config  # noqa: F401  (helper: a fixture)

from ops_sheets.config import load_settings
from ops_sheets.service.cli import main
from ops_sheets.service.fleet import Fleet, shop_configs
from ops_sheets.service.scheduler import StopRequest
from ops_sheets.store.leases import SlotLeases
from ops_sheets.store.location import StoreLocation, state_location
from ops_sheets.store.state import JobRun, State

T0 = datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)


def shop(root: Path, name: str, jobs: dict, files: dict, extra: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    config = make_config(folder, jobs, files)
    if extra:
        config.write_text(config.read_text() + extra, encoding="utf-8")
    return folder


def runs_of(folder: Path, job: str) -> list[JobRun]:
    settings = load_settings(folder / "config.toml")
    with closing(State(state_location(settings))) as state:
        return state.runs(job)


def fleet(root: Path, run, clock=lambda: T0, **kw) -> Fleet:  # type: ignore[no-untyped-def]
    return Fleet(root, run, clock=clock, wait=lambda _s: None, stop=StopRequest(), **kw)


def test_one_process_serves_every_shop_and_a_broken_or_hanging_one_holds_up_no_other(
    tmp_path: Path,
    helper,  # noqa: F811
) -> None:
    minute = {"schedule": "every minute"}
    quick = shop(tmp_path, "quick", {"check": minute}, {"check": QUICK})
    # 6 s: time enough for the other shop's whole run, were they not side by side
    hangs = shop(tmp_path, "hangs", {"check": {**minute, "timeout_minutes": 0.1}}, {"check": HANG})
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.toml").write_text("timezone = \n", encoding="utf-8")
    (tmp_path / "notes").mkdir()  # a folder without a config is not a shop

    f = fleet(tmp_path, helper.run_on_memory)
    try:
        f.tick()
        f.wait_idle()
    finally:
        f.shutdown()

    assert sorted(f.shops) == ["broken", "hangs", "quick"]
    assert "not valid TOML" in f.shops["broken"].error
    [ok] = runs_of(quick, "check")
    [hung] = runs_of(hangs, "check")
    assert ok.result == "ok" and hung.result == "failed" and "timed out" in hung.error
    # the quick shop's run was over before the hanging one was stopped at its timeout
    assert ok.finished_at is not None and hung.finished_at is not None
    assert ok.finished_at < hung.finished_at
    assert sorted((s, j, r) for s, j, _slot, r in f.runs) == [
        ("hangs", "check", "failed"),
        ("quick", "check", "ok"),
    ]


def test_new_and_removed_shop_folders_are_picked_up_without_a_restart(
    tmp_path: Path,
    helper,  # noqa: F811
) -> None:
    minute = {"schedule": "every minute"}
    first = shop(tmp_path, "first", {"check": minute}, {"check": QUICK})
    clock = [T0]
    f = fleet(tmp_path, helper.run_on_memory, clock=lambda: clock[0])
    try:
        f.tick()
        f.wait_idle()
        second = shop(tmp_path, "second", {"check": minute}, {"check": QUICK})
        shutil.rmtree(first)
        clock[0] = T0 + timedelta(minutes=1)
        f.tick()
        f.wait_idle()
    finally:
        f.shutdown()
    assert sorted(f.shops) == ["second"]
    assert [r.result for r in runs_of(second, "check")] == ["ok"]
    assert [(s, j) for s, j, _slot, _r in f.runs] == [("first", "check"), ("second", "check")]


def test_two_processes_sharing_one_postgresql_run_each_slot_once(
    tmp_path: Path,
    helper,  # noqa: F811
    pg_url: str,
) -> None:
    schema = fresh_schema("fleet")
    state = f'url = "{pg_url}"\nschema = "{schema}"\n'
    minute = {"schedule": "every minute"}
    # the [state] section is the config's first table: append its keys right after it
    folder = shop(tmp_path, "pg", {"check": minute, "returns": minute}, {"check": QUICK})
    config = folder / "config.toml"
    config.write_text(
        config.read_text().replace('path = "state.db"\n', 'path = "state.db"\n' + state)
    )
    clock = [T0]
    workers = [fleet(tmp_path, helper.run_on_memory, clock=lambda: clock[0]) for _ in range(2)]
    try:
        for minute_ahead in range(3):
            clock[0] = T0 + timedelta(minutes=minute_ahead)
            for w in workers:
                w.tick()
            for w in workers:
                w.wait_idle()
    finally:
        for w in workers:
            w.shutdown()
    done = sorted((j, slot) for w in workers for _s, j, slot, _r in w.runs)
    assert len(done) == len(set(done)) == 6  # 2 jobs x 3 slots, each run once in all
    assert len(runs_of(folder, "check")) == 3 and len(runs_of(folder, "returns")) == 3


def test_slot_leases_grant_once_and_are_taken_over_only_after_they_expire(
    store_location: StoreLocation,
) -> None:
    slot = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    lease = timedelta(minutes=10)
    with SlotLeases(store_location) as leases:
        assert leases.claim("stock", slot, "a", T0, lease) == "granted"
        assert leases.claim("stock", slot, "b", T0 + timedelta(minutes=9), lease) == "held"
        # a's process died without finishing: once its lease runs out, b takes over
        assert leases.claim("stock", slot, "b", T0 + timedelta(minutes=11), lease) == "taken_over"
        assert not leases.finish("stock", slot, "a", T0, "ok")  # a lost it
        assert leases.finish("stock", slot, "b", T0 + timedelta(minutes=12), "ok")
        assert leases.claim("stock", slot, "c", T0 + timedelta(hours=5), lease) == "finished"
        assert leases.claim("orders", slot, "c", T0, lease) == "granted"  # per job


def test_status_shops_prints_one_line_per_shop_and_json(
    tmp_path: Path,
    helper,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    minute = {"schedule": "every minute"}
    shop(tmp_path, "alpha", {"check": minute}, {"check": QUICK})
    shop(tmp_path, "beta", {"check": {**minute, "timeout_minutes": 0.03}}, {"check": HANG})
    (tmp_path / "gamma").mkdir()
    (tmp_path / "gamma" / "config.toml").write_text("[state\n", encoding="utf-8")
    f = fleet(tmp_path, helper.run_on_memory)
    try:
        f.tick()
        f.wait_idle()
    finally:
        f.shutdown()
    capsys.readouterr()

    code = main(["status", "--shops", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1  # a shop failing or unreadable
    assert len(lines) == 3
    alpha, beta, gamma = lines
    assert alpha.startswith("alpha") and "check ok" in alpha and "0 failing" in alpha
    assert "0 awaiting review" in alpha and "next check" in alpha
    assert "check failed" in beta and "1 failing (check)" in beta
    assert gamma.startswith("gamma") and "CANNOT READ" in gamma

    main(["status", "--shops", str(tmp_path), "--json"])
    shops = json.loads(capsys.readouterr().out)
    assert [s["shop"] for s in shops] == ["alpha", "beta", "gamma"]
    assert shops[0]["last_runs"]["check"]["result"] == "ok"
    assert shops[1]["failures"] == ["check"] and shops[0]["awaiting_review"] == 0
    assert shops[2]["error"]
    assert list(shop_configs(tmp_path)) == ["alpha", "beta", "gamma"]
