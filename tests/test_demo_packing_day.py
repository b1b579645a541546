"""The demo on packing day (issue 22): Locations on Stock, an unpaid order and a
wrong postcode held, the Pick list tab and one packing slip per order due."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from pypdf import PdfReader

from ops_sheets.service.demo import DEMO_NOW, run_demo
from ops_sheets.service.demo_data import build_demo_workbook


def test_the_demo_holds_its_unpaid_and_misaddressed_orders_and_prints_pick_list_and_slips(
    tmp_path: Path,
) -> None:
    facts = build_demo_workbook(tmp_path / "facts.xlsx", DEMO_NOW)
    assert facts.unpaid_order_id and facts.wrong_postcode_order_id
    run_demo(tmp_path / "demo")
    wb = openpyxl.load_workbook(tmp_path / "demo" / "workbook.xlsx", read_only=True)
    orders = list(wb["Orders"].iter_rows(values_only=True))
    head = list(orders[0])
    ops = {r[0]: r[head.index("Ops status")] for r in orders[1:]}
    assert ops[facts.unpaid_order_id].startswith("HOLD: UNPAID")
    assert ops[facts.wrong_postcode_order_id].startswith("HOLD: ADDRESS")

    stock = list(wb["Stock"].iter_rows(values_only=True))
    assert "Location" in stock[0]
    assert all(r[stock[0].index("Location")] for r in stock[1:])

    pick = list(wb["Pick list"].iter_rows(values_only=True))
    assert pick[0] == ("Location", "SKU", "Product", "Qty", "Orders", "Ship by")
    listed = {o for r in pick[1:] for o in str(r[4]).split(", ")}
    assert listed and facts.unpaid_order_id not in listed
    assert facts.wrong_postcode_order_id not in listed

    slips = tmp_path / "demo" / "slips"
    assert sorted(p.stem for p in slips.glob("*.pdf")) == sorted(listed)
    some = sorted(listed)[0]
    text = PdfReader(slips / f"{some}.pdf").pages[0].extract_text()
    assert facts.shop_name in text and f"order {some}" in text
