"""Amazon Seller Central: the All Orders report and the Unshipped Orders report.

Both are tab-separated flat files without quoting (a ``"`` is a character), one
row per order item, the order's fields repeated on every row, dates in ISO 8601
with an offset (``2026-03-02T14:05:11+00:00``).

``amazon`` — All Orders report (``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL``):

- Field list, Seller Central help 200547170:
  https://sellercentral.amazon.com/gp/help/external/200547170 . It "does not
  include customer-identifying information": no name, street, phone or e-mail, so
  these lines cannot be booked until the Unshipped report (or the team) fills the
  address. ``item-price`` is the total for the row's quantity, not a unit price.
- Public code: ``caponica/AmazonMwsComplete``
  ``src/CaponicaAmazonMwsComplete/Domain/Report/ReportTrackingByOrderDateFlatFile.php``
  (the header) and ``…/ReportFbaSalesAllByLastUpdateFlatFile.php`` (the 32-column
  form with ``is-business-order``); ``JoeyFrancisTribbiani/stock``
  ``src/main/java/com/yy/stock/adaptor/amazon/dto/OrdersReportDTO.java``.
- ``item-status`` (``Unshipped``, ``Shipped``, ``Cancelled``) is per line and wins
  over ``order-status`` (a partly shipped order). Some marketplaces write
  ``Shipped - Delivered to Buyer`` and similar as the order status: that is the only
  delivery signal any platform gives, and it has no date.
- Lines fulfilled by Amazon (``fulfillment-channel`` ``Amazon``/``AFN``) are
  Amazon's to ship from its own stock, and ``sales-channel`` ``Non-Amazon`` lines
  are Multi-Channel Fulfilment of other shops' orders: both are left out.

``amazon-unshipped`` — Unshipped Orders report (seller-fulfilled orders not yet
confirmed shipped):

- Fields: https://www.amazon.ca/gp/help/customer/display.html?nodeId=200350680 ;
  code ``avazquez0191/xom-server`` ``src/platforms/amazon/columns.ts``.
- Has the recipient's name and address and a relay e-mail, no prices.
  ``payments-date`` blank means not paid yet; ``quantity-shipped`` is the part
  already shipped.

Both presets key lines by order + SKU + position, so an All Orders import after an
Unshipped one updates the same lines (the Unshipped report's ``order-item-id``
is kept as the line id where the sheet stores one).
"""

from __future__ import annotations

from .base import Join, Preset, RowView


def _all_orders_status(row: RowView) -> str:
    item = row.text("item-status")
    order = row.text("order-status")
    if "cancel" in item.casefold() or order.casefold() == "cancelled":
        return "Cancelled"
    if item.casefold() == "shipped":
        # "Shipped - Delivered to Buyer" and its kin say more than the item's word
        return order if order.casefold().startswith("shipped") else "Shipped"
    if item.casefold() == "unshipped":
        # the order may be "Shipped"/"PartiallyShipped" while this line is not
        return "Pending" if order.casefold() == "pending" else "Unshipped"
    return order or item


def _all_orders_payment(row: RowView) -> str:
    order = row.text("order-status").casefold()
    if order in ("pending", "cancelled"):
        return order
    return "paid"  # Amazon charges before an order leaves Pending


def _skip_fba(row: RowView) -> str:
    channel = row.text("fulfillment-channel").casefold()
    if channel in ("amazon", "afn"):
        return "lines fulfilled by Amazon (FBA: Amazon ships them from its own stock)"
    if row.text("sales-channel").casefold() == "non-amazon":
        return "Multi-Channel Fulfilment lines of other sales channels"
    return ""


