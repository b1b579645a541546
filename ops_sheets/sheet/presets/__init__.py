"""Presets: how each platform's orders export maps onto our Orders tab.

``[tabs.orders] preset = "shopify"`` reads a synced tab through one of these, and
``ops-sheets import --format shopify FILE`` reads a file with it
(:func:`ops_sheets.domain.importing.read_export`). One module per platform; each
preset's module docstring says where its layout comes from (the platform's
documentation and public code that parses the file).

``--format`` takes a platform (``shopify``, ``woocommerce``, ``amazon``, ``etsy``,
``ebay``: any of its presets, told apart by header), a preset name from
:data:`PRESETS`, or ``auto`` (every preset, by header).
"""

from __future__ import annotations

from .amazon import AMAZON, AMAZON_UNSHIPPED
from .base import ORDER_COLUMN_KEYS, Alt, Join, Preset, RowView, Source
from .ebay import EBAY
from .etsy import ETSY, ETSY_ORDERS
from .shopify import SHOPIFY
from .woocommerce import WOOCOMMERCE, WOOCOMMERCE_ALGOLPLUS, WOOCOMMERCE_ANALYTICS

#: Every preset by name, in the order auto-detection tries them.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        SHOPIFY,
        WOOCOMMERCE,
        WOOCOMMERCE_ALGOLPLUS,
        WOOCOMMERCE_ANALYTICS,
        AMAZON,
        AMAZON_UNSHIPPED,
        ETSY,
        ETSY_ORDERS,
        EBAY,
    )
}

#: What ``--format`` accepts besides preset names.
PLATFORMS: tuple[str, ...] = ("shopify", "woocommerce", "amazon", "etsy", "ebay")


def platform_label(preset: Preset) -> str:
    """The platform's name as people write it (WooCommerce, eBay)."""
    return {"woocommerce": "WooCommerce", "ebay": "eBay"}.get(
        preset.platform, preset.platform.capitalize()
    )


def presets_for(format_name: str) -> tuple[Preset, ...]:
    """The presets a ``--format`` value stands for; () when it names none.

    ``auto`` is every preset; a platform is each of its presets (``woocommerce``
    is all three WooCommerce files); any other preset name is that one preset.
    """
    name = format_name.strip().casefold()
    if name == "auto":
        return tuple(PRESETS.values())
    if name in PLATFORMS:  # before preset names: "woocommerce" is both
        return tuple(p for p in PRESETS.values() if p.platform == name)
    return (PRESETS[name],) if name in PRESETS else ()


def format_choices() -> tuple[str, ...]:
    """Every value ``--format`` accepts, for help texts and error messages."""
    return ("auto", *PLATFORMS, *(n for n in PRESETS if n not in PLATFORMS))


__all__ = [
    "ORDER_COLUMN_KEYS",
    "PLATFORMS",
    "PRESETS",
    "Alt",
    "Join",
    "Preset",
    "RowView",
    "Source",
    "format_choices",
    "platform_label",
    "presets_for",
]
