"""What a preset knows about one platform's orders export.

A :class:`Preset` is data, plus a few small functions where a platform derives a
value from several columns (Shopify's status comes from ``Cancelled at`` and the
line's fulfilment status; eBay's from whether ``Shipped On Date`` is set). The
engine that reads a file with it is :mod:`ops_sheets.domain.importing`; nothing
here parses a file.

Our Orders columns are named by their keys (``order_id``, ``order_date``,
``customer``, ``email``, ``address``, ``city``, ``state``, ``postcode``,
``country``, ``sku``, ``qty``, ``unit_price``, ``status``, ``tracking``,
``shipped_at``, ``delivered_at``, ``payment``, ``qty_shipped``). A preset maps
each to a :data:`Source` in the export, or to ``None`` when the platform's export
has no such field: then the import never writes or changes that column, and it
stays the team's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

#: Our Orders columns a preset can fill, in the order the Orders tab shows them.
ORDER_COLUMN_KEYS: tuple[str, ...] = (
    "order_id",
    "order_date",
    "customer",
    "email",
    "address",
    "city",
    "state",
    "postcode",
    "country",
    "sku",
    "qty",
    "unit_price",
    "status",
    "tracking",
    "shipped_at",
    "delivered_at",
    "payment",
    "qty_shipped",
)


@dataclass(frozen=True, init=False)
class Alt:
    """The first of these sources that the file has and that is not blank on the row.

    Used for a platform's spellings of one column (eBay US ``Ship To City`` and
    eBay UK ``Post to city``) and for fallbacks (Shopify's ``Shipping Name``,
    else ``Billing Name``).
    """

    options: tuple[Source, ...]

    def __init__(self, *options: Source) -> None:
        object.__setattr__(self, "options", options)


@dataclass(frozen=True, init=False)
class Join:
    """The non-blank values of these sources joined with ``sep`` ("Street 1, Flat 2")."""

    sep: str
    parts: tuple[Source, ...]

    def __init__(self, sep: str, *parts: Source) -> None:
        object.__setattr__(self, "sep", sep)
        object.__setattr__(self, "parts", parts)


#: Where a value comes from: a header as the platform writes it (matched ignoring
#: case, spaces, ``_``, ``-`` and ``.``), or an :class:`Alt` / :class:`Join` of them.
Source = str | Alt | Join


class RowView(Protocol):
    """One export row as a preset's functions see it (after fill-down)."""

    def text(self, source: Source) -> str:
        """The value at ``source``, stripped; "" when blank or the file lacks it."""
        ...

    def has(self, header: str) -> bool:
        """Whether the file has this column at all."""
        ...


def words(**pairs: str) -> dict[str, str]:
    """A word map written as keyword arguments (``on_hold="ON HOLD"``)."""
    return dict(pairs)


@dataclass(frozen=True)
class Preset:
    """One platform export's layout: how its rows become our Orders lines.

    ``columns`` maps each of our Orders column keys (see :data:`ORDER_COLUMN_KEYS`)
    to where the export has it, or ``None`` when it has none. ``status`` and
    ``payment`` name the column holding the platform's *word*; the word then goes
    through the shop's ``[tabs.orders.values]`` map and then through
    ``status_words`` / ``payment_words``. Words are compared ignoring case, and
    runs of spaces, ``_`` and ``-`` count as one space (``on-hold`` = ``On hold``).
    """

    name: str  # registry key and ``--format`` value: "shopify", "woocommerce-analytics"
    platform: str  # shopify, woocommerce, amazon, etsy or ebay: ``--format`` takes it too
    title: str  # where a shop gets the file, as the platform's menus name it
    sources: tuple[str, ...]  # documentation and public code the layout was learnt from
    #: headers that must all be present for ``--format auto`` to pick this preset
    signature: tuple[str, ...]
    columns: Mapping[str, Source | None]
    #: the column whose value is the same on every row of one order
    order_group: Source
    #: source headers given on an order's first row only: later rows of the same
    #: order inherit them where they are blank
    order_fields: tuple[str, ...] = ()
    #: stands in for a blank SKU through ``[tabs.orders.values] sku`` (or the Stock
    #: tab's product names); a line with neither is a problem and is not imported
    product_name: Source | None = None
    #: SKU values that mean "no SKU" (WooCommerce writes ``unknown_product`` for a
    #: deleted product)
    sku_placeholders: tuple[str, ...] = ()
    #: the platform's own id of an order line, when it has one (a transaction id);
    #: lines are matched by order + SKU + position among that SKU's lines otherwise
    line_id: Source | None = None
    #: when set, computes the status word from the row (default: text of columns["status"])
    status_word: Callable[[RowView], str] | None = None
    status_words: Mapping[str, str] = field(default_factory=dict)
    payment_word: Callable[[RowView], str] | None = None
    payment_words: Mapping[str, str] = field(default_factory=dict)
    #: the price column holds quantity × unit price (Amazon's ``item-price``)
    price_is_line_total: bool = False
    #: the row's ISO currency code, checked against the shop's ``currency``
    currency: Source | None = None
    #: ``strptime`` formats tried in turn; a format without ``%H`` is date-only and
    #: gives a date; one without ``%z`` is in the shop's time zone
    date_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
    #: "." or ","; ``None`` = the shop's ``[numbers] decimal`` (exports that follow
    #: the store's locale)
    decimal: str | None = "."
    delimiters: tuple[str, ...] = (",",)
    #: ``False``: tab-separated without quoting (Amazon), where ``"`` is a character
    quoting: bool = True
    #: the row is an order's summary (eBay): its fields fill down, the row is dropped
    #: when the order has item rows after it
    summary_row: Callable[[RowView], bool] | None = None
    #: why a row is left out (Amazon-fulfilled lines, drafts), or "" to keep it
    skip_row: Callable[[RowView], str] | None = None
    #: one row per order listing its products: returns each line's source values
    #: (e.g. ``{"Product(s)": "Linen Tea Towel", "Items sold": "2"}``)
    expand_row: Callable[[RowView], list[dict[str, str]]] | None = None
    #: regular expressions (case-insensitive, ``re.search``) for lines after the
    #: table that the platform adds (eBay's "5 record(s) downloaded")
    footer: tuple[str, ...] = ()
    #: ``False``: one row per order, no SKU (Etsy's sold orders file); it updates
    #: the order's lines and never adds any
    line_level: bool = True
    #: whether the export says when (or that) a line was delivered. Without it a
    #: shipped line is never judged "stuck": nothing in the file could say otherwise
    reports_delivery: bool = False
    #: what the export cannot give, in one or two sentences for the README and
    #: ``import``'s summary
    notes: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(ORDER_COLUMN_KEYS)
        if unknown:
            raise ValueError(f"preset {self.name}: unknown Orders columns {sorted(unknown)}")

    @property
    def carried(self) -> tuple[str, ...]:
        """Our columns this export fills (a column the preset derives by a function counts)."""
        derived = {
            "status": self.status_word,
            "payment": self.payment_word,
            "sku": self.product_name,  # a SKU found from the product's name
        }
        return tuple(
            key
            for key in ORDER_COLUMN_KEYS
            if self.columns.get(key) is not None or derived.get(key) is not None
        )
