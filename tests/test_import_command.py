"""`ops-sheets import`: export files into the Orders tab of a real xlsx workbook.

Every test builds the workbook with openpyxl and runs the real command (``main``),
reading the file back afterwards: no mocks.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from ops_sheets.service.cli import main

EXPORTS = Path(__file__).parent / "data" / "exports"
NOW = "2026-03-20T09:00"
ORDERS_HEADER = [
    "Order ID",
    "Order date",
    "Customer",
    "Email",
    "Address",
    "City",
    "Postcode",
    "Country",
    "SKU",
    "Qty",
    "Unit price",
    "Forwarder",
    "Status",
    "Tracking",
    "Shipped at",
    "Delivered at",
    "Notes",
]


def make_shop(
    tmp_path: Path,
    orders: list[list[object]] | None = None,
    *,
    header: list[str] = ORDERS_HEADER,
    currency: str = "USD",
    extra_config: str = "",
) -> Path:
    """A config and a workbook whose Orders tab holds ``orders`` below ``header``."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    ws.append(header)
    for row in orders or []:
        ws.append(row)
    stock = wb.create_sheet("Stock")
    stock.append(["SKU", "Product", "On hand"])
    stock.append(["TOWEL-SAGE", "Linen Tea Towel - Sage", 40])
    wb.save(tmp_path / "workbook.xlsx")
    config = tmp_path / "config.toml"
    config.write_text(
        f'timezone = "America/New_York"\ncurrency = "{currency}"\n'
        '[workbook]\nbackend = "xlsx"\npath = "workbook.xlsx"\n'
        '[state]\npath = "state.db"\n' + extra_config,
        encoding="utf-8",
    )
    return config


def orders_rows(tmp_path: Path) -> list[dict[str, object]]:
    wb = openpyxl.load_workbook(tmp_path / "workbook.xlsx")
    ws = wb["Orders"]
    rows = list(ws.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if any(v is not None for v in r)]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_import(config: Path, *files: Path | str, extra: tuple[str, ...] = ()) -> int:
    return main(["import", *(str(f) for f in files), "--config", str(config), "--now", NOW, *extra])


def test_a_shopify_export_appends_its_lines_in_our_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_shop(tmp_path)
    code = run_import(config, EXPORTS / "shopify_orders.csv")
    out = capsys.readouterr().out
    assert code == 0, out
    rows = orders_rows(tmp_path)
    by_key = {(r["Order ID"], r["SKU"]): r for r in rows}
    first = by_key[("#1041", "TOWEL-SAGE")]
    assert first["Customer"] == "Harriet Vance"
    assert first["Qty"] == 2
    assert first["Status"] == "SHIPPED"
    assert first["Postcode"] == "02139"  # Shopify's leading ' dropped, zeros kept
    # the order's second line inherits the first line's order-level fields
    second = by_key[("#1041", "MUG-SPECK")]
    assert second["Customer"] == "Harriet Vance" and second["Status"] == "SHIPPED"
    assert isinstance(second["Order date"], datetime)
    # the same SKU twice in one order is one line, quantities added up
    assert [k for k in by_key if k[0] == "#1044"] == [("#1044", "BOARD-WAL")]
    assert "imported as one line" in out
    assert "0 changed" in out and "added" in out


def test_importing_the_same_file_twice_adds_and_changes_nothing_and_leaves_the_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_shop(tmp_path)
    assert run_import(config, EXPORTS / "shopify_orders.csv") == 0
    capsys.readouterr()
    before = digest(tmp_path / "workbook.xlsx")
    assert run_import(config, EXPORTS / "shopify_orders.csv") == 0
    out = capsys.readouterr().out
    assert "0 added, 0 changed" in out
    assert digest(tmp_path / "workbook.xlsx") == before


