"""The cycle collector runs less often during a run, and as before after it."""

from __future__ import annotations

import gc

import pytest

from ops_sheets.service.gc_policy import RUN_THRESHOLDS, fewer_collections


def test_thresholds_are_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == RUN_THRESHOLDS
    assert gc.get_threshold() == before


def test_thresholds_are_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("job failed")
    assert gc.get_threshold() == before
