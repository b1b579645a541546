"""Etsy: Shop Manager → Settings → Options → Download Data (orders CSVs).

Two files, named ``EtsySoldOrderItems<yyyy>-<mm>.csv`` and
``EtsySoldOrders<yyyy>-<mm>.csv``. Etsy's own help page on them was not
available to us; the layout is learnt from public code that reads them:

- ``YitongM/Etsy2ParcelMonkeyCSV``
  ``Etsy2ParcelMonkeyCSV/Models/EtsyImportModel.cs`` (the sold orders file, in the
  en-GB spelling: ``Date Posted``, ``Delivery City``…);
- ``braydenmcb/etsy-sales-dashboard`` ``etsy-dashboard/src/api/parsers.ts`` and
  ``etsy-dashboard/src/validators/validateCsvFile.tsx`` (both files' columns);
- ``SouvTech-CMS/frontend`` ``src/constant/orderStatus.ts`` (receipt statuses:
  paid, completed, open, canceled, partially/fully refunded).

``etsy`` — the sold order items file: one row per transaction, the order's fields
on every row, dates ``MM/DD/YY`` without a time, ``Price`` per unit, no e-mail and
**no status column**: a line is SHIPPED once ``Date Shipped`` is set, PAID once
``Date Paid`` is. ``Transaction ID`` is unique per row, so the same SKU twice in an
order (two personalised boards) is two lines.

``etsy-orders`` — the sold orders file: one row per order with its ``Status``. It
adds no lines; imported after the items file, it marks the order's lines
cancelled or refunded.

Column names follow the account's language: en-GB accounts get ``Date Posted``
for ``Date Shipped`` and ``Delivery …`` for ``Ship …``; both are read. Neither file
has a tracking number or a delivery date.
"""

from __future__ import annotations

from .base import Alt, Join, Preset, RowView

_SHIPPED = Alt("Date Shipped", "Date Posted")
_DATES = ("%m/%d/%y", "%m/%d/%Y", "%b %d, %Y")
_NOTE = (
    "No e-mail, tracking number or delivery date; the items file has no status "
    "(shipped = Date Shipped is set)."
)


def _items_status(row: RowView) -> str:
    return "shipped" if row.text(_SHIPPED) else "not shipped"


def _items_payment(row: RowView) -> str:
    return "paid" if row.text("Date Paid") else "not paid"


ETSY = Preset(
    name="etsy",
    platform="etsy",
    title="Etsy: Download Data → Orders → Order Items (EtsySoldOrderItems CSV)",
    sources=(
        "github.com/braydenmcb/etsy-sales-dashboard etsy-dashboard/src/api/parsers.ts",
        "github.com/YitongM/Etsy2ParcelMonkeyCSV Etsy2ParcelMonkeyCSV/Models/EtsyImportModel.cs",
    ),
    signature=("Order ID", "Transaction ID", "Listing ID", "Item Name"),
    columns={
        "order_id": "Order ID",
        "order_date": "Sale Date",
        "customer": Alt("Ship Name", "Delivery Name", "Buyer"),
        "email": None,
        "address": Join(
            ", ",
            Alt("Ship Address1", "Delivery Address1"),
            Alt("Ship Address2", "Delivery Address2"),
        ),
        "city": Alt("Ship City", "Delivery City"),
        "state": Alt("Ship State", "Delivery State"),
        "postcode": Alt("Ship Zipcode", "Delivery Zipcode"),
        "country": Alt("Ship Country", "Delivery Country"),  # a full name: United States
        "sku": "SKU",
        "qty": "Quantity",
        "unit_price": "Price",
        "status": None,  # derived from Date Shipped
        "tracking": None,
        "shipped_at": _SHIPPED,
        "delivered_at": None,
        "payment": None,  # derived from Date Paid
        "qty_shipped": None,
    },
    order_group="Order ID",
    product_name="Item Name",
    line_id="Transaction ID",
    status_word=_items_status,
    status_words={"shipped": "SHIPPED", "not shipped": "NEW"},
    payment_word=_items_payment,
    payment_words={"paid": "PAID", "not paid": "PENDING"},
    currency="Currency",
    date_formats=_DATES,
    notes=_NOTE,
)

ETSY_ORDERS = Preset(
    name="etsy-orders",
    platform="etsy",
    title="Etsy: Download Data → Orders → Orders (EtsySoldOrders CSV)",
    sources=(
        "github.com/YitongM/Etsy2ParcelMonkeyCSV Etsy2ParcelMonkeyCSV/Models/EtsyImportModel.cs",
        "github.com/braydenmcb/etsy-sales-dashboard etsy-dashboard/src/api/parsers.ts",
        "github.com/SouvTech-CMS/frontend src/constant/orderStatus.ts",
    ),
    signature=("Order ID", "Number of Items", "Order Total", "Status"),
    columns={
        "order_id": "Order ID",
        "order_date": None,
        "status": "Status",
        "shipped_at": _SHIPPED,
        "payment": "Status",
    },
    order_group="Order ID",
    status_words={
        "completed": "SHIPPED",
        "paid": "NEW",
        "open": "NEW",
        "partially refunded": "NEW",  # says nothing about shipping
        "canceled": "CANCELLED",
        "cancelled": "CANCELLED",
        "fully refunded": "CANCELLED",
        "refunded": "CANCELLED",
    },
    payment_words={
        "completed": "PAID",
        "paid": "PAID",
        "open": "PENDING",
        "partially refunded": "PAID",
        "canceled": "VOIDED",
        "cancelled": "VOIDED",
        "fully refunded": "REFUNDED",
        "refunded": "REFUNDED",
    },
    date_formats=_DATES,
    line_level=False,
    notes="One row per order: it updates the status and payment of lines already known.",
)
