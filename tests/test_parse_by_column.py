"""Parsing whole columns at once reads every cell as the cell-by-cell parser did.

The golden file (tests/data/parsing/golden.json) was written by the cell-by-cell
``parse_table`` before it was rewritten to parse by column (issue 14): for every
team tab, a grid of awkward cells of every kind (numbers typed as text, decimal
commas, TRUE/FALSE, serial dates, text dates either way round, impossible dates,
dates out of range, DST-ambiguous times, blank and duplicate keys, whitespace),
its Problems rows in order and every parsed value. A change that alters what a
cell means, or a Problems row, shows here.

Regenerate (only for an intended change of meaning, and say so in the commit):
``python -m tests.test_parse_by_column --regenerate``.
"""

from __future__ import annotations

import json
import math
import random
import sys
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from ops_sheets.sheet.cells import Cell, Grid
from ops_sheets.sheet.tables import TAB_SPECS, TEAM_TABS, Table, parse_table

GOLDEN = Path(__file__).parent / "data" / "parsing" / "golden.json"
TZ = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
ROWS = 60

AWKWARD: dict[str, list[Cell]] = {
    "text": [None, "", "  ", " Anna ", "x", 12.0, 12.5, 7, True, "=1+1", "Ünïcode"],
    "number": [
        None,
        "",
        " ",
        3,
        0,
        -2,
        1.5,
        12.0,
        "12",
        " 12.5 ",
        "1,234.50",
        "12,5",
        "£12",
        "-£3",
        "€1 000",
        "abc",
        True,
        False,
        1e12,
        -1e10,
        float("nan"),
        float("inf"),
        "1e3",
        ".5",
        "+4",
        date(2026, 1, 1),
        datetime(2026, 1, 1, 12),
        time(9, 0),
    ],
    "bool": [None, "", "yes", "No", "✓", "x", "TRUE", "off", "maybe", True, False, 0, 1, 2, 1.0],
    "date": [
        None,
        "",
        "2026-11-26",
        "26/11/2026",
        "11/26/2026",
        "31/02/2026",
        "2026-11-26T14:30",
        "2026-11-26 14:30+01:00",
        "2026-11-26T14:30:00Z",
        "26.11.2026 14:30",
        "26-11-2026",
        46000,
        46000.5,
        46000.999999,
        "46000.25",
        1e6,
        -5,
        True,
        "tomorrow",
        "1999-12-31",
        "2000-01-01",
        "2028-11-23",
        "2028-11-24",
        "9999-12-31",
        datetime(2026, 10, 25, 1, 30),
        datetime(2026, 3, 29, 1, 30),
        datetime(2026, 11, 26, 14, 30, tzinfo=ZoneInfo("UTC")),
        date(2026, 11, 26),
        datetime(1926, 11, 26),
        "2026-10-25 01:30",
        "29/03/2026 01:30",
        46320.0625,
        45955.0625,
        45745.0625,
        "3/4/2026",
        time(8, 0),
    ],
    "time": [
        None,
        "",
        "14:00",
        "9.30",
        "25:00",
        "14:30:59",
        0.5,
        0.999,
        1.5,
        time(16, 0),
        datetime(2026, 1, 1, 17, 15),
        "noon",
        14,
    ],
    "key": [
        None,
        "",
        " ",
        "SKU-1",
        "SKU-1",
        " SKU-2 ",
        "sku-1",
        123,
        123.0,
        123.5,
        "00123",
        True,
        datetime(2026, 1, 1),
        "A/B",
        "x" * 3,
    ],
}


def _values_for(kind: str, choices: tuple[str, ...]) -> list[Cell]:
    if kind == "enum":
        words = [*choices, *(c.lower().replace(" ", "_") for c in choices)]
        return [None, "", "bogus", " in-transit ", *words]
    if kind == "datetime":
        return AWKWARD["date"]
    if kind in ("int",):
        return AWKWARD["number"]
    return AWKWARD.get(kind, AWKWARD["text"])


def awkward_grid(tab_key: str, seed: int) -> Grid:
    """A tab of ROWS rows under its standard headers, every cell drawn from its kind's list."""
    spec = TAB_SPECS[tab_key]
    rng = random.Random(f"{tab_key}-{seed}")
    # the wave-1 columns the golden was written with; optional ones read as absent
    columns = [c for c in spec.columns if not c.optional]
    header: list[Cell] = [c.header for c in columns]
    header.append("Team notes")  # a column the spec does not know is carried along
    rows: list[list[Cell]] = [header]
    for r in range(ROWS):
        if r % 17 == 5:
            rows.append([])  # blank rows are not data
            continue
        row: list[Cell] = []
        for c in columns:
            values = _values_for(c.kind, c.choices)
            if c.key in spec.key_columns and rng.random() < 0.8:
                row.append(f"K{rng.randrange(ROWS)}")  # mostly real keys, some repeats
            else:
                row.append(rng.choice(values))
        row.append(rng.choice(AWKWARD["text"]))
        if r % 11 == 3:
            del row[rng.randrange(len(row) + 1) :]  # a short row: the rest reads blank
        rows.append(row)
    return Grid(spec.title, rows)


def _show(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "None"
    if isinstance(value, float) and math.isnan(value):
        return "None"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return f"{type(value).__name__}:{value!r}"


def describe(table: Table) -> dict[str, object]:
    frame = table.all_rows
    return {
        "problems": [list(map(str, p.as_row("job", NOW).values())) for p in table.problems],
        "columns": {
            str(name): [str(frame[name].dtype), [_show(v) for v in frame[name].tolist()]]
            for name in frame.columns
        },
        "usable_rows": [int(r) for r in table.frame["_row"].tolist()],
    }


def parsed_now() -> dict[str, object]:
    out: dict[str, object] = {}
    for tab_key in TEAM_TABS:
        for day_first in (True, False):
            grid = awkward_grid(tab_key, 1 if day_first else 2)
            table = parse_table(TAB_SPECS[tab_key], grid, TZ, day_first=day_first, now=NOW)
            out[f"{tab_key} day_first={day_first}"] = describe(table)
    return out


def test_every_awkward_cell_reads_as_the_cell_by_cell_parser_read_it() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = json.loads(json.dumps(parsed_now()))
    assert set(now) == set(golden)
    for name in golden:
        want, got = golden[name], now[name]
        assert got["problems"] == want["problems"], name
        assert got["usable_rows"] == want["usable_rows"], name
        assert set(got["columns"]) == set(want["columns"]), name
        for column, (dtype, values) in want["columns"].items():
            assert got["columns"][column][0] == dtype, (name, column)
            for i, (a, b) in enumerate(zip(got["columns"][column][1], values, strict=True)):
                assert a == b, (name, column, i)


@pytest.mark.parametrize("tab_key", TEAM_TABS)
def test_the_golden_grids_hold_problems_of_every_kind(tab_key: str) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert golden[f"{tab_key} day_first=True"]["problems"], "the grid exercises no problem"


if __name__ == "__main__" and "--regenerate" in sys.argv:
    GOLDEN.write_text(
        json.dumps(parsed_now(), sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    print(f"wrote {GOLDEN}")
