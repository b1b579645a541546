"""WooCommerce: the three order CSVs a WooCommerce shop can get.

WooCommerce itself exports products, not orders. Order CSVs come from:

1. ``woocommerce`` — the woocommerce.com extension "Customer / Order / Coupon
   Export" (SkyVerge), format "Default – One Row per Item".
   Docs: https://docs.woocommerce.com/document/ordercustomer-csv-exporter/ .
   Code: ``lafranceinsoumise/woocommerce-customer-order-csv-export``
   ``includes/class-wc-customer-order-csv-export-formats.php`` (the column list of
   ``default_one_row_per_item``) and ``…-generator.php`` (values: ``date`` is
   ``$order->order_date``, site-local without offset; ``status`` the slug; money
   through ``wc_format_decimal(x, 2)``; ``item_sku`` is ``unknown_product`` for a
   deleted product; values starting ``= + - @`` get a ``'`` prefix); SkyVerge
   staff gist https://gist.github.com/tamarazuk/46e66064a40c4a611397 .
   Order fields repeat on every row; ``item_id`` is the order item's id.
2. ``woocommerce-algolplus`` — "Advanced Order Export For WooCommerce" (AlgolPlus,
   https://wordpress.org/plugins/woo-order-export-lite/). Field labels and
   defaults from the plugin's
   ``classes/core/class-wc-order-export-data-extractor-ui.php`` (vendored in
   ``cinghie/wordpress-starter-pack``); the "Format numbers (use WC decimal
   separator)" option in its ``view/settings-form.php``, so a German store writes
   ``12,50`` and ``1.049,00``: this preset reads numbers with the shop's
   ``[numbers] decimal``. Status is the label (``Processing``, ``On hold``…),
   in the admin's language: map other languages in ``[tabs.orders.values]``.
   Columns can be renamed and reordered, so only a few are required.
3. ``woocommerce-analytics`` — Analytics → Orders → Download, built into
   WooCommerce: ``woocommerce/woocommerce``
   ``plugins/woocommerce/client/admin/client/analytics/report/orders/table.js``
   (headers and values), ``packages/js/csv-export/src/index.ts`` (how the browser
   writes it), ``src/Admin/API/Reports/Orders/DataStore.php``; docs
   https://woocommerce.com/document/woocommerce-analytics/ . One row per order,
   products as ``"2× Name, 1× Name"``, no SKU, no address, no e-mail, no price:
   lines get their SKU from the product name (``[tabs.orders.values] sku`` or the
   Stock tab's Product column); it can feed demand and KPIs, never a pickup.

Statuses (slugs; the database keeps them as ``wc-<slug>``): ``pending``
(Pending payment), ``processing``, ``on-hold``, ``completed``, ``cancelled``,
``refunded``, ``failed``, ``checkout-draft`` (not an order yet: left out).
``completed`` means fulfilled, so SHIPPED; none of the three files has a ship date
(AlgolPlus only if the shop ticks ``Completed Date``), a tracking number or a
delivery date.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .base import Alt, Join, Preset, RowView

_STATUS_WORDS = {
    "pending": "NEW",
    "pending payment": "NEW",
    "processing": "NEW",
    "on hold": "ON HOLD",
    "completed": "SHIPPED",
    "cancelled": "CANCELLED",
    "refunded": "CANCELLED",
    "failed": "CANCELLED",
}
_PAYMENT_WORDS = {
    "pending": "PENDING",
    "pending payment": "PENDING",
    "processing": "PAID",
    "on hold": "PENDING",  # awaiting a bank transfer or cheque
    "completed": "PAID",
    "cancelled": "VOIDED",
    "refunded": "REFUNDED",
    "failed": "VOIDED",
}
_DATES = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_NOTE = (
    "No ship date, tracking number or delivery date: Tracking and Forwarder stay the "
    "team's, and shipped lines are never judged stuck from this file."
)


def _slug(header: str) -> Callable[[RowView], str]:
    def word(row: RowView) -> str:
        text = row.text(header)
        return text[3:] if text.casefold().startswith("wc-") else text

    return word


def _skip_draft(header: str) -> Callable[[RowView], str]:
    def skip(row: RowView) -> str:
        if _slug(header)(row).casefold().replace("_", "-") == "checkout-draft":
            return "checkout drafts (not orders yet)"
        return ""

    return skip


WOOCOMMERCE = Preset(
    name="woocommerce",
    platform="woocommerce",
    title="WooCommerce: Customer / Order / Coupon Export, “Default – One Row per Item”",
    sources=(
        "https://docs.woocommerce.com/document/ordercustomer-csv-exporter/",
        "github.com/lafranceinsoumise/woocommerce-customer-order-csv-export "
        "includes/class-wc-customer-order-csv-export-formats.php",
        "https://gist.github.com/tamarazuk/46e66064a40c4a611397",
    ),
    signature=("order_id", "status", "item_sku", "item_quantity"),
    columns={
        "order_id": Alt("order_number", "order_id"),
        "order_date": "date",
        "customer": Alt(
            Join(" ", "shipping_first_name", "shipping_last_name"),
            Join(" ", "billing_first_name", "billing_last_name"),
        ),
        "email": "billing_email",
        "address": Alt(
            Join(", ", "shipping_address_1", "shipping_address_2"),
            Join(", ", "billing_address_1", "billing_address_2"),
        ),
        "city": Alt("shipping_city", "billing_city"),
        "state": Alt("shipping_state", "billing_state"),
        "postcode": Alt("shipping_postcode", "billing_postcode"),
        "country": Alt("shipping_country", "billing_country"),
        "sku": "item_sku",
        "qty": "item_quantity",
        # the line's subtotal before discounts, excluding tax: ÷ quantity
        "unit_price": "item_subtotal",
        "status": "status",
        "tracking": None,
        "shipped_at": None,
        "delivered_at": None,
        "payment": "status",
        "qty_shipped": None,
    },
    order_group="order_id",
    product_name="item_name",
    sku_placeholders=("unknown_product",),
    line_id="item_id",
    status_word=_slug("status"),
    status_words=_STATUS_WORDS,
    payment_word=_slug("status"),
    payment_words=_PAYMENT_WORDS,
    price_is_line_total=True,
    currency="order_currency",
    date_formats=_DATES,
    skip_row=_skip_draft("status"),
    notes=_NOTE,
)

WOOCOMMERCE_ALGOLPLUS = Preset(
    name="woocommerce-algolplus",
    platform="woocommerce",
    title="WooCommerce: Advanced Order Export For WooCommerce (AlgolPlus), CSV",
    sources=(
        "https://wordpress.org/plugins/woo-order-export-lite/",
        "github.com/cinghie/wordpress-starter-pack wp-content/plugins/woo-order-export-lite/"
        "classes/core/class-wc-order-export-data-extractor-ui.php",
    ),
    signature=("Order Number", "Order Status", "SKU", "Quantity"),
    columns={
        "order_id": "Order Number",
        "order_date": "Order Date",
        "customer": Alt(
            Join(" ", "First Name (Shipping)", "Last Name (Shipping)"),
            "Full Name (Shipping)",
            Join(" ", "First Name (Billing)", "Last Name (Billing)"),
        ),
        "email": "Email (Billing)",
        "address": Alt(
            "Address 1&2 (Shipping)",
            Join(", ", "Address 1 (Shipping)", "Address 2 (Shipping)"),
            "Address 1&2 (Billing)",
        ),
        "city": Alt("City (Shipping)", "City (Billing)"),
        "state": Alt("State Code (Shipping)", "State Name (Shipping)", "State Code (Billing)"),
        "postcode": Alt("Postcode (Shipping)", "Postcode (Billing)"),
        "country": Alt(
            "Country Code (Shipping)", "Country Name (Shipping)", "Country Code (Billing)"
        ),
        "sku": "SKU",
        "qty": "Quantity",
        "unit_price": "Item Cost",
        "status": "Order Status",
        "tracking": None,
        "shipped_at": "Completed Date",  # not a default field; used when ticked
        "delivered_at": None,
        "payment": "Order Status",
        "qty_shipped": None,
    },
    order_group="Order Number",
    # with "fill order columns on product rows" off, only the first row has them
    order_fields=(
        "Order Status",
        "Order Date",
        "Completed Date",
        "First Name (Shipping)",
        "Last Name (Shipping)",
        "Full Name (Shipping)",
        "First Name (Billing)",
        "Last Name (Billing)",
        "Email (Billing)",
        "Address 1&2 (Shipping)",
        "Address 1 (Shipping)",
        "Address 2 (Shipping)",
        "Address 1&2 (Billing)",
        "City (Shipping)",
        "City (Billing)",
        "State Code (Shipping)",
        "State Name (Shipping)",
        "State Code (Billing)",
        "Postcode (Shipping)",
        "Postcode (Billing)",
        "Country Code (Shipping)",
        "Country Name (Shipping)",
        "Country Code (Billing)",
        "Currency",
    ),
    product_name="Item Name",
    line_id="Item #",  # the line's number within the order (1, 2, …)
    status_word=_slug("Order Status"),
    status_words=_STATUS_WORDS,
    payment_word=_slug("Order Status"),
    payment_words=_PAYMENT_WORDS,
    currency="Currency",
    date_formats=(*_DATES, "%d.%m.%Y %H:%M", "%d.%m.%Y"),
    decimal=None,  # "Format numbers" writes the store's decimal separator
    delimiters=(",", ";"),
    skip_row=_skip_draft("Order Status"),
    notes=_NOTE,
)

# "2× Linen Tea Towel - Sage, 1× Stoneware Mug": names may hold ", ", so split
# where a count and "× " start the next product.
_PRODUCTS = re.compile(r"(?:^|,\s)(\d+)\s?× ")


def _analytics_lines(row: RowView) -> list[dict[str, str]]:
    listed = row.text("Product(s)")
    starts = list(_PRODUCTS.finditer(listed))
    if not starts:
        return [{}]  # one line as it is: the product list is not in the known form
    lines = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(listed)
        lines.append({"Product(s)": listed[match.end() : end].strip(), "Items sold": match[1]})
    return lines


def _skip_analytics(row: RowView) -> str:
    if row.text("Items sold").lstrip().startswith("-") or row.text("Items sold") in ("0", ""):
        return "refund rows (no items sold)"
    return _skip_draft("Status")(row)


WOOCOMMERCE_ANALYTICS = Preset(
    name="woocommerce-analytics",
    platform="woocommerce",
    title="WooCommerce: Analytics → Orders → Download",
    sources=(
        "https://woocommerce.com/document/woocommerce-analytics/",
        "github.com/woocommerce/woocommerce plugins/woocommerce/client/admin/client/"
        "analytics/report/orders/table.js",
        "github.com/woocommerce/woocommerce packages/js/csv-export/src/index.ts",
    ),
    signature=("Order #", "Status", "Product(s)", "Items sold"),
    columns={
        "order_id": "Order #",
        "order_date": "Date",
        "customer": "Customer",
        "email": None,
        "address": None,
        "city": None,
        "state": None,
        "postcode": None,
        "country": None,
        "sku": None,  # from the product name
        "qty": "Items sold",
        "unit_price": None,
        "status": "Status",
        "tracking": None,
        "shipped_at": None,
        "delivered_at": None,
        "payment": "Status",
        "qty_shipped": None,
    },
    order_group="Order #",
    product_name="Product(s)",
    status_word=_slug("Status"),
    status_words=_STATUS_WORDS,
    payment_word=_slug("Status"),
    payment_words=_PAYMENT_WORDS,
    date_formats=_DATES,
    skip_row=_skip_analytics,
    expand_row=_analytics_lines,
    notes=(
        "One row per order with product names only: no SKU, address, e-mail or price. "
        "Lines get their SKU from the product name; they count for demand and KPIs "
        "but hold no address to ship to."
    ),
)
