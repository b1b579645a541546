from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops_sheets.config import (
    Range,
    Settings,
    config_warnings,
    iter_settings_docs,
    load_settings,
    settings_from_dict,
)
from ops_sheets.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_give_an_xlsx_workbook_and_an_outbox(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, 'timezone = "Europe/London"\n'))
    assert s.workbook.backend == "xlsx"
    assert s.mail.transport == "outbox"
    assert s.resolve(s.workbook.path) == tmp_path / "workbook.xlsx"
    assert s.jobs.stock.lookback_days == 56


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour = 1", "top level colour: unknown key; valid keys here:"),
        ("[workbook]\nbackend = 'excel'", '[workbook] backend: expected one of "xlsx", "google"'),
        (
            "[jobs.stock]\nlookback_days = 'eight weeks'",
            '[jobs.stock] lookback_days: expected a whole number, got "eight weeks"',
        ),
        ("[jobs.stock]\nlookback = 5", "[jobs.stock] lookback: unknown key; valid keys here:"),
        ("[mail.smtp]\nport = true", "[mail.smtp] port: expected a whole number, got true"),
        ("timezone = 'Mars/Olympus'", 'timezone: "Mars/Olympus" is not an IANA time zone'),
        ("[workbook]\nbackend = 'google'", "spreadsheet_id: required when backend"),
        ("[tabs.stok]\nname = 'x'", "[tabs.stok]: unknown tab; valid:"),
        ("[tabs.stock]\ncolumns = { skew = 'Item' }", "unknown column 'skew'"),
        ("workbook = 3", "[workbook]: expected a section, got 3"),
        ("[tabs.problems]\nname = 'stock'", "'stock' is already the name of the stock tab"),
        (
            "[tabs.orders]\ncolumns = { problems = 'Customer' }",
            "'Customer' would be both customer and problems",
        ),
        ("x = [", "not valid TOML"),
        # values of the right type that no job can use (issue 12, break 5)
        ("[jobs.stock]\nservice_level_a = nan", "service_level_a: nan is not a usable number"),
        ("[jobs.stock]\nreview_days = inf", "review_days: inf is not a usable number; valid:"),
        (
            "[jobs.stock]\nservice_level_a = 1.0",
            "service_level_a: 1.0 is out of range; valid: a number at least 0.5 and below 1",
        ),
        (
            "[mail]\nmax_attempts = -3",
            "[mail] max_attempts: -3 is out of range; valid: a whole number from 1 to 100",
        ),
        (
            "[jobs.orders]\norder_cutoff = '2pm'",
            '[jobs.orders] order_cutoff: "2pm" is not a time of day; valid: 24-hour HH:MM',
        ),
        ("[mail.smtp]\nport = 0", "port: 0 is out of range; valid: a whole number from 1 to"),
        ("[jobs.orders]\nbusiness_days = 'Mon-Fry'", "business_days: 'fry' is not a day name"),
        ("[jobs.monitor]\nquiet_days = ''", "quiet_days: no days given; valid: English day"),
        ("[jobs.monitor]\nbusiness_hours = '17:00-09:00'", 'business_hours: "17:00-09:00" is'),
        ("[jobs.orders]\nholidays = ['25/12/2026']", 'holidays: "25/12/2026" is not a date'),
        ("[jobs.orders]\nholidays_country = 'XX'", 'holidays_country: "XX" is not a country'),
        (
            "[jobs.orders]\nholidays_country = 'GB'\nholidays_subdivision = 'Kent'",
            'holidays_subdivision: "Kent" is not a region of GB; valid: ENG, NIR, SCT, WLS',
        ),
        ("[jobs.orders]\nholidays_subdivision = 'ENG'", '"ENG" needs holidays_country'),
        ("currency = '£'", 'currency: "£" is not a currency code; valid: three letters'),
        ("[mail]\nmanager = 'boss'", "[mail] manager: the address 'boss' is not a valid"),
        ("[serve]\nheartbeat_url = 'hc-ping.com/x'", "heartbeat_url: 'hc-ping.com/x' is not"),
    ],
)
def test_config_mistakes_are_one_line_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    message = str(err.value)
    assert expected in message
    assert "\n" not in message
    assert message.split(": ")[0].endswith("config.toml")


def test_missing_config_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found.*ops-sheets demo"):
        load_settings(tmp_path / "nope.toml")


def test_tab_renames_are_accepted() -> None:
    s = settings_from_dict(
        {"tabs": {"stock": {"name": "Inventory", "columns": {"sku": "Item code"}}}}
    )
    assert s.tabs["stock"].name == "Inventory"
    assert s.tabs["stock"].columns == {"sku": "Item code"}


