"""The Weekly summary tab's charts: beside the key columns, markers on lines (issue 17)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ops_sheets.service.demo import run_demo


def test_weekly_charts_sit_under_the_key_columns_and_mark_each_week(tmp_path: Path) -> None:
    run_demo(tmp_path / "demo")
    with zipfile.ZipFile(tmp_path / "demo" / "workbook.xlsx") as z:
        drawings = [z.read(n) for n in z.namelist() if re.match(r"xl/drawings/drawing\d+\.xml$", n)]
        charts = [z.read(n) for n in z.namelist() if re.match(r"xl/charts/chart\d+\.xml$", n)]
    anchor = rb"<(?:xdr:)?from><(?:xdr:)?col>(\d+)<"
    columns = [int(c) for d in drawings for c in re.findall(anchor, d)]
    assert columns and max(columns) < 26  # not past the 39 data columns (AO)
    on_time = next(c for c in charts if b"on time" in c.lower())
    assert re.search(rb'<(?:c:)?symbol val="circle"\s*/>', on_time)
