"""Shopify: Admin → Orders → Export ("Export orders", CSV for Excel or plain CSV).

Where the layout comes from:

- Shopify Help, "Exporting orders" (the CSV's columns; "orders with multiple line
  items display their additional items on separate rows. Many fields will be left
  blank"): https://help.shopify.com/en/manual/orders/manage-orders/exporting-orders
- Shopify Help, Transporter "Order CSV column descriptions" (the valid
  ``Financial Status`` and ``Fulfillment Status`` words):
  https://help.shopify.com/en/manual/migrating-to-shopify/transporter-app/csv-orders
- Public code that parses the export: ``ospos-org/migrator``
  ``src/parser/format/shopify.rs`` (the 79-column header);
  ``trollspank/shopify2woo`` ``app/order.py`` (groups rows by ``Name``, strips the
  ``'`` Shopify puts before zip codes); ``monghaii/etsy-warehouse-mgmt``
  ``src/app/api/shopify/import-csv/route.js`` (address from the order's first row);
  ``AaronLain/tenderloin_v1`` ``orders/orders.go``.
- Third-party description of the first-row-only fields:
  https://docs.xbp.app/docs/development/integrations/shopify/order-format

What the file is like: one row per line item, an order's rows together and sharing
``Name``. The order's money, statuses, addresses, notes and dates other than
``Created at`` are on its first row only (current exports repeat ``Created at`` and
``Email`` on every row; older ones do not, so both fill down). Dates are
``2026-03-02 09:14:01 -0500`` (the shop's offset at that moment). Zip codes may
carry a leading ``'`` (kept for Excel). There is no tracking number, no line item
id and no delivery date, so Tracking and Forwarder stay the team's and a shipped
line is never judged stuck from this file.
"""

from __future__ import annotations

from .base import Alt, Join, Preset, RowView


def _status_word(row: RowView) -> str:
    """The line's word: cancelled orders first, then the line's own fulfilment status.

    A partly fulfilled order says ``partial`` at order level; only the line column
    tells which lines went out. Files without that column fall back to the order's.
    """
    if row.text("Cancelled at"):
        return "cancelled"
    return row.text("Lineitem fulfillment status") or row.text("Fulfillment Status")


SHOPIFY = Preset(
    name="shopify",
    platform="shopify",
    title="Shopify: Orders → Export (CSV)",
    sources=(
        "https://help.shopify.com/en/manual/orders/manage-orders/exporting-orders",
        "https://help.shopify.com/en/manual/migrating-to-shopify/transporter-app/csv-orders",
        "github.com/ospos-org/migrator src/parser/format/shopify.rs",
        "github.com/trollspank/shopify2woo app/order.py",
        "github.com/monghaii/etsy-warehouse-mgmt src/app/api/shopify/import-csv/route.js",
    ),
    signature=("Name", "Financial Status", "Lineitem quantity", "Lineitem sku"),
    columns={
        "order_id": "Name",
        "order_date": "Created at",
        "customer": Alt("Shipping Name", "Billing Name"),
        "email": "Email",
        "address": Alt("Shipping Street", Join(", ", "Shipping Address1", "Shipping Address2")),
        "city": "Shipping City",
        "state": "Shipping Province",
        "postcode": "Shipping Zip",
        "country": "Shipping Country",
        "sku": "Lineitem sku",
        "qty": "Lineitem quantity",
        "unit_price": "Lineitem price",
        "status": None,  # derived: see _status_word
        "tracking": None,
        # order-level: kept only on lines that are shipped (a partial order's
        # pending lines inherit it by fill-down, and must not show it)
        "shipped_at": "Fulfilled at",
        "delivered_at": None,
        "payment": "Financial Status",
        "qty_shipped": None,
    },
    order_group="Name",
    order_fields=(
        "Email",
        "Created at",
        "Financial Status",
        "Paid at",
        "Fulfillment Status",
        "Fulfilled at",
        "Currency",
        "Shipping Name",
        "Shipping Street",
        "Shipping Address1",
        "Shipping Address2",
        "Shipping City",
        "Shipping Zip",
        "Shipping Province",
        "Shipping Country",
        "Billing Name",
        "Cancelled at",
    ),
    product_name="Lineitem name",
    status_word=_status_word,
    status_words={
        "fulfilled": "SHIPPED",
        "pending": "NEW",  # the line column's word for "not fulfilled yet"
        "unfulfilled": "NEW",
        "partial": "NEW",  # order-level word only: the line column says which went out
        "": "NEW",
        "restocked": "CANCELLED",
        "cancelled": "CANCELLED",
    },
    payment_words={
        "paid": "PAID",
        "pending": "PENDING",
        # authorised, captured at fulfilment by shops with manual capture: holding
        # those as unpaid would hold every order they have
        "authorized": "PAID",
        "partially paid": "PARTIALLY PAID",
        # the goods still go out after a partial refund
        "partially refunded": "PAID",
        "refunded": "REFUNDED",
        "voided": "VOIDED",
        "expired": "VOIDED",
    },
    currency="Currency",
    date_formats=(
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d",
    ),
    notes=(
        "No tracking number, carrier or delivery date: Tracking and Forwarder stay the "
        "team's, and shipped lines are never judged stuck from this file."
    ),
)
