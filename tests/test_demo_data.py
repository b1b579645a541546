"""The demo workbook: deterministic, believable, and wrong exactly where it says."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from ops_sheets.config import load_settings
from ops_sheets.domain.validation import validate
from ops_sheets.service.demo_data import (
    FORMULA_CUSTOMER,
    UNKNOWN_SKU,
    DemoFacts,
    build_demo_workbook,
    write_demo_config,
)
from ops_sheets.sheet.tables import (
    ORDER_STATUSES,
    RETURN_STATUSES,
    TAB_SPECS,
    TEAM_TABS,
    CellError,
    parse_datetime,
    parse_number,
    parse_table,
)
from ops_sheets.sheet.workbook.base import Grid

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
LOCAL_NOW = NOW.replace(tzinfo=None)  # the sheet holds naive local times

Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoFacts]:
    path = tmp_path_factory.mktemp("demo") / "workbook.xlsx"
    return path, build_demo_workbook(path, NOW)


@pytest.fixture(scope="module")
def facts(demo: tuple[Path, DemoFacts]) -> DemoFacts:
    return demo[1]


@pytest.fixture(scope="module")
def book(demo: tuple[Path, DemoFacts]) -> dict[str, Rows]:
    """Every tab as a list of {header: value}, the first dict being sheet row 2."""
    wb = openpyxl.load_workbook(demo[0])
    out: dict[str, Rows] = {}
    for ws in wb.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        out[ws.title] = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    return out


def _row(book: dict[str, Rows], tab: str, row: int) -> dict[str, Any]:
    return book[tab][row - 2]


def _values_digest(path: Path) -> str:
    digest = hashlib.sha256()
    wb = openpyxl.load_workbook(path, read_only=True)
    for ws in wb.worksheets:
        digest.update(ws.title.encode())
        for row in ws.iter_rows(values_only=True):
            digest.update(repr(row).encode())
    wb.close()
    return digest.hexdigest()


# ---------------------------------------------------------------- shape and determinism


def test_tabs_headers_and_formats(demo: tuple[Path, DemoFacts]) -> None:
    wb = openpyxl.load_workbook(demo[0])
    assert wb.sheetnames == [
        *(TAB_SPECS[k].title for k in TEAM_TABS),
        "Kits",
        "Complaints",
        "Content plan",
    ]
    # wave 2's optional columns only where the demo fills them
    used = {
        "purchase_orders": ["Qty received"],
        "forwarders": ["Tracking URL"],
        # packing day (issue 22): bins for the Pick list, an unpaid order
        "stock": ["Location"],
        "orders": ["Payment"],
    }
    for key in (*TEAM_TABS, "kits", "complaints", "content_plan"):
        spec = TAB_SPECS[key]
        ws = wb[spec.title]
        team = [c.header for c in spec.columns if c.owner == "team" and not c.optional]
        team += used.get(key, [])
        assert [c.value for c in ws[1]] == team  # team columns only, in spec order
        assert all(c.font.bold for c in ws[1])
        assert ws.freeze_panes == "A2"
    orders = wb["Orders"]
    header = [c.value for c in orders[1]]
    row2 = orders[2]
    assert row2[header.index("Order date")].number_format == "yyyy-mm-dd hh:mm"
    assert row2[header.index("Unit price")].number_format == "#,##0.00"
    assert orders.column_dimensions["A"].width >= len("SO-10001")


def test_same_seed_same_workbook_other_seed_other_data(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.xlsx", tmp_path / "b.xlsx", tmp_path / "c.xlsx"
    facts_a = build_demo_workbook(a, NOW, seed=7)
    facts_b = build_demo_workbook(b, NOW, seed=7)
    build_demo_workbook(c, NOW, seed=8)
    assert _values_digest(a) == _values_digest(b)
    assert a.read_bytes() == b.read_bytes()  # no save time leaks into the file
    assert facts_a == facts_b
    assert _values_digest(a) != _values_digest(c)


def test_now_must_carry_a_time_zone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="time-zone aware"):
        build_demo_workbook(tmp_path / "w.xlsx", LOCAL_NOW)


def test_sizes(facts: DemoFacts, book: dict[str, Rows]) -> None:
    assert facts.suppliers == len(book["Suppliers"]) == 5
    assert facts.forwarders == len(book["Forwarders"]) == 3
    assert facts.skus == len({r["SKU"] for r in book["Stock"]}) == 61  # 60 products, 1 kit
    assert facts.stock_rows == len(book["Stock"]) == 62
    assert facts.order_lines == len(book["Orders"])
    assert 2500 <= facts.order_lines <= 4000
    assert facts.orders == len({r["Order ID"] for r in book["Orders"]})
    lines_per_order = Counter(r["Order ID"] for r in book["Orders"])
    assert set(lines_per_order.values()) <= {1, 2, 3}
    assert facts.returns == len(book["Returns"])
    delivered = sum(r["Status"] == "DELIVERED" for r in book["Orders"])
    assert 0.03 <= facts.returns / delivered <= 0.05
    assert facts.purchase_order_lines == len(book["Purchase orders"])


# ---------------------------------------------------------------- the story


def test_suppliers_and_forwarders(facts: DemoFacts, book: dict[str, Rows]) -> None:
    suppliers = book["Suppliers"]
    assert len({s["Supplier"][0] for s in suppliers}) == len(suppliers)  # distinct codes
    assert all(re.fullmatch(r"orders@[a-z-]+\.example", s["Email"]) for s in suppliers)
    assert all(5 <= s["Lead time days"] <= 30 for s in suppliers)
    assert sum(s["Min order value"] is not None for s in suppliers) == 2
    assert set(facts.supplier_codes.values()) == {"HART", "BROO", "NORD", "OAKM", "LINE"}
    forwarders = book["Forwarders"]
    assert {f["Pickup days"] for f in forwarders} == {"Mon-Fri", "Mon, Wed, Fri", "Tue, Thu"}
    assert all(f["Pickup cutoff"] is not None and f["Account"] for f in forwarders)


def test_stock_tells_its_story(facts: DemoFacts, book: dict[str, Rows]) -> None:
    stock = {r["SKU"]: r for r in book["Stock"][:60]}  # the last row is the duplicate
    for sku in facts.out_of_stock_skus:
        assert stock[sku]["On hand"] == 0
    over = stock[facts.overstocked_sku]
    assert over["On hand"] > 4 * over["Max stock"]
    assert all(stock[s]["Active"] == "no" for s in facts.inactive_skus)
    assert sum(r["Active"] == "no" for r in stock.values()) == 2
    assert all(r["Price"] > r["Unit cost"] > 0 for r in stock.values())
    assert {r["Pack size"] for r in stock.values()} <= {1, 6, 12, 24, 50}
    typed = sum(r["Reorder point"] is not None for r in stock.values())
    assert 5 <= typed <= 30  # some typed, most left for the service to compute
    assert sum(r["Safety stock"] is None for r in stock.values()) > 45
    assert sum(r["Lead time days"] is None for r in stock.values()) > 45
    sold = {r["SKU"] for r in book["Orders"]}
    assert not set(facts.unsold_skus) & sold


def test_demand_is_uneven_seasonal_and_growing(facts: DemoFacts, book: dict[str, Rows]) -> None:
    lines = [r for r in book["Orders"] if isinstance(r["Order date"], datetime)]
    units = Counter()
    for r in lines:
        if r["Status"] != "CANCELLED":
            units[r["SKU"]] += r["Qty"]
    total = sum(units.values())
    assert tuple(s for s, _ in units.most_common(5)) == facts.best_sellers
    assert sum(units[s] for s in facts.best_sellers) / total > 0.35  # a Pareto head
    assert sum(1 for s in units if units[s] / total < 0.01) >= 20  # a long tail

    first_day = {}
    for r in lines:
        first_day.setdefault(r["Order ID"], r["Order date"])
    per_weekday = defaultdict(int)
    for d in first_day.values():
        per_weekday[d.weekday()] += 1
    assert per_weekday[6] > per_weekday[4] * 1.2  # Sundays busier than Fridays
    early = sum(d < LOCAL_NOW - timedelta(days=90) for d in first_day.values())
    late = sum(d >= LOCAL_NOW - timedelta(days=30) for d in first_day.values())
    assert late > early * 1.15  # the shop grows
    evening = sum(d.hour >= 18 for d in first_day.values())
    assert 0.1 < evening / len(first_day) < 0.5


def test_order_lines_are_coherent(facts: DemoFacts, book: dict[str, Rows]) -> None:
    prices = {r["SKU"]: r["Price"] for r in book["Stock"]}
    forwarders = {f["Forwarder"] for f in book["Forwarders"]}
    for r in book["Orders"]:
        assert re.fullmatch(r"SO-\d{5}", r["Order ID"])
        assert r["Status"] in ORDER_STATUSES
        assert r["Forwarder"] in forwarders
        assert 1 <= r["Qty"] <= 3
        assert r["Country"] and r["Postcode"] and r["City"] and r["Address"]
        if r["SKU"] != UNKNOWN_SKU:
            assert r["Unit price"] == prices[r["SKU"]]
        if isinstance(r["Order date"], datetime):
            assert LOCAL_NOW - timedelta(days=121) <= r["Order date"] < LOCAL_NOW
            if r["Shipped at"]:
                assert r["Order date"] < r["Shipped at"] <= LOCAL_NOW
        if r["Status"] in ("SHIPPED", "DELIVERED"):
            assert r["Tracking"] and r["Shipped at"]
        else:
            assert r["Tracking"] is None and r["Shipped at"] is None
        if r["Status"] == "DELIVERED":
            assert r["Shipped at"] < r["Delivered at"] <= LOCAL_NOW
        else:
            assert r["Delivered at"] is None
    statuses = Counter(r["Status"] for r in book["Orders"])
    assert all(statuses[s] > 0 for s in ORDER_STATUSES)
    countries = Counter(r["Country"] for r in book["Orders"])
    assert countries.most_common(1)[0][0] == "United Kingdom" and len(countries) > 2

    by_id = defaultdict(list)
    for r in book["Orders"]:
        by_id[r["Order ID"]].append(r)
    for order_id in facts.stuck_order_ids:
        for r in by_id[order_id]:
            assert r["Status"] == "SHIPPED" and r["Delivered at"] is None
            assert r["Shipped at"] < LOCAL_NOW - timedelta(days=7)
    assert 3 <= len(facts.late_order_ids) <= 12
    assert sum(len(by_id[o]) for o in facts.late_order_ids) > 5  # trips the monitor alert
    for order_id in facts.late_order_ids:
        assert by_id[order_id][0]["Status"] in ("NEW", "PACKED", "READY")
        assert by_id[order_id][0]["Order date"] < LOCAL_NOW - timedelta(days=2)
    assert facts.on_hold_order_ids and facts.ready_order_ids


def test_purchase_orders(facts: DemoFacts, book: dict[str, Rows]) -> None:
    pos = book["Purchase orders"]
    codes = facts.supplier_codes
    for r in pos:
        assert r["Status"] in ("RECEIVED", "SENT", "CONFIRMED")  # never DRAFT
        assert re.fullmatch(rf"PO-{r['Created at']:%Y%m%d}-{codes[r['Supplier']]}", r["PO number"])
        assert r["Created at"] < LOCAL_NOW and r["Qty"] > 0
        if r["Status"] == "RECEIVED":
            assert r["Created at"] < r["Received at"] < LOCAL_NOW
        else:
            assert r["Received at"] is None
    received = Counter(r["Supplier"] for r in pos if r["Status"] == "RECEIVED")
    assert sum(n >= 3 for n in received.values()) >= 2  # measured lead times possible
    open_lines = [r for r in pos if r["Status"] in ("SENT", "CONFIRMED")]
    assert {r["PO number"] for r in open_lines} == set(facts.open_purchase_orders)
    overdue = [r for r in open_lines if r["Expected by"] < LOCAL_NOW]
    assert {r["PO number"] for r in overdue} == {facts.overdue_purchase_order}


def test_returns(facts: DemoFacts, book: dict[str, Rows]) -> None:
    returns = book["Returns"]
    order_keys = {(r["Order ID"], r["SKU"]): r for r in book["Orders"]}
    numbered = [r["Return ID"] for r in returns if r["Return ID"]]
    assert numbered == [f"RMA-2026-{n:04d}" for n in range(1, len(numbered) + 1)]
    assert Counter(r["Status"] for r in returns).keys() == set(RETURN_STATUSES)
    for r in returns:
        line = order_keys[(r["Order ID"], r["SKU"])]
        assert line["Status"] == "DELIVERED"
        assert 1 <= r["Qty"] <= line["Qty"]
        assert line["Delivered at"] < r["Requested at"] < LOCAL_NOW
        assert r["Reason"] in (
            "damaged",
            "wrong size",
            "not as described",
            "changed mind",
            "faulty",
        )
        if r["Status"] == "REFUNDED":
            assert r["Refund amount"] == pytest.approx(r["Qty"] * line["Unit price"])
            assert r["Condition"] in ("as new", "opened", "damaged")
    blank = [i + 2 for i, r in enumerate(returns) if r["Return ID"] is None]
    assert blank == list(facts.blank_return_id_rows) and 2 <= len(blank) <= 3
    for row in blank:
        r = _row(book, "Returns", row)
        assert r["Status"] == "REQUESTED"
        assert r["Requested at"] > LOCAL_NOW - timedelta(days=2)
    outside = _row(book, "Returns", facts.outside_window_return_row)
    delivered = order_keys[(outside["Order ID"], outside["SKU"])]["Delivered at"]
    assert outside["Requested at"] - delivered > timedelta(days=30)


def test_faulty_sku_return_rate(facts: DemoFacts, book: dict[str, Rows]) -> None:
    """Measured from the sheet the way the returns job does: 90 days, units."""
    window = LOCAL_NOW - timedelta(days=90)
    shipped: Counter[str] = Counter()
    for r in book["Orders"]:
        if r["Shipped at"] and r["Shipped at"] >= window:
            shipped[r["SKU"]] += r["Qty"]
    returned: Counter[str] = Counter()
    reasons = Counter()
    for r in book["Returns"]:
        if r["Requested at"] >= window:
            returned[r["SKU"]] += r["Qty"]
            if r["SKU"] == facts.faulty_sku:
                reasons[r["Reason"]] += 1
    faulty = facts.faulty_sku
    assert shipped[faulty] >= 20 and shipped[faulty] == facts.faulty_units_shipped_90d
    assert returned[faulty] / shipped[faulty] > 0.15
    assert returned[faulty] / shipped[faulty] == pytest.approx(facts.faulty_return_rate)
    assert reasons.most_common(1)[0][0] == "faulty"
    assert reasons["faulty"] > sum(reasons.values()) / 2
    others = [s for s in shipped if s != faulty and shipped[s] >= 20]
    assert others and all(returned[s] / shipped[s] <= 0.10 for s in others)


# ---------------------------------------------------------------- deliberate mistakes


def test_every_mistake_is_where_facts_say(facts: DemoFacts, book: dict[str, Rows]) -> None:
    found = set()
    for m in facts.mistakes:
        value = _row(book, m.tab, m.row)[m.column]
        if (m.tab, m.column) == ("Stock", "On hand"):
            assert value == "twelve"
            with pytest.raises(CellError):
                parse_number(value)
        elif (m.tab, m.column) == ("Stock", "SKU"):
            assert value == facts.duplicate_sku
            assert [i + 2 for i, r in enumerate(book["Stock"]) if r["SKU"] == value] == list(
                facts.duplicate_sku_rows
            )
        elif (m.tab, m.column) == ("Orders", "SKU"):
            assert value == UNKNOWN_SKU
            assert value not in {r["SKU"] for r in book["Stock"]}
        elif (m.tab, m.column) == ("Orders", "Order date"):
            assert isinstance(value, str)
            with pytest.raises(CellError):
                parse_datetime(value, LONDON)
        elif (m.tab, m.column) == ("Orders", "Email"):
            assert value.count("@") == 2 and "," in value
            assert _row(book, m.tab, m.row)["Status"] in ("NEW", "PACKED", "READY", "ON HOLD")
        elif (m.tab, m.column) == ("Orders", "Postcode"):  # issue 22: held for its address
            from ops_sheets.domain.postal import postcode_ok

            assert not postcode_ok("GB", value) and postcode_ok("GB", value[:-1])
            assert _row(book, m.tab, m.row)["Order ID"] == facts.wrong_postcode_order_id
        else:
            pytest.fail(f"unexpected mistake {m}")
        found.add((m.tab, m.column))
    assert len(found) == 6 and len(facts.mistakes) >= 6  # the postcode: one per line


def test_the_service_finds_nothing_but_the_mistakes(demo: tuple[Path, DemoFacts]) -> None:
    """Parsed and validated as the jobs do, the only problems are the deliberate ones."""
    path, facts = demo
    wb = openpyxl.load_workbook(path)
    tables = {}
    problems = []
    for key in TEAM_TABS:
        spec = TAB_SPECS[key]
        grid = Grid(spec.title, [list(r) for r in wb[spec.title].iter_rows(values_only=True)])
        tables[key] = parse_table(spec, grid, LONDON)
        problems += tables[key].problems
    problems += validate(tables)
    allowed = {(m.tab, m.row) for m in facts.mistakes}
    allowed.add(("Stock", facts.duplicate_sku_rows[0]))  # the duplicate's first copy
    assert {(p.tab, p.row) for p in problems} <= allowed
    found = {(p.tab, p.row, p.column) for p in problems}
    for m in facts.mistakes:
        if m.column != "Email":  # no check reads addresses yet
            assert (m.tab, m.row, m.column) in found


def test_formula_looking_customer_is_stored_as_text(demo: tuple[Path, DemoFacts]) -> None:
    path, facts = demo
    assert facts.formula_customer_rows
    wb = openpyxl.load_workbook(path)
    header = [c.value for c in wb["Orders"][1]]
    column = get_column_letter(header.index("Customer") + 1)
    ns = {
        "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
    }
    with zipfile.ZipFile(path) as z:
        workbook = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        rid = next(
            s.get(f"{{{ns['r']}}}id")
            for s in workbook.iterfind("m:sheets/m:sheet", ns)
            if s.get("name") == "Orders"
        )
        target = next(
            r.get("Target") for r in rels.iterfind("rel:Relationship", ns) if r.get("Id") == rid
        )
        sheet = ET.fromstring(z.read("xl/" + target.lstrip("/").removeprefix("xl/")))
        shared = (
            [si.findtext(".//m:t", "", ns) for si in ET.fromstring(z.read("xl/sharedStrings.xml"))]
            if "xl/sharedStrings.xml" in z.namelist()
            else []
        )
    assert sheet.find(".//m:f", ns) is None  # no formulas anywhere on the tab
    for row in facts.formula_customer_rows:
        cell = sheet.find(f".//m:c[@r='{column}{row}']", ns)
        assert cell is not None and cell.get("t") in ("s", "inlineStr")
        if cell.get("t") == "s":
            text = shared[int(cell.findtext("m:v", "", ns))]
        else:
            text = "".join(t.text or "" for t in cell.iterfind(".//m:t", ns))
        assert text == FORMULA_CUSTOMER
    status = wb["Orders"].cell(
        row=facts.formula_customer_rows[0], column=header.index("Status") + 1
    )
    assert status.value in ("NEW", "PACKED", "READY", "ON HOLD")  # an order still to handle


# ---------------------------------------------------------------- config


def test_demo_config_loads(tmp_path: Path) -> None:
    path = write_demo_config(tmp_path / "demo")
    assert path == tmp_path / "demo" / "config.toml"
    settings = load_settings(path)
    assert settings.timezone == "Europe/London"
    assert settings.workbook.backend == "xlsx"
    assert settings.resolve(settings.workbook.path) == tmp_path / "demo" / "workbook.xlsx"
    assert settings.mail.transport == "outbox"
    assert settings.resolve(settings.mail.outbox_dir) == tmp_path / "demo" / "outbox"
    assert settings.mail.sender.endswith("<ops@kitchenandco.example>")
    assert settings.mail.manager == "manager@kitchenandco.example"
    assert settings.state.path == "state.db"
    assert settings.shop_name == "Kitchen & Co"
    assert "#" in path.read_text(encoding="utf-8")  # commented for the reader


def test_a_kit_and_a_partly_received_po_line(facts: DemoFacts, book: dict[str, Rows]) -> None:
    wb_kits = [(r["Kit SKU"], r["Component SKU"], r["Qty"]) for r in book["Kits"]]
    stock = {r["SKU"] for r in book["Stock"]}
    assert {k for k, _, _ in wb_kits} == {facts.kit_sku} and facts.kit_sku in stock
    assert len(wb_kits) == 3 and all(c in stock and q > 0 for _, c, q in wb_kits)
    number, sku = facts.partly_received
    (line,) = [r for r in book["Purchase orders"] if (r["PO number"], r["SKU"]) == (number, sku)]
    assert line["Status"] == "SENT" and 0 < line["Qty received"] < line["Qty"]