def test_example_config_loads_and_documents_every_key() -> None:
    example = REPO / "config.example.toml"
    s = load_settings(example)
    assert s.timezone
    text = example.read_text(encoding="utf-8")
    undocumented = [path for path, _ in iter_settings_docs() if path.rsplit(".", 1)[-1] not in text]
    assert undocumented == []


def number_settings(cls: type = Settings, section: str = "") -> Iterator[tuple[str, str, Any]]:
    """(section, key, field) of every int and float setting, however deep."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from number_settings(tp, f"{section}.{f.name}" if section else f.name)
        elif tp in (int, float) and not f.metadata.get("internal"):
            yield section, f.name, f


NUMBER_SETTINGS = list(number_settings())


def test_the_walk_finds_the_number_settings() -> None:
    found = {f"{section}.{key}" for section, key, _ in NUMBER_SETTINGS}
    assert {"jobs.stock.service_level_a", "mail.max_attempts", "serve.catch_up_hours"} <= found
    assert len(found) > 30


@pytest.mark.parametrize(
    ("section", "key", "setting"), NUMBER_SETTINGS, ids=[f"{s}.{k}" for s, k, _ in NUMBER_SETTINGS]
)
def test_every_number_setting_has_a_range_and_refuses_nan_and_inf(
    tmp_path: Path, section: str, key: str, setting: dataclasses.Field[Any]
) -> None:
    within = setting.metadata.get("within")
    assert isinstance(within, Range), "declare within=Range(...) next to the setting"
    assert setting.default in within
    for value in ("nan", "inf", "-inf", "+inf"):
        with pytest.raises(ConfigError) as err:
            load_settings(write(tmp_path, f"[{section}]\n{key} = {value}\n"))
        message = str(err.value)
        assert f"[{section}] {key}: " in message, message
        assert "valid: " in message or "expected a whole number" in message, message
        assert "\n" not in message
    # just outside the range is refused, just inside accepted
    for bound, is_open, step in (
        (within.low, within.low_open, -1),
        (within.high, within.high_open, 1),
    ):
        if bound is None:
            continue
        outside = bound if is_open else bound + step * (1 if setting.type == "int" else 0.001)
        text = f"[{section}]\n{key} = {outside!r}\n"
        if setting.type == "int":
            text = f"[{section}]\n{key} = {int(outside)}\n"
        with pytest.raises(ConfigError, match=f"{key}: .* is out of range; valid: "):
            load_settings(write(tmp_path, text))


def test_every_default_written_out_passes_its_own_checks(tmp_path: Path) -> None:
    """The example config (every key at its default) loads: no check refuses a default."""
    s = load_settings(Path(__file__).resolve().parents[1] / "config.example.toml")
    assert s == dataclasses.replace(Settings(), base_dir=s.base_dir, source=s.source)


def test_a_new_number_setting_without_a_range_is_refused_at_import() -> None:
    from ops_sheets.config import _setting

    with pytest.raises(TypeError, match="needs within=Range"):
        _setting(3, "a number with no range")
    with pytest.raises(TypeError, match="outside its range"):
        _setting(0, "a count", within=Range(1, 10))


@pytest.mark.parametrize(
    ("within", "whole", "text"),
    [
        (Range(1, 100), True, "a whole number from 1 to 100"),
        (Range(0, 365, low_open=True), False, "a number above 0 and at most 365"),
        (Range(0.5, 1, high_open=True), False, "a number at least 0.5 and below 1"),
        (Range(0), False, "a number at least 0"),
    ],
)
def test_ranges_describe_themselves(within: Range, whole: bool, text: str) -> None:
    assert within.describe(whole) == text


def test_gb_holidays_without_a_region_warn_and_say_which_key_to_set() -> None:
    gb = settings_from_dict({"jobs": {"orders": {"holidays_country": "GB"}}}, source="shop.toml")
    [warning] = config_warnings(gb, 2026)
    assert warning.startswith('shop.toml: [jobs.orders] holidays_country = "GB" without ')
    assert "Easter Monday" in warning and "Late Summer Bank Holiday" in warning
    assert "set holidays_subdivision to the warehouse's region: ENG, NIR, SCT, WLS" in warning
    assert "\n" not in warning
    england = settings_from_dict(
        {"jobs": {"orders": {"holidays_country": "GB", "holidays_subdivision": "ENG"}}}
    )
    assert config_warnings(england, 2026) == []
    # a country whose regions all keep the same days, and no country at all: nothing to say
    assert (
        config_warnings(settings_from_dict({"jobs": {"orders": {"holidays_country": "NL"}}}), 2026)
        == []
    )
    assert config_warnings(settings_from_dict({}), 2026) == []