def test_a_newer_export_updates_only_what_the_platform_owns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # #1042 is in the sheet as NEW, with the team's Forwarder and Notes and a
    # Customer typed differently; the export says it is unfulfilled (no change),
    # and #1043's first line was shipped
    config = make_shop(
        tmp_path,
        [
            [
                *("#1042", None, "Zoe B.", None, None, None, None, None, "PRINT-FERN-A4", 1, 42),
                *("Royal Mail", "PACKED", None, None, None, "fragile"),
            ],
        ],
    )
    newer = tmp_path / "newer.csv"
    text = (EXPORTS / "shopify_orders.csv").read_text(encoding="utf-8")
    newer.write_text(text, encoding="utf-8")
    assert run_import(config, newer) == 0
    row = next(r for r in orders_rows(tmp_path) if r["Order ID"] == "#1042")
    # the team's PACKED is not undone by "unfulfilled"; team columns untouched
    assert row["Status"] == "PACKED"
    assert row["Customer"] == "Zoe B."
    assert row["Forwarder"] == "Royal Mail" and row["Notes"] == "fragile"
    # now the platform says the order went out
    shipped = text.replace(
        "#1042,zoe.belanger@example.com,paid,2026-03-03 21:05:44 -0500,unfulfilled,,",
        "#1042,zoe.belanger@example.com,paid,2026-03-03 21:05:44 -0500,fulfilled,"
        "2026-03-05 10:00:00 -0500,",
    ).replace(",pending,Zoë Bélanger", ",fulfilled,Zoë Bélanger")
    assert shipped != text
    newer.write_text(shipped, encoding="utf-8")
    capsys.readouterr()
    assert run_import(config, newer) == 0
    out = capsys.readouterr().out
    assert "0 added, 1 changed" in out, out
    row = next(r for r in orders_rows(tmp_path) if r["Order ID"] == "#1042")
    assert row["Status"] == "SHIPPED"
    assert row["Shipped at"] == datetime(2026, 3, 5, 10, 0)
    assert row["Customer"] == "Zoe B." and row["Notes"] == "fragile"
    assert row["Forwarder"] == "Royal Mail"


def test_dry_run_prints_the_lines_it_would_add_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_shop(tmp_path)
    before = digest(tmp_path / "workbook.xlsx")
    assert run_import(config, EXPORTS / "shopify_orders.csv", extra=("--dry-run",)) == 0
    out = capsys.readouterr().out
    assert "would be added" in out and "nothing written" in out
    assert "add #1041 / TOWEL-SAGE" in out
    assert digest(tmp_path / "workbook.xlsx") == before


def test_an_unusable_file_is_exit_2_naming_file_line_and_column_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_shop(tmp_path)
    before = digest(tmp_path / "workbook.xlsx")
    cut = tmp_path / "cut.csv"
    lines = (EXPORTS / "shopify_orders.csv").read_text(encoding="utf-8").splitlines()
    cut.write_text("\n".join([*lines[:3], lines[3][:60]]) + "\n", encoding="utf-8")
    # a good file first: nothing of it is written either
    code = run_import(config, EXPORTS / "shopify_orders.csv", cut)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert "cut.csv, line 4, column" in err
    assert digest(tmp_path / "workbook.xlsx") == before


