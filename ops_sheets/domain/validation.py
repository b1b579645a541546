"""Checks across tabs: the problems a person would spot by reading the whole sheet.

Pure functions of parsed tables. Every job runs them (through the runner), so the
Problems tab shows the same data problems whichever job ran last; each job's own
findings (a PO that could not be placed...) come on top.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ops_sheets.domain.allocation import read_kits
from ops_sheets.sheet.tables import Problem, Table

Check = Callable[[Mapping[str, Table]], list[Problem]]

OPEN_ORDER_STATUSES = ("NEW", "PACKED", "READY", "ON HOLD")


def _known(table: Table, column: str) -> set[str]:
    """Every value on the tab, rows skipped for a duplicate key included: a SKU typed
    twice on Stock is a duplicate (its own problem), not an unknown SKU."""
    if not table.exists or table.all_rows.empty:
        return set()
    return set(table.all_rows[column].dropna().astype(str))


def _rows(table: Table, mask: pd.Series) -> Iterable[pd.Series]:
    for _, row in table.frame[mask].iterrows():
        yield row


def _key(table: Table, row: pd.Series) -> str:
    return " / ".join(str(row[k]) if pd.notna(row[k]) else "" for k in table.spec.key_columns)


def _problem(
    table: Table, row: pd.Series, column: str, value: object, problem: str, fix: str
) -> Problem:
    return Problem(
        table.title,
        int(row["_row"]),
        table.header(column),
        _key(table, row),
        "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value),
        problem,
        fix,
    )


def unknown_references(tables: Mapping[str, Table]) -> list[Problem]:
    """SKUs, suppliers and forwarders named in one tab but missing from their own tab."""
    out: list[Problem] = []
    stock, suppliers, forwarders = (
        tables.get("stock"),
        tables.get("suppliers"),
        tables.get("forwarders"),
    )
    skus = _known(stock, "sku") if stock else set()
    refs = [
        ("orders", "sku", stock, skus, "SKU", "Stock"),
        ("purchase_orders", "sku", stock, skus, "SKU", "Stock"),
        ("returns", "sku", stock, skus, "SKU", "Stock"),
    ]
    if suppliers is not None and suppliers.exists:
        names = _known(suppliers, "supplier")
        refs += [
            ("stock", "supplier", suppliers, names, "supplier", "Suppliers"),
            ("purchase_orders", "supplier", suppliers, names, "supplier", "Suppliers"),
        ]
    if forwarders is not None and forwarders.exists:
        refs.append(
            (
                "orders",
                "forwarder",
                forwarders,
                _known(forwarders, "forwarder"),
                "forwarder",
                "Forwarders",
            )
        )
    for tab_key, column, target, known, noun, _target_title in refs:
        table = tables.get(tab_key)
        if table is None or target is None or not target.exists or table.frame.empty:
            continue
        if target.all_rows.empty:
            continue  # the target tab is unusable (its own problem says why): no echo
        values = table.frame[column]
        mask = values.notna() & ~values.astype(str).isin(known)
        for row in _rows(table, mask):
            found = _problem(
                table,
                row,
                column,
                row[column],
                f"unknown {noun} {row[column]!r}: not on the {target.title} tab",
                f"correct the {noun}, or add it to the {target.title} tab",
            )
            # worked out from the target tab too: kept while that one cannot be read
            out.append(dataclasses.replace(found, depends=(target.spec.key,)))
    return out


def order_checks(tables: Mapping[str, Table]) -> list[Problem]:
    """Order lines that cannot be shipped or tracked as they stand."""
    orders = tables.get("orders")
    if orders is None or orders.frame.empty:
        return []
    f = orders.frame
    out: list[Problem] = []
    qty = f["qty"]
    bad_qty = qty.notna() & ((qty <= 0) | (qty % 1 != 0))
    for row in _rows(orders, bad_qty):
        out.append(
            _problem(
                orders,
                row,
                "qty",
                row["qty"],
                "Qty is not a positive whole number",
                "type the number of units, e.g. 1",
            )
        )
    open_ = f["status"].isin(OPEN_ORDER_STATUSES)
    out += address_problems(orders, open_.to_numpy(dtype=bool))
    ready_no_fwd = (f["status"] == "READY") & f["forwarder"].isna()
    for row in _rows(orders, ready_no_fwd):
        out.append(
            _problem(
                orders,
                row,
                "forwarder",
                None,
                "READY but no Forwarder",
                "choose the forwarder that will collect this parcel",
            )
        )
    shipped_before = (
        f["shipped_at"].notna() & f["order_date"].notna() & (f["shipped_at"] < f["order_date"])
    )
    for row in _rows(orders, shipped_before):
        out.append(
            _problem(
                orders,
                row,
                "shipped_at",
                row["shipped_at"],
                "Shipped at is before Order date",
                "check both dates",
            )
        )
    delivered_before = (
        f["delivered_at"].notna() & f["shipped_at"].notna() & (f["delivered_at"] < f["shipped_at"])
    )
    for row in _rows(orders, delivered_before):
        out.append(
            _problem(
                orders,
                row,
                "delivered_at",
                row["delivered_at"],
                "Delivered at is before Shipped at",
                "check both dates",
            )
        )
    shipped_no_date = f["status"].isin(("SHIPPED", "DELIVERED")) & f["shipped_at"].isna()
    for row in _rows(orders, shipped_no_date):
        out.append(
            _problem(
                orders,
                row,
                "shipped_at",
                None,
                f"{row['status']} without Shipped at",
                "fill in when the parcel left",
            )
        )
    out += _disagreeing_orders(orders)
    return out


def address_problems(orders: Table, open_: np.ndarray) -> list[Problem]:
    """Open lines whose delivery address fails its country's rules (blank required
    fields, unknown country, postcode pattern, missing state; see domain.postal)."""
    from ops_sheets.domain.postal import line_issues

    f = orders.frame
    found = line_issues(f, open_, state_column="state" in orders.headers)
    out: list[Problem] = []
    for pos in sorted(found):
        row = f.iloc[pos]
        issues = found[pos]
        # blank fields in one row, as people read them: "City, Postcode blank"
        blank = [i for i in issues if i.blank and i.column != "state"]
        if blank:
            names = ", ".join(orders.header(i.column) for i in blank)
            text = f"incomplete address on an open order: {names} blank"
            out.append(_problem(orders, row, blank[0].column, None, text, blank[0].fix))
        for issue in issues:
            if issue in blank:
                continue
            out.append(_problem(orders, row, issue.column, issue.value, issue.problem, issue.fix))
    return out


def _disagreeing_orders(orders: Table) -> list[Problem]:
    """One order ID, several lines: they must agree on who and where."""
    f = orders.frame[orders.frame["order_id"].notna()]
    fields = ["customer", "address", "city", "postcode", "country"]
    out: list[Problem] = []
    multi = f[f.duplicated("order_id", keep=False)]
    if multi.empty:
        return out
    norm = pd.DataFrame({c: _compared(multi[c]) for c in fields}, index=multi.index)
    distinct = norm.groupby(multi["order_id"], sort=False).nunique()
    for column in fields:
        for order_id in distinct.index[distinct[column] > 1]:
            lines = multi[multi["order_id"] == order_id]
            first = lines.iloc[0]
            rows = ", ".join(str(r) for r in lines["_row"])
            out.append(
                _problem(
                    orders,
                    first,
                    column,
                    first[column],
                    f"order {order_id} lines disagree on {orders.header(column)} (rows {rows})",
                    "make every line of the order show the same customer and address",
                )
            )
    return out


def _compared(column: pd.Series) -> pd.Series:
    """A code per value as compared (spaces around and case do not matter; blank is
    NaN): each distinct value is normalised once, not each line."""
    codes, uniques = pd.factorize(column)
    same, _ = pd.factorize(pd.Index([str(u).strip().casefold() for u in uniques], dtype=object))
    compared = same[codes].astype("float64") if len(uniques) else codes.astype("float64")
    compared[codes < 0] = np.nan
    return pd.Series(compared, index=column.index)


def _quantity(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def stock_checks(tables: Mapping[str, Table]) -> list[Problem]:
    """Stock rows that parse but cannot be right: the numbers are used as they are
    (a negative On hand is OUT OF STOCK), so the team hears why orders look wrong."""
    stock = tables.get("stock")
    if stock is None or stock.frame.empty:
        return []
    f = stock.frame
    out: list[Problem] = []
    on_hand = f["on_hand"]
    for row in _rows(stock, on_hand.notna() & (on_hand < 0)):
        out.append(
            _problem(
                stock,
                row,
                "on_hand",
                _quantity(row["on_hand"]),
                f"oversold by {_quantity(-row['on_hand'])} — count the stock",
                f"count the units on the shelf and type that number in {stock.header('on_hand')}",
            )
        )
    # Max stock is what an order tops up to; below the Reorder point an order
    # placed at the reorder point cannot even reach it.
    top, reorder = f["max_stock"], f["reorder_point"]
    for row in _rows(stock, top.notna() & reorder.notna() & (top < reorder)):
        max_header, reorder_header = stock.header("max_stock"), stock.header("reorder_point")
        out.append(
            _problem(
                stock,
                row,
                "max_stock",
                _quantity(row["max_stock"]),
                f"{max_header} {_quantity(row['max_stock'])} is below the {reorder_header} "
                f"{_quantity(row['reorder_point'])}: orders will be too small",
                f"raise {max_header} above the {reorder_header}, or clear it to let the "
                "service compute it",
            )
        )
    return out


def address_checks(tables: Mapping[str, Table]) -> list[Problem]:
    """Every email cell holds exactly one valid address (mail goes only to those)."""
    out: list[Problem] = []
    for key in ("suppliers", "forwarders", "orders"):
        table = tables.get(key)
        if table is None or table.frame.empty or "email" not in table.headers:
            continue
        emails = table.frame["email"]
        for text in emails.dropna().unique():
            error = _address_error(str(text), table.header("email"))
            if error is not None:
                # the message says what is wrong; after its "; " comes how to fix it
                problem, _, fix = error.partition("; ")
                fix = fix or "enter exactly one address such as name@example.com"
                for row in _rows(table, emails == text):
                    out.append(_problem(table, row, "email", text, problem, fix))
    return out


@functools.lru_cache(maxsize=65_536)
def _address_error(text: str, what: str) -> str | None:
    """Why this cell is not one valid address, or None. Remembered: every job of a
    run checks the same addresses, and a shop's customers come back."""
    from ops_sheets.domain.addresses import is_plain_address, parse_address
    from ops_sheets.errors import AddressError

    if is_plain_address(text):
        return None  # what nearly every cell holds: valid without the full parse
    try:
        parse_address(text, what=what)
    except AddressError as err:
        return str(err)
    return None


def kit_checks(tables: Mapping[str, Table]) -> list[Problem]:
    """Kits that cannot be used (issue 16): one that contains itself, a component not
    on the Stock tab, a component without a positive Qty. Only for jobs that read
    the Kits tab (``READS``), every one of them, so no run drops another's rows."""
    kits, stock = tables.get("kits"), tables.get("stock")
    if kits is None or stock is None or not kits.exists or not kits.available:
        return []
    if not stock.available:  # every component would look unknown: judged when it can be
        return []
    skus = pd.Index(stock.frame["sku"].dropna().astype(str).unique())
    # a component "not on the Stock tab" is worked out from Stock too
    return [
        dataclasses.replace(p, depends=("stock",))
        for p in read_kits(kits.frame, skus, kits.title).problems
    ]


CHECKS: list[Check] = [
    unknown_references, order_checks, stock_checks, address_checks, kit_checks
]  # fmt: skip


def validate(tables: Mapping[str, Table]) -> list[Problem]:
    problems: list[Problem] = []
    for check in CHECKS:
        problems += check(tables)
    return problems
