"""Shopify: Products → Inventory → Export (the inventory CSV), for the Stock tab.

``[tabs.stock] preset = "shopify"`` reads a Stock tab that a connector (or a paste)
fills with this file. The reading is :mod:`ops_sheets.service.synced_stock`; this
module only says what the file looks like.

Where the layout comes from:

- Shopify Help, "Exporting or importing inventory with a CSV file" and its
  "Inventory CSV file format" table (Handle, Title, Option1–3 Name/Value, SKU,
  HS Code, COO, Location, then the quantities; ``Not stocked`` for a variant a
  location never stocks; "Only Available quantities" puts the Available quantity
  under each location's name, "All quantity types" gives Incoming, Unavailable,
  Committed, Available and On hand, where On hand = Available + Committed +
  Unavailable):
  https://help.shopify.com/en/manual/products/inventory/getting-started-with-inventory/inventory-csv
- Shopify Admin GraphQL, ``InventoryLevel`` quantity names (available, committed,
  incoming, on_hand, unavailable):
  https://shopify.dev/docs/api/admin-graphql/latest/objects/InventoryLevel
- Public code that writes or reads the file: a Shopify inventory exporter whose
  header is ``Handle, Title, Option1 Name … Option3 Value, SKU, HS Code, COO,
  Location, Bin name, Incoming (not editable), Unavailable (not editable),
  Committed (not editable), Available (not editable), On hand (current), On hand
  (new)`` ("matches Shopify's inventory_bin_new_on_hand_template.csv"); the
  apify actor ``h_murdock/shopify-inventory-preflight`` (same header without
  ``Bin name``, ``Not stocked`` cells, negative Available).

Two shapes, both read:

- **A column per location** (the "Only Available quantities" export, and every
  export before Shopify added the quantity types): one row per variant; after the
  identifying columns, one column per location, headed by the location's name,
  holding the Available quantity.
- **A row per location** (the "All quantity types" export): a ``Location`` column
  and the quantity columns; one row per variant and location.

``On hand`` is Shopify's On hand where the file has it, else its Available,
summed over the locations (a ``Not stocked`` or blank cell counts as none).
On hand rather than Available where both exist: our own ``Committed`` and
``Available`` come from the open Orders lines, and Shopify's Available has those
units taken off already.
"""

from __future__ import annotations

#: Header of the platform's column that identifies a variant (matched ignoring
#: case, spaces, ``_``, ``-`` and ``.``), as the help page lists them
IDENTITY_HEADERS: tuple[str, ...] = (
    "Handle",
    "Title",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "SKU",
    "HS Code",
    "COO",
)

#: the identifying columns a file must have to be read as this export
SIGNATURE: tuple[str, ...] = ("Handle", "SKU")

#: the row-per-location shape's location column and its other per-row columns
LOCATION_HEADER = "Location"
ROW_SHAPE_HEADERS: tuple[str, ...] = (
    "Location",
    "Bin name",
    "Incoming (not editable)",
    "Unavailable (not editable)",
    "Committed (not editable)",
    "Available (not editable)",
    "On hand (current)",
    "On hand (new)",
    "Incoming",
    "Unavailable",
    "Committed",
    "Available",
    "On hand",
)

#: in the row-per-location shape, the quantity read as our On hand: the first of
#: these the file has
ON_HAND_HEADERS: tuple[str, ...] = (
    "On hand (current)",
    "On hand",
    "Available (not editable)",
    "Available",
)

#: a location that never stocks the variant (Shopify writes "not stocked" or "Not stocked")
NOT_STOCKED = "not stocked"

SOURCES: tuple[str, ...] = (
    "https://help.shopify.com/en/manual/products/inventory/getting-started-with-inventory/inventory-csv",
    "https://shopify.dev/docs/api/admin-graphql/latest/objects/InventoryLevel",
    "apify.com h_murdock/shopify-inventory-preflight (sample inventory CSV)",
)
