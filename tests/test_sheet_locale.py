"""A Google spreadsheet parses typed dates by its own locale: `check` says when
`day_first` contradicts it (issue 15: a UK 02/11/2026 read as 11 February)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, small_shop

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.domain.calendar import day_first_disagreement, locale_day_first
from ops_sheets.service.runner import JobResult, run_job
from ops_sheets.sheet.tables import Problem


@pytest.mark.parametrize(
    ("locale", "day_first"),
    [("en_US", False), ("en_PH", False), ("en_GB", True), ("de_DE", True), ("fr-FR", True)],
)
def test_a_locale_implies_how_dates_are_typed(locale: str, day_first: bool) -> None:
    assert locale_day_first(locale) is day_first


@pytest.mark.parametrize("locale", ["ja_JP", "zh_CN", "sv_SE", ""])
def test_year_first_or_unknown_locales_contradict_nothing(locale: str) -> None:
    assert locale_day_first(locale) is None
    assert day_first_disagreement(True, locale) is None
    assert day_first_disagreement(False, locale) is None


def test_the_disagreement_says_what_each_side_reads() -> None:
    text = day_first_disagreement(True, "en_US")
    assert text is not None and "en_US" in text and "March 4" in text and "3 April" in text
    assert day_first_disagreement(False, "en_US") is None


def _google_shop(tmp_path: Path, emulator: Any, locale: str, day_first: bool) -> Settings:
    sheet_id = emulator.create_spreadsheet(title="shop", sheets=small_shop(), locale=locale)
    return settings_from_dict(
        {
            "timezone": "Europe/London",
            "day_first": day_first,
            "workbook": {"backend": "google", "spreadsheet_id": sheet_id},
            "mail": {"transport": "outbox", "outbox_dir": "outbox"},
            "state": {"path": "state.db"},
        },
        base_dir=tmp_path,
        source=str(tmp_path / "config.toml"),
    )


def _check(settings: Settings, emulator: Any, now: datetime = NOW) -> JobResult:
    emulator.reset_counts()
    return run_job("check", settings, now)


def test_check_on_a_us_spreadsheet_with_uk_dates_is_a_problem(
    tmp_path: Path, sheets_emulator: Any
) -> None:
    result = _check(_google_shop(tmp_path, sheets_emulator, "en_US", True), sheets_emulator)
    found = [p for p in result.problems if p.column == "day_first"]
    assert len(found) == 1
    assert found[0].tab == "config.toml" and "en_US" in found[0].problem
    assert "day_first = false" in found[0].fix
    assert sheets_emulator.count() <= 4


def test_check_on_a_spreadsheet_in_the_shops_own_locale_is_quiet(
    tmp_path: Path, sheets_emulator: Any
) -> None:
    result = _check(_google_shop(tmp_path, sheets_emulator, "en_GB", True), sheets_emulator)
    assert not [p for p in result.problems if p.column == "day_first"]


def test_the_locale_is_fetched_once_a_week_not_every_run(
    tmp_path: Path, sheets_emulator: Any
) -> None:
    settings = _google_shop(tmp_path, sheets_emulator, "en_US", True)

    def disagreement(now: datetime) -> list[Problem]:
        return [
            p for p in _check(settings, sheets_emulator, now).problems if p.column == "day_first"
        ]

    assert disagreement(NOW)
    # the team switches the spreadsheet to en_GB: the state's copy holds for a week
    sheet_id = settings.workbook.spreadsheet_id
    sheets_emulator.spreadsheet(sheet_id).properties["locale"] = "en_GB"
    assert disagreement(NOW + timedelta(days=1))
    assert not disagreement(NOW + timedelta(days=8))
