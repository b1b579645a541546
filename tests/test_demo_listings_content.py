"""`ops-sheets demo` serves its shop's product pages itself and has a content plan
(issue 19): offline, on 127.0.0.1, two pages that lie and one overdue post."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from ops_sheets.service.demo import run_demo
from ops_sheets.service.demo_data import OVERDUE_POST, SHOWN_IN_STOCK_SKU


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "ops-demo"
    assert run_demo(folder) == 0
    return folder


def rows(folder: Path, tab: str) -> list[dict[str, object]]:
    ws = openpyxl.load_workbook(folder / "workbook.xlsx")[tab]
    values = list(ws.iter_rows(values_only=True))
    return [dict(zip(values[0], r, strict=False)) for r in values[1:]]


def test_the_demo_checks_its_product_pages_and_finds_the_two_that_lie(demo: Path) -> None:
    listings = {r["SKU"]: r for r in rows(demo, "Listings")}
    assert len(listings) == 5
    results = sorted(str(r["Result"]) for r in listings.values())
    assert results == ["IN STOCK BUT NONE AVAILABLE", "OK", "OK", "OK", "PRICE DIFFERS"]
    assert listings[SHOWN_IN_STOCK_SKU]["Page availability"] == "InStock"
    assert all(r["HTTP status"] == 200 for r in listings.values())
    alert = next((demo / "outbox").glob("alert_*.eml")).read_text(errors="replace")
    assert "Product page price differs" in alert
    assert "Product page in stock but none available" in alert


def test_the_demo_content_plan_has_one_overdue_post_and_one_reminder(demo: Path) -> None:
    plan = {r["Title"]: r["Ops status"] for r in rows(demo, "Content plan")}
    assert [t for t, s in plan.items() if str(s).startswith("OVERDUE")] == [OVERDUE_POST]
    assert plan[OVERDUE_POST] == "OVERDUE 4 DAYS"
    assert plan["Monday kitchen tip"] == "DUE TODAY"
    [reminder] = (demo / "outbox").glob("content_*.eml")
    assert "Gift_guide" in reminder.name
    today = [str(r["What to do"]) for r in rows(demo, "Today")]
    assert any(OVERDUE_POST in w for w in today)
