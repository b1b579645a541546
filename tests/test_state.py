from __future__ import annotations

from pathlib import Path

from conftest import NOW

from ops_sheets.store.location import StoreLocation
from ops_sheets.store.state import BIRTH, State


def test_sequences_start_above_numbers_typed_by_people_and_never_repeat(
    store_location: StoreLocation,
) -> None:
    state = State(store_location)
    assert state.next_in_sequence("rma-2026") == 1
    assert state.next_in_sequence("rma-2026", above=41) == 42
    assert state.next_in_sequence("rma-2026") == 43
    assert state.next_in_sequence("rma-2027") == 1


def test_a_dry_run_state_sees_its_own_changes_and_persists_none(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    real = State(path)
    real.put("ns", "a", {"n": 1})
    real.next_in_sequence("seq")
    real.close()
    before = path.read_bytes()
    dry = State.peek(path)
    dry.put("ns", "b", [1, 2])
    assert dry.items("ns") == {"a": {"n": 1}, "b": [1, 2]}
    assert dry.next_in_sequence("seq") == 2 and dry.next_in_sequence("seq") == 3
    assert dry.start_run("job", NOW, NOW) == 0
    dry.close()
    assert path.read_bytes() == before
    assert State(path).items("ns") == {"a": {"n": 1}}


def test_a_first_dry_run_creates_no_state_file(tmp_path: Path) -> None:
    dry = State.peek(tmp_path / "none.db")
    dry.put("ns", "k", 1)
    assert dry.get("ns", "k") == 1
    assert not (tmp_path / "none.db").exists()


def test_a_dry_run_state_persists_nothing_on_either_store(store_location: StoreLocation) -> None:
    real = State(store_location)
    real.put("ns", "a", {"n": 1})
    real.next_in_sequence("seq")
    real.close()
    dry = State.peek(store_location)
    dry.put("ns", "b", [1, 2])
    assert dry.items("ns") == {"a": {"n": 1}, "b": [1, 2]}
    assert dry.next_in_sequence("seq") == 2 and dry.next_in_sequence("seq") == 3
    assert dry.start_run("job", NOW, NOW) == 0
    dry.close()
    again = State(store_location)
    assert again.items("ns") == {"a": {"n": 1}}
    assert again.next_in_sequence("seq") == 2
    again.close()


def test_job_runs_are_recorded_and_read_back_newest_first(store_location: StoreLocation) -> None:
    state = State(store_location)
    first = state.start_run("stock", NOW, NOW)
    second = state.start_run("orders", NOW, NOW)
    state.finish_run(first, "ok", NOW, {"rows": 3})
    state.finish_run(second, "failed", NOW, error="boom")
    assert second > first
    assert [r.job for r in state.runs()] == ["orders", "stock"]
    last = state.last_run("stock", "ok")
    assert last is not None and last.counts == {"rows": 3} and last.started_at == NOW
    assert state.first_run_at() == NOW
    state.close()


def test_a_new_state_carries_its_birth_mark_on_either_store(store_location: StoreLocation) -> None:
    state = State(store_location)
    assert state.born_marked and state.get(*BIRTH)["version"] == 1
    state.close()
