"""Reading platforms' orders exports and planning what they add to the Orders tab.

The files in tests/data/exports/ follow each platform's real layout with made-up
people (see the README there). Nothing here is mocked: the reader gets the files'
bytes, the planner gets rows as the Orders tab would hold them.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops_sheets.domain.importing import (
    ExportRead,
    ImportedLine,
    ImportOptions,
    LineKey,
    merge_field,
    plan_import,
    read_export,
    read_rows,
)
from ops_sheets.errors import ImportFileError, OpsSheetsError
from ops_sheets.sheet.amounts import Amount, parse_amount
from ops_sheets.sheet.presets import PRESETS, presets_for
from ops_sheets.sheet.tables import CellError
from ops_sheets.sheet.workbook.base import Cell

EXPORTS = Path(__file__).parent / "data" / "exports"
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=LONDON)


def options(currency: str = "USD", **kw: object) -> ImportOptions:
    return ImportOptions(tz=LONDON, currency=currency, now=NOW, **kw)  # type: ignore[arg-type]


def read(name: str, data: bytes | None = None, **kw: object) -> ExportRead:
    fmt = str(kw.pop("format", "auto"))
    currency = str(kw.pop("currency", "USD"))
    raw = (EXPORTS / name).read_bytes() if data is None else data
    return read_export(raw, filename=name, options=options(currency, **kw), format=fmt)


def by_key(result: ExportRead) -> dict[LineKey, ImportedLine]:
    return {line.key: line for line in result.lines}


def sheet_rows(lines: list[ImportedLine] | tuple[ImportedLine, ...]) -> list[dict[str, Cell]]:
    """Rows as the Orders tab holds them after those lines were appended (by column key)."""
    return [
        {**line.values, "forwarder": None, "_row": i + 2, "line_id": line.line_id}
        for i, line in enumerate(lines)
    ]


# ---------------------------------------------------------------- each platform's layout


@pytest.mark.parametrize(
    ("name", "preset", "lines", "currency", "decimal"),
    [
        ("shopify_orders.csv", "shopify", 11, "USD", "."),
        ("woocommerce_orders.csv", "woocommerce", 8, "EUR", "."),
        ("woocommerce_algolplus_orders.csv", "woocommerce-algolplus", 8, "EUR", ","),
        ("amazon_orders.txt", "amazon", 8, "USD", "."),
        ("amazon_unshipped_orders.txt", "amazon-unshipped", 6, "USD", "."),
        ("etsy_orders.csv", "etsy", 7, "USD", "."),
        ("etsy_sold_orders.csv", "etsy-orders", 6, "USD", "."),
        ("ebay_orders.csv", "ebay", 5, "USD", "."),
    ],
)
def test_each_platform_layout_is_detected_and_read(
    name: str, preset: str, lines: int, currency: str, decimal: str
) -> None:
    result = read(name, currency=currency, decimal=decimal)
    assert result.preset.name == preset
    assert len(result.lines) == lines
    for line in result.lines:
        assert line.order_id
        if result.preset.line_level:
            assert line.sku and isinstance(line.values["qty"], int)
            assert isinstance(line.values["order_date"], (datetime, date))
        assert line.values["status"] in ("NEW", "ON HOLD", "PACKED", "SHIPPED", "CANCELLED")
        assert line.values["payment"] in ("PAID", "PENDING", "REFUNDED", "VOIDED")


def test_every_preset_cites_its_sources_and_the_platform_chooses_among_its_files() -> None:
    for preset in PRESETS.values():
        assert preset.sources and preset.signature and preset.title
        module = __import__(f"ops_sheets.sheet.presets.{preset.platform}", fromlist=["_"])
        assert "github.com" in preset.sources[-1] or "http" in preset.sources[0]
        assert module.__doc__ and len(module.__doc__) > 400
        assert not preset.reports_delivery  # no platform gives a delivery date
    assert {p.name for p in presets_for("woocommerce")} == {
        "woocommerce",
        "woocommerce-algolplus",
        "woocommerce-analytics",
    }
    result = read("amazon_unshipped_orders.txt", format="amazon")
    assert result.preset.name == "amazon-unshipped"


def test_shopify_lines_in_our_columns() -> None:
    lines = by_key(read("shopify_orders.csv"))
    first = lines[LineKey("#1041", "TOWEL-SAGE")].values
    assert first["customer"] == "Harriet Vance"
    assert first["email"] == "harriet.vance@example.com"
    assert first["address"] == "12 Orchard Lane, Apt 3"
    assert (first["city"], first["state"], first["country"]) == ("Cambridge", "MA", "US")
    assert first["postcode"] == "02139"  # Shopify's leading ' is gone
    assert (first["qty"], first["unit_price"]) == (2, 14)
    assert (first["status"], first["payment"]) == ("SHIPPED", "PAID")
    assert "tracking" not in first and "delivered_at" not in first  # the export has none
    quebec = lines[LineKey("#1042", "PRINT-FERN-A4")].values
    assert (quebec["customer"], quebec["city"]) == ("Zoë Bélanger", "Montréal")
    assert quebec["status"] == "NEW" and quebec["shipped_at"] is None
    assert lines[LineKey("#1047", "CANDLE-TALL")].values["payment"] == "PENDING"
    # partially refunded: the goods still go out
    assert lines[LineKey("#1048", "TOWEL-SAGE")].values["payment"] == "PAID"


def test_multi_line_order_fills_first_line_fields_down() -> None:
    lines = by_key(read("shopify_orders.csv"))
    second = lines[LineKey("#1041", "MUG-SPECK")]
    assert second.line == 3
    assert second.values["customer"] == "Harriet Vance"
    assert second.values["address"] == "12 Orchard Lane, Apt 3"
    assert second.values["country"] == "US"
    assert second.values["payment"] == "PAID"
    assert second.values["shipped_at"] == datetime(2026, 3, 3, 21, 40, 12, tzinfo=LONDON)


def test_older_shopify_files_leave_created_at_and_email_blank_on_later_lines() -> None:
    text = (EXPORTS / "shopify_orders.csv").read_text(encoding="utf-8")
    older = text.replace(
        "#1041,harriet.vance@example.com,,,,,,,,,,,,,,2026-03-02 09:14:01 -0500,1,",
        "#1041,,,,,,,,,,,,,,,,1,",
    )
    assert older != text
    result = read("shopify_orders.csv", data=older.encode())
    second = by_key(result)[LineKey("#1041", "MUG-SPECK")].values
    assert second["email"] == "harriet.vance@example.com"
    assert second["order_date"] == datetime(2026, 3, 2, 14, 14, 1, tzinfo=LONDON)
    assert result.problems == ()


def test_the_same_sku_twice_in_one_order_is_two_lines() -> None:
    shopify = [line for line in read("shopify_orders.csv").lines if line.order_id == "#1044"]
    assert [line.key for line in shopify] == [
        LineKey("#1044", "BOARD-WAL", 1),
        LineKey("#1044", "BOARD-WAL", 2),
    ]
    assert str(shopify[1].key) == "#1044 / BOARD-WAL (line 2 of that SKU)"
    etsy = [line for line in read("etsy_orders.csv").lines if line.order_id == "3301688402"]
    assert [line.line_id for line in etsy] == ["4022051890", "4022051891"]
    assert [line.occurrence for line in etsy] == [1, 2]
    # both lines go in, and importing again matches each to its own row
    plan = plan_import(sheet_rows(etsy), etsy, tz=LONDON)
    assert (plan.added, plan.changed, plan.unchanged) == (0, 0, 2)


def test_partial_fulfilment_ships_only_the_fulfilled_line() -> None:
    lines = by_key(read("shopify_orders.csv"))
    shipped = lines[LineKey("#1043", "TOTE-NAT")].values
    waiting = lines[LineKey("#1043", "CANDLE-TALL")].values
    assert shipped["status"] == "SHIPPED"
    assert shipped["shipped_at"] == datetime(2026, 3, 5, 15, 2, 51, tzinfo=LONDON)
    # the order-level Fulfilled at is filled down, but means nothing on a pending line
    assert waiting["status"] == "NEW" and waiting["shipped_at"] is None
    amazon = by_key(read("amazon_orders.txt"))
    assert amazon[LineKey("114-7741203-5520981", "TOTE-NAT")].values["status"] == "SHIPPED"
    assert amazon[LineKey("114-7741203-5520981", "CANDLE-TALL")].values["status"] == "NEW"


def test_cancelled_and_refunded_orders() -> None:
    shopify = by_key(read("shopify_orders.csv"))
    voided = shopify[LineKey("#1045", "MUG-SPECK")].values
    refunded = shopify[LineKey("#1046", "TOWEL-SAGE")].values
    assert (voided["status"], voided["payment"]) == ("CANCELLED", "VOIDED")
    assert (refunded["status"], refunded["payment"]) == ("CANCELLED", "REFUNDED")
    woo = by_key(read("woocommerce_orders.csv", currency="EUR"))
    assert woo[LineKey("2105", "MUG-SPECK")].values["status"] == "CANCELLED"
    assert woo[LineKey("2106", "TOTE-NAT")].values["payment"] == "REFUNDED"
    assert woo[LineKey("2107", "CANDLE-TALL")].values["payment"] == "VOIDED"
    assert woo[LineKey("2103", "TOWEL-SAGE")].values["status"] == "ON HOLD"
    amazon = by_key(read("amazon_orders.txt"))
    cancelled = amazon[LineKey("112-8812640-3349207", "MUG-SPECK")].values
    assert (cancelled["status"], cancelled["payment"]) == ("CANCELLED", "VOIDED")


def test_time_zone_offsets_become_the_shops_time() -> None:
    shopify = by_key(read("shopify_orders.csv"))
    # -0500 in winter, -0400 after the US clock change; London is still on GMT
    assert shopify[LineKey("#1041", "TOWEL-SAGE")].values["order_date"] == datetime(
        2026, 3, 2, 14, 14, 1, tzinfo=LONDON
    )
    assert shopify[LineKey("#1048", "TOWEL-SAGE")].values["order_date"] == datetime(
        2026, 3, 9, 14, 3, 36, tzinfo=LONDON
    )
    new_york = ZoneInfo("America/New_York")
    amazon = read_export(
        (EXPORTS / "amazon_orders.txt").read_bytes(),
        filename="amazon_orders.txt",
        options=ImportOptions(tz=new_york, currency="USD"),
    )
    moment = by_key(amazon)[LineKey("112-4820391-7730215", "TOWEL-SAGE")].values["order_date"]
    assert moment == datetime(2026, 3, 2, 9, 5, 11, tzinfo=new_york)
    assert isinstance(moment, datetime) and moment.tzinfo == new_york
    # no offset in the file: the shop's own time
    woo = by_key(read("woocommerce_orders.csv", currency="EUR"))
    assert woo[LineKey("2101", "TOWEL-SAGE")].values["order_date"] == datetime(
        2026, 3, 2, 14, 5, 11, tzinfo=LONDON
    )
    # date-only exports give dates, not midnights
    etsy = by_key(read("etsy_orders.csv"))[LineKey("3301554120", "TOWEL-SAGE")].values
    assert etsy["order_date"] == date(2026, 3, 2) and etsy["shipped_at"] == date(2026, 3, 3)


def test_utf8_bom_and_crlf_read_the_same() -> None:
    plain = (EXPORTS / "shopify_orders.csv").read_bytes()
    assert b"\r\n" not in plain
    windows = codecs.BOM_UTF8 + plain.replace(b"\n", b"\r\n")
    same = read("shopify_orders.csv", data=windows)
    original = read("shopify_orders.csv")
    assert [(ln.line, ln.key, dict(ln.values)) for ln in same.lines] == [
        (ln.line, ln.key, dict(ln.values)) for ln in original.lines
    ]
    assert same.problems == () and same.notices == ()
    # the CRLF files as their platforms write them
    assert len(read("amazon_unshipped_orders.txt").lines) == 6
    assert b"\r\n" in (EXPORTS / "woocommerce_algolplus_orders.csv").read_bytes()


def test_windows_1252_file_is_read_and_said() -> None:
    text = (EXPORTS / "woocommerce_orders.csv").read_text(encoding="utf-8")
    text = text.replace("Kraków", "Krakow").replace("ul. Floriańska", "ul. Florianska")
    result = read("woocommerce_orders.csv", data=text.encode("cp1252"), currency="EUR")
    assert by_key(result)[LineKey("2101", "TOWEL-SAGE")].values["customer"] == "Jürgen Köhler"
    assert len(result.notices) == 1
    assert "not UTF-8" in result.notices[0] and "line 2" in result.notices[0]


# ---------------------------------------------------------------- eBay's extra lines


def test_ebay_preamble_footer_and_summary_rows() -> None:
    result = read("ebay_orders.csv")
    assert result.header_line == 2
    lines = by_key(result)
    towel = lines[LineKey("18-14107-02264", "TOWEL-SAGE")]
    board = lines[LineKey("18-14107-02264", "BOARD-WAL")]
    # the summary row gave the item rows their buyer and address, then went
    assert towel.values["customer"] == "Priya Raman" and board.values["city"] == "Austin"
    assert towel.line == 6 and board.line == 7
    assert (towel.values["qty"], towel.values["unit_price"]) == (2, 14)
    revenue = sum(
        float(ln.values["qty"]) * float(ln.values["unit_price"])  # type: ignore[arg-type]
        for ln in result.lines
        if ln.order_id == "18-14107-02264"
    )
    assert revenue == 80  # not 160: the summary's Sold For is not counted again
    assert towel.values["tracking"] == "9405511899223344558899"
    assert towel.line_id == "2765010098112"
    first = lines[LineKey("05-14102-77231", "MUG-SPECK")].values
    assert (first["status"], first["shipped_at"]) == ("SHIPPED", date(2026, 3, 3))
    assert lines[LineKey("22-14113-55809", "PRINT-FERN-A4")].values["status"] == "NEW"
    assert not any(ln.values["customer"] == "Greta Lindqvist" for ln in result.lines)
    assert any("summary" in n for n in result.notices)
    assert any("without an eBay order number" in n for n in result.notices)
    assert result.problems == ()


def test_ebay_data_after_the_footer_is_a_malformed_file() -> None:
    data = (EXPORTS / "ebay_orders.csv").read_bytes() + b"1206,07-1,x,,,,,\n"
    with pytest.raises(ImportFileError) as caught:
        read("ebay_orders.csv", data=data)
    assert str(caught.value).startswith("ebay_orders.csv, line 14: data after the export's")
    assert "closing lines (line 12)" in str(caught.value)


# ---------------------------------------------------------------- numbers and currencies


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [
        ("12,50", ",", Amount(12.5)),
        ("1.234,50", ",", Amount(1234.5)),
        ("12,50 €", ",", Amount(12.5, "EUR")),
        ("GBP 12.50", ".", Amount(12.5, "GBP")),
        ("$30.00", ".", Amount(30.0)),
        ("US $12.34", ".", Amount(12.34, "USD")),
        ("1,234.50", ".", Amount(1234.5)),
        ("1 234,50", ",", Amount(1234.5)),
        ("(4.20)", ".", Amount(-4.2)),
        ("-12,50 EUR", ",", Amount(-12.5, "EUR")),
        ("", ".", None),
    ],
)
def test_amounts_as_shops_write_them(text: str, decimal: str, expected: Amount | None) -> None:
    assert parse_amount(text, decimal=decimal) == expected


@pytest.mark.parametrize(
    ("text", "decimal", "problem"),
    [
        ("12,50", ".", "decimal comma"),
        ("12.50", ",", "decimal point"),
        ("12 apples", ".", "not a number"),
        ("£12 €", ".", "two different currencies"),
        ("1e400", ".", "not a number"),
    ],
)
def test_amounts_that_are_problems(text: str, decimal: str, problem: str) -> None:
    with pytest.raises(CellError) as caught:
        parse_amount(text, decimal=decimal)
    assert problem in caught.value.problem


def test_eu_decimals_follow_the_shops_setting() -> None:
    result = read("woocommerce_algolplus_orders.csv", currency="EUR", decimal=",")
    lines = by_key(result)
    assert lines[LineKey("3201", "TOWEL-SAGE")].values["unit_price"] == 12.5
    assert lines[LineKey("3202", "BOARD-WAL")].values["unit_price"] == 1049
    assert result.problems == ()
    # a shop whose config still says "." is told what to change, cell by cell
    wrong = read("woocommerce_algolplus_orders.csv", currency="EUR", decimal=".")
    assert len(wrong.problems) == 8
    problem = wrong.problems[0]
    assert (problem.tab, problem.row, problem.column, problem.value) == (
        "woocommerce_algolplus_orders.csv",
        2,
        "Item Cost",
        "12,50",
    )
    assert 'decimal = ","' in problem.fix
    assert by_key(wrong)[LineKey("3201", "TOWEL-SAGE")].values["unit_price"] is None


def test_a_price_in_another_currency_is_a_problem() -> None:
    result = read("amazon_orders.txt", currency="USD")
    [problem] = result.problems
    assert (problem.row, problem.column, problem.value) == (9, "currency", "CAD")
    assert "in CAD, while the shop's currency is USD" in problem.problem
    assert by_key(result)[LineKey("702-5518230-9917425", "TOWEL-SAGE")].values["unit_price"] is None
    # a code written next to the number counts too
    text = (EXPORTS / "ebay_orders.csv").read_text(encoding="utf-8").replace("$30.00", "30.00 EUR")
    ebay = read("ebay_orders.csv", data=text.encode(), currency="USD")
    assert [(p.column, p.value) for p in ebay.problems] == [("Sold For", "30.00 EUR")]


def test_amazon_item_price_is_for_the_whole_quantity_and_fba_lines_are_left_out() -> None:
    result = read("amazon_orders.txt")
    lines = by_key(result)
    assert lines[LineKey("112-4820391-7730215", "TOWEL-SAGE")].values["unit_price"] == 14
    assert lines[LineKey("114-7741203-5520981", "CANDLE-TALL")].values["unit_price"] == 24
    assert lines[LineKey("111-3390157-6624418", "PRINT-FERN-A4")].values["unit_price"] is None
    assert "customer" not in lines[LineKey("111-3390157-6624418", "PRINT-FERN-A4")].values
    assert not any(ln.order_id == "113-6604417-2281950" for ln in result.lines)
    assert any("fulfilled by Amazon" in n for n in result.notices)


# ---------------------------------------------------------------- SKUs from names


def test_blank_sku_is_a_problem_unless_the_name_is_mapped() -> None:
    result = read("etsy_orders.csv")
    [problem] = result.problems
    assert (problem.row, problem.column, problem.key) == (9, "SKU", "3301779960")
    assert "Hand-dyed Silk Ribbon, 2 m" in problem.fix
    mapped = read("etsy_orders.csv", values={"sku": {"Hand-dyed Silk Ribbon, 2 m": "RIBBON"}})
    assert mapped.problems == ()
    assert by_key(mapped)[LineKey("3301779960", "RIBBON")].values["qty"] == 3


def test_woocommerce_analytics_lines_take_their_sku_from_the_product_name() -> None:
    products = {
        "Linen Tea Towel - Sage": "TOWEL-SAGE",
        "Stoneware Mug - Speckled": "MUG-SPECK",
        "Engraved Cutting Board - Walnut": "BOARD-WAL",
        "Canvas Tote Bag - Natural": "TOTE-NAT",
        "Botanical Print A4 - Fern": "PRINT-FERN-A4",
    }
    result = read("woocommerce_analytics_orders.csv", currency="EUR", products=products)
    assert result.problems == ()
    lines = by_key(result)
    assert lines[LineKey("2101", "TOWEL-SAGE")].values["qty"] == 2
    assert lines[LineKey("2101", "MUG-SPECK")].values["qty"] == 1
    assert lines[LineKey("2103", "TOWEL-SAGE")].values["status"] == "ON HOLD"
    assert "address" not in lines[LineKey("2101", "MUG-SPECK")].values


# ---------------------------------------------------------------- values maps


def test_the_shops_values_map_wins_over_the_presets_words() -> None:
    result = read(
        "woocommerce_orders.csv",
        currency="EUR",
        values={"Status": {"processing": "PACKED"}, "country": {"DE": "Germany"}},
    )
    line = by_key(result)[LineKey("2101", "TOWEL-SAGE")].values
    assert (line["status"], line["country"]) == ("PACKED", "Germany")


def test_an_unknown_status_word_is_a_problem_with_the_map_to_write() -> None:
    text = (EXPORTS / "woocommerce_orders.csv").read_text(encoding="utf-8")
    text = text.replace(",2026-03-02 18:40:09,completed,", ",2026-03-02 18:40:09,awaiting-pickup,")
    result = read("woocommerce_orders.csv", data=text.encode(), currency="EUR")
    status, payment = result.problems
    assert (status.row, status.column, status.value) == (4, "status", "awaiting-pickup")
    assert '[tabs.orders.values] status = { "awaiting-pickup" = "NEW" }' in status.fix
    assert "payment" in payment.fix
    assert by_key(result)[LineKey("2102", "PRINT-FERN-A4")].values["status"] is None


# ---------------------------------------------------------------- planning an import


def test_importing_the_same_file_twice_changes_nothing() -> None:
    for name, currency in [
        ("shopify_orders.csv", "USD"),
        ("ebay_orders.csv", "USD"),
        ("etsy_orders.csv", "USD"),
        ("amazon_orders.txt", "USD"),
        ("woocommerce_orders.csv", "EUR"),
    ]:
        lines = read(name, currency=currency).lines
        first = plan_import([], lines, tz=LONDON)
        assert first.added == len(lines) and first.changed == 0
        again = plan_import(
            sheet_rows(first.appends), read(name, currency=currency).lines, tz=LONDON
        )
        assert (again.added, again.changed, again.unchanged) == (0, 0, len(lines)), name


def test_appended_rows_are_in_our_columns() -> None:
    plan = plan_import([], read("shopify_orders.csv").lines, tz=LONDON)
    row = plan.rows_to_append()[0]
    assert list(row) == [
        "Order ID",
        "Order date",
        "Customer",
        "Email",
        "Address",
        "City",
        "State",
        "Postcode",
        "Country",
        "SKU",
        "Qty",
        "Unit price",
        "Status",
        "Shipped at",
        "Payment",
    ]
    assert row["Order ID"] == "#1041" and row["Postcode"] == "02139"


def test_a_newer_export_updates_only_what_the_platform_owns() -> None:
    old = read("shopify_orders.csv").lines
    rows = sheet_rows(old)
    for row in rows:  # the team's own work on the lines
        row["forwarder"] = "DHL"
        row["notes"] = "fragile"
        row["address"] = "corrected by the team"
    text = (EXPORTS / "shopify_orders.csv").read_text(encoding="utf-8")
    newer = text.replace(
        "#1042,zoe.belanger@example.com,paid,2026-03-03 21:05:44 -0500,unfulfilled,,",
        "#1042,zoe.belanger@example.com,paid,2026-03-03 21:05:44 -0500,fulfilled,"
        "2026-03-06 11:00:00 -0500,",
    ).replace(
        ",Botanical Print A4 - Fern,42.00,,PRINT-FERN-A4,true,true,pending,",
        (",Botanical Print A4 - Fern,42.00,,PRINT-FERN-A4,true,true,fulfilled,"),
    )
    newer = newer.replace(
        ",pending,,unfulfilled,,no,USD,48.00,", ",paid,,unfulfilled,,no,USD,48.00,"
    )
    plan = plan_import(rows, read("shopify_orders.csv", data=newer.encode()).lines, tz=LONDON)
    assert plan.added == 0
    changes = {str(c.key): dict(c.changes) for c in plan.changes}
    assert changes == {
        "#1042 / PRINT-FERN-A4": {
            "status": ("NEW", "SHIPPED"),
            "shipped_at": (None, datetime(2026, 3, 6, 16, 0, tzinfo=LONDON)),
        },
        "#1047 / CANDLE-TALL": {"payment": ("PENDING", "PAID")},
    }
    change = next(c for c in plan.changes if c.key.order_id == "#1042")
    assert (change.index, change.row, change.line) == (2, 4, 4)
    assert plan.unchanged == len(old) - 2


def test_the_teams_progress_is_not_undone_by_the_platform() -> None:
    assert merge_field("status", "PACKED", "NEW", LONDON) is None
    assert merge_field("status", "READY", "ON HOLD", LONDON) is None
    assert merge_field("status", "NEW", "ON HOLD", LONDON) == "ON HOLD"
    assert merge_field("status", "READY", "SHIPPED", LONDON) == "SHIPPED"
    assert merge_field("status", "SHIPPED", "CANCELLED", LONDON) is None  # a return, not a cancel
    assert merge_field("status", "PACKED", "CANCELLED", LONDON) == "CANCELLED"
    assert merge_field("status", "CANCELLED", "NEW", LONDON) is None
    assert merge_field("status", "shiped", "SHIPPED", LONDON) == "SHIPPED"  # a typo is replaced
    assert merge_field("payment", None, "PAID", LONDON) is None  # blank means PAID
    assert merge_field("tracking", "1Z999", None, LONDON) is None  # a blank never blanks
    shipped = datetime(2026, 3, 3, 16, 40, tzinfo=LONDON)
    assert merge_field("shipped_at", shipped, date(2026, 3, 3), LONDON) is None
    assert merge_field("shipped_at", "2026-03-03 16:40", shipped, LONDON) is None


def test_unshipped_then_all_orders_report_update_the_same_amazon_lines() -> None:
    unshipped = read("amazon_unshipped_orders.txt").lines
    rows = sheet_rows(plan_import([], unshipped, tz=LONDON).appends)
    text = (EXPORTS / "amazon_orders.txt").read_text(encoding="utf-8")
    later = text.replace(
        "2026-03-03T09:43:10+00:00\tUnshipped\t", "2026-03-04T09:00:00+00:00\tShipped\t"
    ).replace("B0FERN0003\tUnshipped\t", "B0FERN0003\tShipped\t")
    plan = plan_import(rows, read("amazon_orders.txt", data=later.encode()).lines, tz=LONDON)
    assert [(str(c.key), dict(c.changes)) for c in plan.changes] == [
        ("113-2059476-1184237 / BOARD-WAL", {"status": ("NEW", "SHIPPED")})
    ]
    added = {str(line.key) for line in plan.appends}
    assert "114-7741203-5520981 / CANDLE-TALL" not in added  # known from the Unshipped report
    assert "114-7741203-5520981 / TOTE-NAT" in added  # shipped before, so never unshipped


def test_etsy_orders_file_marks_the_refunded_order_after_the_items_file() -> None:
    items = read("etsy_orders.csv").lines
    orders = read("etsy_sold_orders.csv").lines
    plan = plan_import([], [*orders, *items], tz=LONDON)
    lines = {line.key: line for line in plan.appends}
    refunded = lines[LineKey("3301730418", "TOTE-NAT")].values
    assert (refunded["status"], refunded["payment"]) == ("CANCELLED", "REFUNDED")
    # already in the sheet: the same file updates the rows
    rows = sheet_rows(items)
    again = plan_import(rows, orders, tz=LONDON)
    assert [(str(c.key), dict(c.changes)) for c in again.changes] == [
        ("3301730418 / TOTE-NAT", {"status": ("NEW", "CANCELLED"), "payment": ("PAID", "REFUNDED")})
    ]
    assert again.added == 0


# ---------------------------------------------------------------- a synced tab


def test_read_rows_finds_the_header_below_a_title_and_keeps_sheet_row_numbers() -> None:
    text = (EXPORTS / "etsy_orders.csv").read_text(encoding="utf-8").splitlines()
    grid: list[list[Cell]] = [["Etsy orders, synced by Coupler"], []]
    grid += [list(r) for r in csv.reader(text)]
    grid[3][3] = 2.0  # a number cell, as Google gives it
    result = read_rows(grid, source="Orders", options=options())
    assert result.header_line == 3
    assert result.lines[0].line == 4 and result.lines[0].values["qty"] == 2
    assert [p.row for p in result.problems] == [11]


# ---------------------------------------------------------------- malformed files


def test_wrong_encoding_names_the_file_line_and_fix() -> None:
    data = (EXPORTS / "etsy_orders.csv").read_bytes().replace(b"Lindqvist", b"Lindq\x81ist", 1)
    with pytest.raises(ImportFileError) as caught:
        read("etsy_orders.csv", data=data)
    message = str(caught.value)
    assert message.startswith("etsy_orders.csv, line 7, character")
    assert "CSV UTF-8" in message and caught.value.exit_code == 2


def test_a_truncated_line_names_the_file_line_and_column() -> None:
    data = (EXPORTS / "shopify_orders.csv").read_bytes()
    cut = data[: data.index(b"#1047")] + b"#1047,greta.lindqvist@example.com,pending,,unfulfilled\n"
    with pytest.raises(ImportFileError) as caught:
        read("shopify_orders.csv", data=cut)
    error = caught.value
    assert (error.filename, error.line, error.column) == ("shopify_orders.csv", 12, "Fulfilled at")
    assert str(error).startswith("shopify_orders.csv, line 12, column 6 (Fulfilled at): ")
    assert "download the export again" in str(error)


def test_a_quote_never_closed_names_the_line_and_column() -> None:
    data = (EXPORTS / "shopify_orders.csv").read_bytes()
    cut = data[: data.index(b"Gift - please no invoice") + 10]  # the download stopped there
    with pytest.raises(ImportFileError) as caught:
        read("shopify_orders.csv", data=cut)
    assert str(caught.value).startswith(
        "shopify_orders.csv, line 4, column 45 (Notes): a quoted value is never closed"
    )
    assert (caught.value.line, caught.value.column) == (4, "Notes")
    ebay = (EXPORTS / "ebay_orders.csv").read_bytes()
    stray = ebay.replace(b'"Gift, please leave at the side door"', b'"Gift" please')
    with pytest.raises(ImportFileError, match=r"line 10, column 6 \(Buyer Note\): a quote inside"):
        read("ebay_orders.csv", data=stray)


def test_an_unknown_format_says_what_the_file_looks_like() -> None:
    data = b"Date,Amount,Payee\n2026-03-01,12.00,Bakery\n"
    with pytest.raises(ImportFileError) as caught:
        read("bank.csv", data=data)
    message = str(caught.value)
    assert message.startswith("bank.csv: not an orders export ops-sheets knows")
    assert '"Date, Amount, Payee"' in message and "--format" in message


def test_a_header_it_cannot_place_names_the_missing_columns() -> None:
    with pytest.raises(ImportFileError) as caught:
        read("etsy_orders.csv", format="shopify")
    error = caught.value
    assert str(error).startswith("etsy_orders.csv, line 1: cannot place the header of a Shopify")
    assert "Name, Financial Status, Lineitem quantity, Lineitem sku" in str(error)
    with pytest.raises(ImportFileError, match='--format "magento" is not a known export'):
        read("etsy_orders.csv", format="magento")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty"),
        (b"PK\x03\x04\x14\x00rest of a zip", "an Excel workbook"),
        (b"Name,Financial\x00Status\n", "NUL characters"),
    ],
)
def test_files_that_are_not_exports(data: bytes, expected: str) -> None:
    with pytest.raises(ImportFileError, match=expected):
        read("orders.csv", data=data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_nothing_but_an_ops_sheets_error(data: bytes) -> None:
    with contextlib.suppress(OpsSheetsError):
        read("fuzz.csv", data=data)


_SHOPIFY_HEADER = (EXPORTS / "shopify_orders.csv").read_bytes().split(b"\n", 1)[0] + b"\n"
_EBAY_HEAD = b"\n".join((EXPORTS / "ebay_orders.csv").read_bytes().split(b"\n")[:3]) + b"\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([_SHOPIFY_HEADER, _EBAY_HEAD]),
    st.lists(
        st.lists(st.sampled_from(["", "x", "#1", "2", "12,50", '"', "2026-03-02", "€3", "\r"])),
        max_size=6,
    ),
)
def test_arbitrary_rows_under_a_real_header_give_lines_problems_or_an_ops_sheets_error(
    head: bytes, rows: list[list[str]]
) -> None:
    body = "\n".join(",".join(r) for r in rows).encode()
    try:
        result = read("fuzz.csv", data=head + body)
    except OpsSheetsError:
        return
    for line in result.lines:
        assert line.order_id and line.sku


def test_dates_outside_the_window_and_exporters_escapes() -> None:
    text = (EXPORTS / "woocommerce_orders.csv").read_text(encoding="utf-8")
    text = text.replace("2104,,2026-03-03 22:01:30,", "2104,,1926-03-03 22:01:30,")
    text = text.replace("FR,Sophie,Martin,12 rue", "FR,'=Sophie,Martin,12 rue")
    result = read("woocommerce_orders.csv", data=text.encode(), currency="EUR")
    [problem] = result.problems
    assert (problem.row, problem.column, problem.value) == (6, "date", "1926-03-03 22:01:30")
    assert "a date outside 2000-01-01" in problem.problem
    line = by_key(result)[LineKey("2104", "CANDLE-TALL")].values
    assert line["order_date"] is None
    # the exporter's ' against formulas is undone: the writer stores values as data
    assert line["customer"] == "=Sophie Martin"
