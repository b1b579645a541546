from __future__ import annotations

from pathlib import Path

import pytest

from ops_sheets.config import iter_settings_docs, load_settings, settings_from_dict
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