def test_an_unknown_layout_and_an_unknown_format_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_shop(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    assert run_import(config, other) == 2
    assert "other.csv: not an orders export" in capsys.readouterr().err
    assert run_import(config, EXPORTS / "shopify_orders.csv", extra=("--format", "magento")) == 2
    assert '--format "magento" is not a known export' in capsys.readouterr().err
    assert run_import(config, tmp_path / "missing.csv") == 2
    assert "missing.csv: no such file" in capsys.readouterr().err


def test_lines_with_problems_are_imported_without_those_values_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the shop sells in GBP: every USD price is a problem, and left blank
    config = make_shop(tmp_path, currency="GBP")
    assert run_import(config, EXPORTS / "shopify_orders.csv") == 1
    out = capsys.readouterr().out
    assert "while the shop's currency is GBP" in out
    rows = orders_rows(tmp_path)
    assert rows and all(r["Unit price"] is None for r in rows)


def test_values_from_a_file_never_become_formulas(tmp_path: Path) -> None:
    config = make_shop(tmp_path)
    evil = tmp_path / "evil.csv"
    text = (EXPORTS / "shopify_orders.csv").read_text(encoding="utf-8")
    text = text.replace("Harriet Vance", '"=HYPERLINK(""http://x.example"",""hi"")"')
    text = text.replace("Cambridge", "+1+1")
    evil.write_text(text, encoding="utf-8")
    assert run_import(config, evil) == 0
    wb = openpyxl.load_workbook(tmp_path / "workbook.xlsx")
    ws = wb["Orders"]
    customer_col = ORDERS_HEADER.index("Customer") + 1
    city_col = ORDERS_HEADER.index("City") + 1
    cells = [ws.cell(row=2, column=customer_col), ws.cell(row=2, column=city_col)]
    assert [c.value for c in cells] == ['=HYPERLINK("http://x.example","hi")', "+1+1"]
    assert all(c.data_type == "s" for c in cells)


def test_columns_the_orders_tab_lacks_are_not_added_and_the_summary_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_shop(tmp_path)
    assert run_import(config, EXPORTS / "shopify_orders.csv") == 0
    out = capsys.readouterr().out
    assert "Orders has no column for State, Payment: not imported" in out
    wb = openpyxl.load_workbook(tmp_path / "workbook.xlsx")
    header = [c.value for c in wb["Orders"][1]]
    assert header == ORDERS_HEADER


def test_payment_state_and_qty_shipped_are_filled_where_the_tab_has_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = [*ORDERS_HEADER, "State", "Payment", "Qty shipped"]
    config = make_shop(tmp_path, header=header)
    assert run_import(config, EXPORTS / "shopify_orders.csv") == 0
    rows = {r["Order ID"]: r for r in orders_rows(tmp_path)}
    assert rows["#1041"]["Payment"] == "PAID"
    assert rows["#1047"]["Payment"] == "PENDING"
    assert rows["#1042"]["State"]


@pytest.mark.parametrize(
    "name",
    [
        "woocommerce_orders.csv",
        "amazon_orders.txt",
        "etsy_orders.csv",
        "ebay_orders.csv",
    ],
)
def test_every_platform_imports_and_a_second_import_is_a_no_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    config = make_shop(tmp_path)
    shutil.copy(EXPORTS / name, tmp_path / name)
    assert run_import(config, tmp_path / name) in (0, 1)
    assert orders_rows(tmp_path)
    capsys.readouterr()
    before = digest(tmp_path / "workbook.xlsx")
    assert run_import(config, tmp_path / name) in (0, 1)
    assert "0 added, 0 changed" in capsys.readouterr().out
    assert digest(tmp_path / "workbook.xlsx") == before


def test_import_into_a_google_sheet_writes_formula_text_as_text_and_reimports_nothing(
    sheets_emulator: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet_id = sheets_emulator.create_spreadsheet(  # type: ignore[attr-defined]
        sheets={"Orders": [ORDERS_HEADER], "Stock": [["SKU", "On hand"]]}
    )
    config = tmp_path / "config.toml"
    config.write_text(
        'timezone = "America/New_York"\ncurrency = "USD"\n'
        f'[workbook]\nbackend = "google"\nspreadsheet_id = "{sheet_id}"\n'
        '[state]\npath = "state.db"\n',
        encoding="utf-8",
    )
    evil = tmp_path / "evil.csv"
    text = (EXPORTS / "shopify_orders.csv").read_text(encoding="utf-8")
    evil.write_text(text.replace("Harriet Vance", "@SUM(A1)"), encoding="utf-8")
    assert run_import(config, evil) == 0
    sheet = sheets_emulator.spreadsheet(sheet_id)  # type: ignore[attr-defined]
    formulas = sheet.get_values("Orders", "FORMULA")
    customer = ORDERS_HEADER.index("Customer")
    assert formulas[1][0] == "#1041" and formulas[1][customer] == "@SUM(A1)"
    capsys.readouterr()
    assert run_import(config, evil) == 0
    assert "0 added, 0 changed" in capsys.readouterr().out