AMAZON = Preset(
    name="amazon",
    platform="amazon",
    title="Amazon Seller Central: Reports → Fulfilment → All Orders (flat file)",
    sources=(
        "https://sellercentral.amazon.com/gp/help/external/200547170",
        "github.com/caponica/AmazonMwsComplete src/CaponicaAmazonMwsComplete/Domain/"
        "Report/ReportTrackingByOrderDateFlatFile.php",
        "github.com/JoeyFrancisTribbiani/stock src/main/java/com/yy/stock/adaptor/amazon/"
        "dto/OrdersReportDTO.java",
    ),
    signature=("amazon-order-id", "sku", "quantity", "item-status"),
    columns={
        "order_id": "amazon-order-id",
        "order_date": "purchase-date",
        "customer": None,
        "email": None,
        "address": None,
        "city": "ship-city",
        "state": "ship-state",
        "postcode": "ship-postal-code",
        "country": "ship-country",
        "sku": "sku",
        "qty": "quantity",
        "unit_price": "item-price",  # for the whole quantity; blank while Pending
        "status": None,  # derived from item-status and order-status
        "tracking": None,
        # last-updated-date is any change, not the ship date
        "shipped_at": None,
        "delivered_at": None,
        "payment": None,  # derived from order-status
        "qty_shipped": None,
    },
    order_group="amazon-order-id",
    product_name="product-name",
    status_word=_all_orders_status,
    status_words={
        "pending": "NEW",
        "unshipped": "NEW",
        "partially shipped": "NEW",
        "partiallyshipped": "NEW",
        "pending waiting for pick up": "NEW",
        # Amazon is picking an Easy Ship order [assumed]
        "shipping": "PACKED",
        "shipped": "SHIPPED",
        "shipped out for delivery": "SHIPPED",
        "shipped lost in transit": "SHIPPED",
        "shipped damaged": "SHIPPED",
        "shipped returning to seller": "SHIPPED",
        "shipped returned to seller": "SHIPPED",
        "shipped rejected by buyer": "SHIPPED",
        "shipped delivered to buyer": "DELIVERED",
        "shipped picked up": "DELIVERED",
        "cancelled": "CANCELLED",
    },
    payment_word=_all_orders_payment,
    payment_words={"paid": "PAID", "pending": "PENDING", "cancelled": "VOIDED"},
    price_is_line_total=True,
    currency="currency",
    date_formats=("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"),
    delimiters=("\t",),
    quoting=False,
    skip_row=_skip_fba,
    notes=(
        "No customer name, street or e-mail (Amazon keeps them out of this report), "
        "no tracking and no ship or delivery date. Amazon-fulfilled lines are left out."
    ),
)


def _unshipped_payment(row: RowView) -> str:
    return "paid" if row.text("payments-date") else "pending"


def _skip_continuation(row: RowView) -> str:
    # the scheduled Order Report continues an order on rows without a SKU when
    # its promotions do not fit on one
    if not row.text("sku") and not row.text("quantity-purchased"):
        return "continuation rows without a SKU"
    return ""


AMAZON_UNSHIPPED = Preset(
    name="amazon-unshipped",
    platform="amazon",
    title="Amazon Seller Central: Orders → Order Reports → Unshipped Orders (flat file)",
    sources=(
        "https://www.amazon.ca/gp/help/customer/display.html?nodeId=200350680",
        "https://sellercentral-europe.amazon.com/gp/help/external/help.html?itemID=201648780",
        "github.com/avazquez0191/xom-server src/platforms/amazon/columns.ts",
    ),
    signature=("order-id", "order-item-id", "sku", "quantity-purchased"),
    columns={
        "order_id": "order-id",
        "order_date": "purchase-date",
        "customer": "recipient-name",
        "email": "buyer-email",  # an Amazon relay address
        "address": Join(", ", "ship-address-1", "ship-address-2", "ship-address-3"),
        "city": "ship-city",
        "state": "ship-state",
        "postcode": "ship-postal-code",
        "country": "ship-country",
        "sku": "sku",
        "qty": "quantity-purchased",
        "unit_price": None,
        "status": None,  # every line of this report is unshipped
        "tracking": None,
        "shipped_at": None,
        "delivered_at": None,
        "payment": None,
        "qty_shipped": "quantity-shipped",
    },
    order_group="order-id",
    order_fields=(
        "purchase-date",
        "payments-date",
        "buyer-email",
        "recipient-name",
        "ship-address-1",
        "ship-address-2",
        "ship-address-3",
        "ship-city",
        "ship-state",
        "ship-postal-code",
        "ship-country",
    ),
    product_name="product-name",
    line_id="order-item-id",
    status_word=lambda row: "unshipped",
    status_words={"unshipped": "NEW"},
    payment_word=_unshipped_payment,
    payment_words={"paid": "PAID", "pending": "PENDING"},
    date_formats=("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%m-%d-%Y"),
    delimiters=("\t",),
    quoting=False,
    skip_row=_skip_continuation,
    notes="No prices, tracking or delivery date; only orders not yet confirmed shipped.",
)
