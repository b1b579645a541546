"""eBay: Seller Hub → Orders → Download report ("Orders report", CSV).

eBay's help page on this report was not available to us; the layout is learnt
from public code that reads it:

- ``randomecho/shifted-sales-report`` ``README.md`` (the 82-column US header, with
  eBay's mixed quoting of header cells) and ``shifted_sales_report.py``
  (Quantity × ``Sold For``, with the ``$`` stripped: ``Sold For`` is per unit);
- ``jukibom/ebay2hermes`` ``ebay2hermes.php`` (the older Selling Manager export:
  skips the trailing lines, "multi-purchase order headers have no product ID",
  copies buyer and address from that header row to the item rows);
- en-GB column names from a public TypeScript ``EbayCSVRow`` interface
  (``Post to postcode``, ``Sold for``, ``Dispatched on date``).

What the file is like: line 1 is a row of bare commas, the header is on line 2,
line 3 is an empty row, and after the data come a blank line and the footer
``5,record(s) downloaded,from Mar-01-26 to Mar-07-26`` and ``Seller ID : …``. A
multi-item order is a *summary row* (no ``Item Number``; buyer, address, total
quantity, ``Sold For`` = the sum of its items) followed by one row per item that
leaves the buyer and address blank: the summary fills them in and is then
dropped, or its ``Sold For`` would count twice. Dates are ``Mar-02-26`` (no time),
money carries a symbol (``$30.00``, ``£12.00``).

The report has no status column and leaves out cancelled orders and refunds: a
line is SHIPPED once ``Shipped On Date`` is set, PAID once ``Paid On Date`` is.
Unpaid "commitments" have no ``Order Number`` yet; they are left out until eBay
gives them one, so the same order never lands twice under two numbers.
``Tracking Number`` is the only tracking any platform's export carries. eBay
gives an estimated delivery window but no delivery date.
"""

from __future__ import annotations

from .base import Alt, Join, Preset, RowView

_SHIPPED = Alt("Shipped On Date", "Dispatched on date")


def _status(row: RowView) -> str:
    return "shipped" if row.text(_SHIPPED) else "not shipped"


def _payment(row: RowView) -> str:
    return "paid" if row.text("Paid On Date") else "not paid"


def _skip_unpaid_commitment(row: RowView) -> str:
    if not row.text("Order Number"):
        return "unpaid sales without an eBay order number yet (imported once paid)"
    return ""


EBAY = Preset(
    name="ebay",
    platform="ebay",
    title="eBay: Seller Hub → Orders → Download report (Orders report, CSV)",
    sources=(
        "github.com/randomecho/shifted-sales-report README.md",
        "github.com/randomecho/shifted-sales-report shifted_sales_report.py",
        "github.com/jukibom/ebay2hermes ebay2hermes.php",
    ),
    signature=("Sales Record Number", "Order Number", "Item Number", "Sold For"),
    columns={
        "order_id": "Order Number",
        "order_date": "Sale Date",
        "customer": Alt("Ship To Name", "Post to name", "Buyer Name"),
        "email": "Buyer Email",
        "address": Join(
            ", ",
            Alt("Ship To Address 1", "Post to address 1"),
            Alt("Ship To Address 2", "Post to address 2"),
        ),
        "city": Alt("Ship To City", "Post to city"),
        "state": Alt("Ship To State", "Post to county"),
        "postcode": Alt("Ship To Zip", "Post to postcode"),
        "country": Alt("Ship To Country", "Post to country"),  # a full name
        "sku": "Custom Label",
        "qty": "Quantity",
        "unit_price": "Sold For",
        "status": None,  # derived from Shipped On Date
        "tracking": "Tracking Number",
        "shipped_at": _SHIPPED,
        "delivered_at": None,
        "payment": None,  # derived from Paid On Date
        "qty_shipped": None,
    },
    order_group="Sales Record Number",
    order_fields=(
        "Order Number",
        "Buyer Username",
        "Buyer Name",
        "Buyer Email",
        "Ship To Name",
        "Ship To Phone",
        "Ship To Address 1",
        "Ship To Address 2",
        "Ship To City",
        "Ship To State",
        "Ship To Zip",
        "Ship To Country",
        "Post to name",
        "Post to phone",
        "Post to address 1",
        "Post to address 2",
        "Post to city",
        "Post to county",
        "Post to postcode",
        "Post to country",
        "Sale Date",
        "Paid On Date",
        "Shipped On Date",
        "Dispatched on date",
        "Tracking Number",
    ),
    product_name="Item Title",
    line_id="Transaction ID",
    status_word=_status,
    status_words={"shipped": "SHIPPED", "not shipped": "NEW"},
    payment_word=_payment,
    payment_words={"paid": "PAID", "not paid": "PENDING"},
    date_formats=("%b-%d-%y", "%d-%b-%y", "%b-%d-%Y", "%d-%b-%Y"),
    summary_row=lambda row: not row.text("Item Number"),
    skip_row=_skip_unpaid_commitment,
    footer=(r"^\d+\s*,?\s*record\(s\) downloaded", r"^seller id\s*:"),
    notes=(
        "Cancelled orders and refunds are not in the report; no delivery date (only "
        "eBay's estimate), so shipped lines are never judged stuck from this file."
    ),
)
