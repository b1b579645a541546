from __future__ import annotations

from pathlib import Path

from conftest import NOW

from ops_sheets.store.state import State


def test_sequences_start_above_numbers_typed_by_people_and_never_repeat(tmp_path: Path) -> None:
    state = State(tmp_path / "s.db")
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
