"""Sample data for ``ops-sheets demo``: a small kitchen and homeware shop, "Kitchen & Co".

:func:`build_demo_workbook` writes the six team tabs (Stock, Suppliers, Purchase
orders, Orders, Returns, Forwarders) as they would look on a Monday morning,
with 120 days of order history behind them, so every job has something real to
do: best sellers running low, a late purchase order, orders waiting for pickup,
late and stuck parcels, a product that keeps coming back faulty, new return
requests to number, and a handful of typing mistakes for the Problems tab. Wave 2
(issue 16) adds a Kits tab with one gift box, a partly received PO line (Qty
received) and, from the out-of-stock best sellers' open orders, backorders.

Everything comes from one ``random.Random(seed)`` and the given ``now`` (never
the wall clock), so the same seed gives the same workbook, byte for byte. Which
SKU plays which part (faulty, out of stock, over-stocked...) is fixed by the
catalogue below rather than drawn at random, so tests and the README can name
them; the seed only moves the numbers.

Only team columns are written: the service adds its own columns on its first run,
which is part of what the demo shows.
"""

from __future__ import annotations

import calendar
import math
import os
import random
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ops_sheets.sheet.tables import TAB_SPECS, TEAM_TABS, TabSpec

SHOP_NAME = "Kitchen & Co"
SHOP_DOMAIN = "kitchenandco.example"

HISTORY_DAYS = 120  # days of orders before `now`
RATE_WINDOW_DAYS = 90  # the returns job's default window for return rates
ORDER_CUTOFF = time(14, 0)  # same as the demo config's [jobs.orders] order_cutoff
DEMAND_LOOKBACK_DAYS = 56  # the stock job's default lookback, used to size stock levels

# ---------------------------------------------------------------- the cast


@dataclass(frozen=True)
class _Supplier:
    name: str
    domain: str
    contact: str
    lead_time_days: int
    min_order_value: float | None
    notes: str

    @property
    def code(self) -> str:
        """The short code in PO numbers: the first four letters of the name."""
        return re.sub(r"[^A-Za-z]", "", self.name)[:4].upper()


# First letters differ so the four-letter codes can never collide.
# fmt: off
_SUPPLIERS = (
    _Supplier("Hartwell Kitchenware Ltd", "hartwell-kitchenware.example", "Priya Shah", 10, None,
              "Sheffield; order by Wednesday for Friday dispatch"),
    _Supplier("Brookfield Ceramics", "brookfield-ceramics.example", "Tom Ellery", 21, 150.0,
              "Stoke-on-Trent pottery; glazes vary a little between batches"),
    _Supplier("Nordvik Steel AB", "nordvik-steel.example", "Astrid Lund", 28, 250.0,
              "Ships from Gothenburg; quote our PO number on every invoice"),
    _Supplier("Oakmere Woodcraft", "oakmere-woodcraft.example", "Gareth Owen", 14, None,
              "Small workshop in Powys; call before ordering more than 50 boards"),
    _Supplier("Linen & Loom Co", "linenandloom.example", "Hannah Reid", 7, None,
              "Free carriage over £300"),
)
# fmt: on


@dataclass(frozen=True)
class _Product:
    sku: str
    name: str
    supplier: _Supplier
    cost: float
    price: float
    pack: int
    weight: float  # relative popularity: a few large weights make the Pareto head


_Item = tuple[str, float, float, int, float]  # product, unit cost, price, pack size, popularity

# SKUs are numbered within each prefix in this order: KIT-0001 is the spatula set.
# fmt: off
_CATALOGUE: tuple[tuple[str, _Supplier, tuple[_Item, ...]], ...] = (
    ("KIT", _SUPPLIERS[0], (
        ("Silicone Spatula Set (3 pcs)",    3.10,  9.99, 12, 50),
        ("Stainless Steel Whisk 25cm",      1.85,  6.50, 12, 8),
        ("Digital Kitchen Scale 5kg",       6.40, 18.99,  6, 14),
        ("Electric Milk Frother",           4.20, 14.99,  6, 10),
        ("Garlic Press",                    2.30,  8.49, 12, 5),
        ("Fine Zester Grater",              2.90,  9.49, 12, 6),
        ("Measuring Spoons (set of 6)",     1.20,  4.99, 24, 7),
        ("Measuring Jug 1L",                1.60,  5.99, 12, 4),
        ("Salad Spinner",                   4.80, 15.99,  6, 3),
        ("Soft-Grip Can Opener",            2.10,  7.99, 12, 3),
        ("Pasta Tongs",                     1.40,  5.49, 24, 2),
        ("Y-Shaped Vegetable Peeler",       0.95,  3.99, 50, 10),
        ("Magnetic Kitchen Timer",          2.50,  7.49, 12, 1.5),
        ("Herb Scissors 5-Blade",           1.90,  6.99, 12, 1),
        ("Oil Mister Spray Bottle",         2.20,  8.99, 12, 2.5),
        ("Avocado Slicer 3-in-1",           1.10,  4.49, 24, 1.5),
    )),
    ("CKW", _SUPPLIERS[2], (
        ("Cast Iron Skillet 26cm",         14.50, 39.00,  6, 6),
        ("Non-Stick Frying Pan 28cm",      11.20, 32.00,  6, 12),
        ("Stainless Saucepan Set (3 pcs)", 29.00, 79.00,  1, 3),
        ("Enamelled Casserole Dish 4.5L",  27.50, 74.00,  1, 2.5),
        ("Chef's Knife 20cm",              12.80, 45.00,  6, 7),
        ("Paring Knife 9cm",                4.10, 14.50, 12, 4),
        ("Bread Knife 22cm",                6.90, 22.00,  6, 2),
        ("Whetstone 1000/6000",             7.30, 24.99,  6, 2),
        ("Stockpot 8L",                    16.40, 44.00,  1, 1),
        ("Carbon Steel Wok 32cm",           9.80, 29.00,  6, 2.5),
        ("Roasting Tin with Rack",          8.60, 24.00,  6, 0.4),
        ("Steel Colander 24cm",             5.20, 16.00,  6, 1.2),
    )),
    ("TBL", _SUPPLIERS[1], (
        ("Stoneware Mug 350ml Sage",        2.10,  8.50, 24, 60),
        ("Stoneware Mug 350ml Cream",       2.10,  8.50, 24, 35),
        ("Speckled Dinner Plate 27cm",      3.40, 12.00, 12, 10),
        ("Speckled Side Plate 20cm",        2.40,  8.50, 12, 6),
        ("Speckled Pasta Bowl 22cm",        3.10, 11.00, 12, 7),
        ("Speckled Cereal Bowl 16cm",       2.20,  7.50, 12, 5),
        ("Espresso Cup & Saucer",           1.90,  7.00, 12, 2),
        ("Teapot 1L Cream",                 7.60, 26.00,  6, 3),
        ("Oval Serving Platter 36cm",       6.80, 24.00,  6, 1.5),
        ("Butter Dish Cream",               3.90, 13.50, 12, 1),
        ("Milk Jug 300ml",                  2.60,  9.00, 12, 1.5),
        ("Salt & Pepper Pots",              2.80, 10.50, 12, 2),
        ("Stoneware Mixing Bowl 3L",        6.10, 21.00,  6, 2.5),
        ("Festive Pudding Basin 1.2L",      3.50, 12.50, 12, 0),
    )),
    ("WOD", _SUPPLIERS[3], (
        ("Bamboo Chopping Board Large",     3.60, 14.99, 12, 45),
        ("Olive Wood Serving Board",        9.50, 29.00,  6, 5),
        ("Beech Wooden Spoon Set (3 pcs)",  1.70,  7.50, 24, 9),
        ("End-Grain Butcher Block",        26.00, 69.00,  1, 1),
        ("Acacia Salad Servers",            2.60,  9.99, 12, 2),
        ("French Rolling Pin Beech",        2.40,  9.50, 12, 2),
        ("Oak Knife Block",                11.00, 34.00,  6, 1),
        ("Wall-Mounted Spice Rack",         6.50, 22.00,  6, 1.5),
    )),
    ("TXL", _SUPPLIERS[4], (
        ("Linen Tea Towel Natural",         1.80,  7.50, 50, 35),
        ("Linen Tea Towel Striped",         1.80,  7.50, 50, 14),
        ("Waxed Cotton Apron",              5.40, 24.00,  6, 6),
        ("Double Oven Glove",               3.20, 12.50, 12, 7),
        ("Linen Napkins (set of 4)",        4.60, 18.00, 12, 4),
        ("Linen Tablecloth 140x240cm",     11.50, 39.00,  6, 1.5),
        ("Pot Holders (pair)",              1.50,  6.50, 24, 3),
        ("Linen Table Runner",              4.90, 19.00,  6, 1.5),
        ("Cotton Dish Cloths (pack of 3)",  1.10,  5.00, 50, 6),
        ("Kids' Apron Stripe",              3.00, 13.00, 12, 1),
    )),
)
# fmt: on

# The parts some SKUs play. Fixed here, not drawn, so they hold for every seed.
FAULTY_SKU = "KIT-0004"  # the milk frother: > 15 % returned, mostly "faulty"
OUT_OF_STOCK_SKUS = ("CKW-0002", "KIT-0009", "TXL-0005")
LOW_STOCK_SKUS = ("TBL-0001", "WOD-0001", "KIT-0003", "KIT-0012", "CKW-0005", "TXL-0001")
OVERSTOCKED_SKU = "CKW-0011"  # 180-odd roasting tins that sell one a fortnight
INACTIVE_SKUS = ("KIT-0016", "WOD-0008")  # discontinued: sold only in the first weeks
UNSOLD_SKUS = ("TBL-0014",)  # a new seasonal line, no sales yet: no demand, no cover
DUPLICATED_SKU = "TBL-0010"  # a copied row whose SKU was never changed
TEXT_ON_HAND_SKU = "TXL-0007"  # On hand typed as a word
DISCONTINUED_AFTER_DAYS = 45  # inactive SKUs stop selling this many days into the history

UNKNOWN_SKU = "KIT-9999"
#: A gift box sold as one SKU and packed from three others (the Kits tab): never
#: reordered itself; what it can sell is what its components allow.
KIT_SKU = "GFT-0001"
KIT_COMPONENTS = (("KIT-0001", 1), ("KIT-0002", 1), ("KIT-0008", 1))
#: The overdue Nordvik PO: half of this line has arrived (Qty received), the rest
#: stays on order and is all the reminder chases.
PARTLY_RECEIVED_SKU = "CKW-0006"
FORMULA_CUSTOMER = '=HYPERLINK("http://example.com","click me")'


@dataclass(frozen=True)
class _Forwarder:
    name: str
    email: str
    cutoff: time
    pickup_days: str
    weekdays: tuple[int, ...]  # Monday = 0, matching `pickup_days`
    account: str
    tracking_prefix: str
    tracking_digits: int
    tracking_suffix: str = ""

    def tracking(self, rng: random.Random) -> str:
        digits = "".join(str(rng.randrange(10)) for _ in range(self.tracking_digits))
        return f"{self.tracking_prefix}{digits}{self.tracking_suffix}"


# Invented carriers: a daily domestic one, a bulky-goods one, and an EU groupage one.
# fmt: off
_FORWARDERS = (
    _Forwarder("Swiftpost Parcels", "collections@swiftpost-parcels.example", time(15, 0),
               "Mon-Fri", (0, 1, 2, 3, 4), "SWP-448120", "SP", 9, "GB"),
    _Forwarder("Northline Couriers", "pickups@northline-couriers.example", time(16, 30),
               "Mon, Wed, Fri", (0, 2, 4), "NLC/20931", "NL", 10),
    _Forwarder("Channel Express Freight", "bookings@channelexpress-freight.example", time(12, 0),
               "Tue, Thu", (1, 3), "CXF-7781-EU", "CXF", 8),
)
# fmt: on
_UK_FORWARDERS = (_FORWARDERS[0], _FORWARDERS[1])
_EU_FORWARDER = _FORWARDERS[2]

# ---------------------------------------------------------------- customers

# fmt: off
_FIRST_NAMES = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Sophie", "Grace", "Freya",
    "Emily", "Chloe", "Ella", "Ruby", "Evie", "Hannah", "Zara", "Priya", "Aisha", "Niamh",
    "Oliver", "George", "Noah", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Theo", "Charlie",
    "Jacob", "Alfie", "Thomas", "James", "Samuel", "Joshua", "Mohammed", "Arjun", "Callum", "Rhys",
)
_LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper", "Hill",
    "Ward", "Hughes", "Moore", "King", "Harrison", "Lewis", "Baker", "Allen", "Morris", "Khan",
    "O'Brien", "Campbell", "Murphy", "Kaur", "Begum",
)
_STREETS = (
    "High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue", "Mill Lane",
    "Queen Street", "Albert Road", "Grove Road", "Manor Way", "Orchard Close", "Chapel Street",
    "King's Road", "Beech Grove", "Elm Terrace", "Riverside Walk", "Green Lane", "York Road",
    "Princes Avenue", "Castle Street",
)
# (city, outward codes, weight): London heavy, like most UK shops' customer lists
_UK_CITIES = (
    ("London", ("SE1", "N1", "E8", "SW11", "NW5", "E17"), 18),
    ("Manchester", ("M14", "M20", "M4"), 7),
    ("Birmingham", ("B13", "B30"), 6),
    ("Leeds", ("LS6", "LS8"), 5),
    ("Bristol", ("BS6", "BS3"), 5),
    ("Glasgow", ("G12", "G41"), 4),
    ("Edinburgh", ("EH6", "EH10"), 4),
    ("Sheffield", ("S7", "S11"), 3),
    ("Newcastle upon Tyne", ("NE2", "NE6"), 3),
    ("Cardiff", ("CF10", "CF24"), 3),
    ("Brighton", ("BN1", "BN2"), 3),
    ("Nottingham", ("NG7", "NG5"), 3),
    ("Oxford", ("OX4", "OX2"), 2),
    ("York", ("YO10", "YO31"), 2),
    ("Norwich", ("NR2", "NR3"), 2),
    ("Bath", ("BA1", "BA2"), 2),
    ("Exeter", ("EX4", "EX2"), 2),
    ("Belfast", ("BT7", "BT9"), 2),
)
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # letters Royal Mail uses in inward codes
# (country, city, names, street, postcode pattern): '9' = digit, 'A' = letter
_EU_PLACES = (
    ("Ireland", "Dublin", ("Aoife Byrne", "Cian Walsh", "Saoirse Kelly"),
     "Ranelagh Road", "D06 A9A9"),
    ("France", "Paris", ("Camille Laurent", "Lucas Moreau", "Chloé Bernard"),
     "Rue Oberkampf", "75019"),
    ("Germany", "Berlin", ("Lena Fischer", "Jonas Weber", "Mia Schneider"),
     "Kastanienallee", "10999"),
    ("Netherlands", "Amsterdam", ("Daan de Vries", "Sanne Bakker", "Lotte Visser"),
     "Prinsengracht", "1016 AA"),
)
# fmt: on


@dataclass(frozen=True)
class _Customer:
    name: str
    email: str
    address: str
    city: str
    postcode: str
    country: str

    @property
    def in_uk(self) -> bool:
        return self.country == "United Kingdom"


def _fill_pattern(pattern: str, rng: random.Random) -> str:
    out = []
    for ch in pattern:
        if ch == "9":
            out.append(str(rng.randrange(10)))
        elif ch == "A":
            out.append(rng.choice(_INWARD_LETTERS))
        else:
            out.append(ch)
    return "".join(out)


def _new_customer(n: int, rng: random.Random) -> _Customer:
    if rng.random() < 0.06:  # a few EU customers, all shipped by the EU forwarder
        country, city, names, street, pattern = rng.choice(_EU_PLACES)
        name = rng.choice(names)
        address = (
            f"{rng.randint(1, 120)} {street}"
            if country in ("Ireland", "France")
            else f"{street} {rng.randint(1, 220)}"
        )
        postcode = _fill_pattern(pattern, rng)
    else:
        country = "United Kingdom"
        city, outwards, _ = rng.choices(_UK_CITIES, weights=[c[2] for c in _UK_CITIES])[0]
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        address = f"{rng.randint(1, 180)} {rng.choice(_STREETS)}"
        inward = f"{rng.randrange(1, 10)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
        postcode = f"{rng.choice(outwards)} {inward}"
    # Half use the shop's numbered style, half a name-based address (both reserved domains).
    if rng.random() < 0.5:
        email = f"customer-{n:04d}@example.com"
    else:
        local = re.sub(r"[^a-z.]", "", name.lower().replace(" ", ".").replace("é", "e"))
        email = f"{local}{rng.randint(1, 99)}@example.net"
    return _Customer(name, email, address, city, postcode, country)


# ---------------------------------------------------------------- calendar helpers


def _is_business_day(d: date) -> bool:
    return d.weekday() < 5


def _next_business_day(d: date) -> date:
    d += timedelta(days=1)
    while not _is_business_day(d):
        d += timedelta(days=1)
    return d


def _add_business_days(d: date, n: int) -> date:
    for _ in range(n):
        d = _next_business_day(d)
    return d


def _ship_by(ordered: datetime) -> date:
    """The orders job's rule with the demo config: 1 business day, 14:00 cut-off."""
    start = ordered.date()
    if not _is_business_day(start) or ordered.time() > ORDER_CUTOFF:
        start = _next_business_day(start)
    return _add_business_days(start, 1)


def _at(d: date, minutes: int) -> datetime:
    """Naive local wall-clock time: the sheet holds local times without an offset."""
    return datetime.combine(d, time(minutes // 60, minutes % 60))


def _order_minutes(rng: random.Random) -> int:
    """Time of day of an order: mostly shop hours, a fair share in the evening."""
    r = rng.random()
    if r < 0.05:
        return rng.randint(6 * 60 + 30, 8 * 60 - 1)
    if r < 0.72:
        return rng.randint(8 * 60, 18 * 60 - 1)
    return rng.randint(18 * 60, 22 * 60 + 45)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: exact and plenty fast for the ~20 orders a day used here.
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# ---------------------------------------------------------------- orders


@dataclass
class _Order:
    order_id: str
    ordered: datetime
    customer: _Customer
    forwarder: _Forwarder
    lines: list[tuple[_Product, int]]
    status: str = "NEW"
    tracking: str | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    # cell overrides for the deliberate oddities (customer name, email)
    customer_name: str | None = None
    email: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PACKED", "READY", "ON HOLD")

    def unship(self, status: str) -> None:
        self.status, self.tracking, self.shipped_at, self.delivered_at = status, None, None, None


# Busier at weekends (people browse homeware on the sofa), quietest on Friday.
_WEEKDAY_FACTOR = (1.10, 1.0, 0.95, 0.95, 0.90, 1.20, 1.35)
_BASE_ORDERS_PER_DAY = 13.5
_GROWTH = 0.5  # the last day sells 50 % more than the first: a growing shop


def _generate_orders(
    rng: random.Random, products: Sequence[_Product], now: datetime
) -> list[_Order]:
    start = now - timedelta(days=HISTORY_DAYS)
    discontinued = start + timedelta(days=DISCONTINUED_AFTER_DAYS)
    weights_early = [p.weight for p in products]
    weights_late = [0.0 if p.sku in INACTIVE_SKUS else p.weight for p in products]
    customers: list[_Customer] = []
    orders: list[_Order] = []
    for day_index in range(HISTORY_DAYS + 1):
        day = start.date() + timedelta(days=day_index)
        lam = (
            _BASE_ORDERS_PER_DAY
            * (1 + _GROWTH * day_index / HISTORY_DAYS)
            * _WEEKDAY_FACTOR[day.weekday()]
        )
        for minutes in sorted(_order_minutes(rng) for _ in range(_poisson(rng, lam))):
            ordered = _at(day, minutes)
            if not start <= ordered < now:
                continue
            if customers and rng.random() < 0.22:  # repeat customers
                customer = rng.choice(customers)
            else:
                customer = _new_customer(len(customers) + 1, rng)
                customers.append(customer)
            forwarder = (
                rng.choices(_UK_FORWARDERS, weights=(72, 28))[0]
                if customer.in_uk
                else _EU_FORWARDER
            )
            weights = weights_early if ordered < discontinued else weights_late
            n_lines = rng.choices((1, 2, 3), weights=(62, 28, 10))[0]
            chosen: list[_Product] = []
            while len(chosen) < n_lines:
                product = rng.choices(products, weights=weights)[0]
                if product not in chosen:  # Order ID + SKU is the key: one line per SKU
                    chosen.append(product)
            lines = [(p, rng.choices((1, 2, 3), weights=(72, 20, 8))[0]) for p in chosen]
            order_id = f"SO-{10001 + len(orders)}"
            orders.append(_Order(order_id, ordered, customer, forwarder, lines))
    for order in orders:
        _simulate_shipping(order, rng, now)
    return orders


def _simulate_shipping(order: _Order, rng: random.Random, now: datetime) -> None:
    """Pack, hand to the forwarder on its pickup day, deliver; stop wherever `now` falls."""
    fwd = order.forwarder
    start = order.ordered.date()
    if not _is_business_day(start) or order.ordered.time() > ORDER_CUTOFF:
        start = _next_business_day(start)
    day = _add_business_days(start, rng.choices((0, 1, 2), weights=(75, 20, 5))[0])
    cutoff = fwd.cutoff.hour * 60 + fwd.cutoff.minute
    while True:
        if day.weekday() in fwd.weekdays:
            shipped = _at(day, rng.randint(cutoff - 150, cutoff - 10))
            if shipped >= order.ordered + timedelta(minutes=30):
                break
        day += timedelta(days=1)
    if shipped > now:
        age_hours = (now - order.ordered).total_seconds() / 3600
        if age_hours > 40:
            status = rng.choices(("READY", "PACKED"), weights=(65, 35))[0]
        elif age_hours > 14:
            status = rng.choices(("READY", "PACKED", "NEW"), weights=(20, 45, 35))[0]
        else:
            status = "NEW"
        order.unship(status)
        return
    transit = (
        rng.choices((1, 2, 3), weights=(55, 35, 10))[0]
        if order.customer.in_uk
        else rng.randint(2, 5)
    )
    delivered_day = shipped.date() + timedelta(days=transit)
    if delivered_day.weekday() == 6:  # no Sunday deliveries
        delivered_day += timedelta(days=1)
    delivered = _at(delivered_day, rng.randint(9 * 60, 18 * 60))
    order.status = "DELIVERED" if delivered <= now else "SHIPPED"
    order.tracking = fwd.tracking(rng)
    order.shipped_at = shipped
    order.delivered_at = delivered if delivered <= now else None


@dataclass
class _OrderStory:
    """The orders picked to play a part, so facts and mistakes can point at them."""

    late: list[_Order] = field(default_factory=list)
    stuck: list[_Order] = field(default_factory=list)
    on_hold: list[_Order] = field(default_factory=list)
    cancelled: list[_Order] = field(default_factory=list)
    formula_customer: _Order | None = None
    two_emails: _Order | None = None
    unknown_sku: _Order | None = None
    date_typo: _Order | None = None


def _shape_orders(orders: list[_Order], rng: random.Random, now: datetime) -> _OrderStory:
    """Turn the clean simulation into an ordinary messy week."""
    story = _OrderStory()
    today = now.date()

    # ~1.5 % cancelled, before they were shipped.
    older = [o for o in orders if o.ordered < now - timedelta(days=1)]
    for order in rng.sample(older, max(1, round(len(orders) * 0.015))):
        order.unship("CANCELLED")
        story.cancelled.append(order)

    # Late: ship-by passed in the last few days and still not shipped. At least six
    # lines, so the monitor's default threshold (more than five) is crossed.
    candidates = [
        o
        for o in orders
        if o.status in ("SHIPPED", "DELIVERED")
        and today - timedelta(days=4) <= _ship_by(o.ordered) < today
    ]
    rng.shuffle(candidates)
    for order, status in zip(
        candidates, ("PACKED", "NEW", "READY", "PACKED", "PACKED", "NEW"), strict=False
    ):
        order.unship(status)
        story.late.append(order)
        if len(story.late) >= 4 and sum(len(o.lines) for o in story.late) >= 6:
            break

    # Stuck: handed over 10-14 days ago, never delivered.
    stuck = [
        o
        for o in orders
        if o.status == "DELIVERED"
        and o.forwarder is _FORWARDERS[0]
        and o.shipped_at is not None
        and now - timedelta(days=14) <= o.shipped_at <= now - timedelta(days=10)
    ]
    for order in rng.sample(stuck, min(2, len(stuck))):
        order.status, order.delivered_at = "SHIPPED", None
        story.stuck.append(order)

    # The rest of the open orders: a couple on hold, and the oddities.
    late_ids = {o.order_id for o in story.late}
    open_orders = [o for o in orders if o.is_open and o.order_id not in late_ids]
    rng.shuffle(open_orders)
    recent = [o for o in open_orders if now - o.ordered < timedelta(days=2)]
    for order in recent[:2]:
        order.status = "ON HOLD"  # e.g. address to confirm with the customer
        story.on_hold.append(order)
    spare = [o for o in open_orders if o.status != "ON HOLD"]

    def take(prefer: Iterable[_Order]) -> _Order | None:
        for order in [*prefer, *spare]:
            if order in spare:
                spare.remove(order)
                return order
        return None

    story.formula_customer = take(o for o in spare if o.status == "NEW")
    story.unknown_sku = take(o for o in spare if o.status == "NEW")
    # single-line orders where possible, so each mistake is exactly one cell
    story.two_emails = take(
        o for o in spare if o.status in ("PACKED", "READY") and len(o.lines) == 1
    )
    story.date_typo = take(o for o in spare if len(o.lines) == 1)
    if story.formula_customer:
        story.formula_customer.customer_name = FORMULA_CUSTOMER
    if story.two_emails:
        first = story.two_emails.customer.email
        story.two_emails.email = f"{first}, {first.split('@')[0]}@example.org"
    return story


def _impossible_date(d: date) -> str:
    """A believable slip of the finger that no calendar has."""
    if calendar.monthrange(d.year, d.month)[1] < 31:
        return f"31/{d.month:02d}/{d.year}"  # e.g. 21/11 typed as 31/11
    return f"{d.year}-13-{d.day:02d}"  # month and day keys hit one too far


# ---------------------------------------------------------------- the workbook rows

Row = dict[str, Any]


class Mistake(NamedTuple):
    """A deliberate data mistake: where the Problems tab should point."""

    tab: str  # tab title
    row: int  # row number as the sheet shows it (header = 1)
    column: str  # column header
    description: str


@dataclass(frozen=True)
class DemoFacts:
    """What the demo workbook holds, for tests, the README and `demo`'s printout."""

    now: datetime
    seed: int
    shop_name: str
    suppliers: int
    skus: int  # distinct SKUs on the Stock tab
    stock_rows: int  # one more than `skus`: the duplicated SKU
    forwarders: int
    orders: int
    order_lines: int
    cancelled_orders: int
    purchase_orders: int
    purchase_order_lines: int
    returns: int  # rows on the Returns tab
    supplier_codes: dict[str, str]
    best_sellers: tuple[str, ...]  # top five SKUs by units sold over the history
    faulty_sku: str
    faulty_units_shipped_90d: int
    faulty_units_returned_90d: int
    faulty_return_rate: float
    out_of_stock_skus: tuple[str, ...]
    low_stock_skus: tuple[str, ...]
    overstocked_sku: str
    inactive_skus: tuple[str, ...]
    unsold_skus: tuple[str, ...]
    duplicate_sku: str
    duplicate_sku_rows: tuple[int, int]
    open_purchase_orders: tuple[str, ...]
    overdue_purchase_order: str
    late_order_ids: tuple[str, ...]  # open lines whose ship-by date has ended
    stuck_order_ids: tuple[str, ...]
    on_hold_order_ids: tuple[str, ...]
    ready_order_ids: tuple[str, ...]  # READY: packed, waiting for the forwarder's pickup
    formula_customer_rows: tuple[int, ...]  # Orders rows whose Customer looks like a formula
    blank_return_id_rows: tuple[int, ...]  # new requests the returns job must number
    outside_window_return_row: int | None  # one of those, for an order delivered long ago
    mistakes: list[Mistake] = field(default_factory=list)
    kit_sku: str = KIT_SKU  # on the Stock tab, its components on the Kits tab
    partly_received: tuple[str, str] = ("", "")  # (PO number, SKU) with Qty received < Qty
    # packing day (issue 22): an order not paid yet (Payment PENDING) and one with a
    # postcode one letter too long, both due today; every Stock row has a Location
    unpaid_order_id: str = ""
    wrong_postcode_order_id: str = ""
    # issue 19: product pages the demo serves itself, and the content plan
    listing_pages: Mapping[str, bytes] = field(default_factory=dict)  # path → HTML
    listed_skus: tuple[str, ...] = ()  # Stock rows with a URL
    wrong_price_sku: str = ""  # its page shows another price than the sheet's
    shown_in_stock_sku: str = ""  # out of stock, its page says InStock
    overdue_post: str = ""  # the Title of the one overdue post
    content_posts: int = 0  # rows on the Content plan tab
    # issue 18: the Complaints tab (rows 2-5) and the one whose first response is overdue
    complaints: int = 0
    overdue_complaint: str = ""


def _catalogue() -> list[_Product]:
    return [
        _Product(f"{prefix}-{i:04d}", name, supplier, cost, price, pack, weight)
        for prefix, supplier, items in _CATALOGUE
        for i, (name, cost, price, pack, weight) in enumerate(items, start=1)
    ]


def _order_rows(orders: Sequence[_Order]) -> list[Row]:
    rows: list[Row] = []
    for o in orders:
        for product, qty in o.lines:
            rows.append(
                {
                    "order_id": o.order_id,
                    "order_date": o.ordered,
                    "customer": o.customer_name or o.customer.name,
                    "email": o.email or o.customer.email,
                    "address": o.customer.address,
                    "city": o.customer.city,
                    "postcode": o.customer.postcode,
                    "country": o.customer.country,
                    "sku": product.sku,
                    "qty": qty,
                    "unit_price": product.price,
                    "forwarder": o.forwarder.name,
                    "status": o.status,
                    "tracking": o.tracking,
                    "shipped_at": o.shipped_at,
                    "delivered_at": o.delivered_at,
                }
            )
    return rows


def _units_sold(orders: Iterable[_Order], since: datetime) -> Counter[str]:
    units: Counter[str] = Counter()
    for o in orders:
        if o.status != "CANCELLED" and o.ordered >= since:
            for product, qty in o.lines:
                units[product.sku] += qty
    return units


def _round_up(qty: float, pack: int) -> int:
    return max(pack, math.ceil(qty / pack) * pack)


def _stock_rows(
    products: Sequence[_Product], daily: Mapping[str, float], rng: random.Random
) -> list[Row]:
    special = {
        FAULTY_SKU, OVERSTOCKED_SKU, DUPLICATED_SKU, TEXT_ON_HAND_SKU,
        *OUT_OF_STOCK_SKUS, *LOW_STOCK_SKUS, *INACTIVE_SKUS, *UNSOLD_SKUS,
    }  # fmt: skip
    ordinary = [p.sku for p in products if p.sku not in special]
    # Typed planning values for some SKUs; blank elsewhere means "let the service compute".
    typed_policy = set(rng.sample(ordinary, 12))
    typed_safety = set(rng.sample(ordinary, 4))
    typed_lead = set(rng.sample(ordinary, 5))
    with_moq = set(rng.sample([p.sku for p in products if p.pack >= 6], 10))

    rows: list[Row] = []
    for p in products:
        d = daily.get(p.sku, 0.0)
        lead = p.supplier.lead_time_days
        row: Row = {
            "sku": p.sku,
            "product": p.name,
            "supplier": p.supplier.name,
            "pack_size": p.pack,
            "unit_cost": p.cost,
            "price": p.price,
            "active": "no" if p.sku in INACTIVE_SKUS else "yes",
        }
        if p.sku in OUT_OF_STOCK_SKUS:
            on_hand = 0
        elif p.sku in LOW_STOCK_SKUS:
            on_hand = max(1, round(d * rng.uniform(2, 6)))
        elif p.sku == OVERSTOCKED_SKU:
            on_hand = 180 + rng.randint(0, 12)
            row["max_stock"] = 40  # typed long ago; stock is far above it
        elif p.sku in INACTIVE_SKUS:
            on_hand = rng.randint(3, 15)
        elif p.sku in UNSOLD_SKUS:
            on_hand = 48
        else:
            on_hand = max(rng.randint(3, 12), round(d * rng.uniform(18, 75)))
        row["on_hand"] = on_hand
        if p.sku in typed_lead:
            lead = max(3, lead + rng.choice((-3, 5, 7)))
            row["lead_time_days"] = lead
        if p.sku in typed_policy and d > 0:
            reorder_point = max(2, math.ceil(d * (lead + 5)))
            row["reorder_point"] = reorder_point
            row["max_stock"] = 5 * math.ceil((reorder_point + d * 28) / 5)
        if p.sku in typed_safety and d > 0:
            row["safety_stock"] = max(1, math.ceil(d * 4))
        if p.sku in with_moq:
            row["min_order_qty"] = p.pack * rng.choice((2, 4))
        if p.sku == TEXT_ON_HAND_SKU:
            row["on_hand"] = "twelve"
        rows.append(row)

    # Someone copied the cream butter dish row for the new sage one and kept the SKU.
    original = next(r for r in rows if r["sku"] == DUPLICATED_SKU)
    rows.append({**original, "product": "Butter Dish Sage", "on_hand": 18})
    return rows


# ---------------------------------------------------------------- purchase orders


def _working_moment(d: date, rng: random.Random, first: int, last: int) -> datetime:
    while not _is_business_day(d):
        d += timedelta(days=1)
    return _at(d, rng.randint(first, last))


def _po_lines(
    supplier: _Supplier,
    skus: Sequence[_Product],
    daily: Mapping[str, float],
    created: datetime,
    status: str,
    used_numbers: Counter[str],
    received: datetime | None = None,
) -> list[Row]:
    base = f"PO-{created:%Y%m%d}-{supplier.code}"
    used_numbers[base] += 1
    number = base if used_numbers[base] == 1 else f"{base}-{used_numbers[base]}"
    expected = (created + timedelta(days=supplier.lead_time_days)).date()
    return [
        {
            "po_number": number,
            "supplier": supplier.name,
            "sku": p.sku,
            "qty": _round_up(max(daily.get(p.sku, 0.0) * 35, 1), p.pack),
            "unit_cost": p.cost,
            "created_at": created,
            "expected_by": expected,
            "status": status,
            "received_at": received,
        }
        for p in skus
    ]


def _purchase_orders(
    products: Sequence[_Product], daily: Mapping[str, float], rng: random.Random, now: datetime
) -> tuple[list[Row], list[str], str]:
    by_sku = {p.sku: p for p in products}
    used: Counter[str] = Counter()
    rows: list[Row] = []
    # Two open POs: Nordvik's is well past its Expected by (a reminder is due), the
    # Linen & Loom one is confirmed and on its way. Dated first, so the routine
    # history of those suppliers can stop short of them.
    nordvik, linen = _SUPPLIERS[2], _SUPPLIERS[4]
    overdue_created = _working_moment(
        (now - timedelta(days=nordvik.lead_time_days + 12)).date(), rng, 10 * 60, 16 * 60
    )
    confirmed_created = _working_moment((now - timedelta(days=4)).date(), rng, 10 * 60, 16 * 60)
    open_since = {nordvik.name: overdue_created, linen.name: confirmed_created}

    for supplier in _SUPPLIERS:
        sellers = [
            p
            for p in products
            if p.supplier is supplier and p.weight > 0 and p.sku not in INACTIVE_SKUS
        ]
        lead = supplier.lead_time_days
        stop = open_since.get(supplier.name, now) - timedelta(days=10)
        day = (now - timedelta(days=HISTORY_DAYS - 2 - rng.randint(0, 8))).date()
        while True:
            created = _working_moment(day, rng, 10 * 60, 16 * 60)
            arrival = created.date() + timedelta(days=lead + rng.randint(-2, 3))
            received = _working_moment(arrival, rng, 9 * 60, 15 * 60)
            if received >= now - timedelta(days=3) or created >= stop:
                break
            chosen = rng.sample(sellers, min(len(sellers), rng.randint(3, 6)))
            chosen.sort(key=lambda p: p.sku)
            rows += _po_lines(supplier, chosen, daily, created, "RECEIVED", used, received)
            day = created.date() + timedelta(days=lead // 2 + 21 + rng.randint(0, 7))

    overdue = _po_lines(
        nordvik,
        [by_sku[s] for s in ("CKW-0002", "CKW-0005", "CKW-0006")],
        daily,
        overdue_created,
        "SENT",
        used,
    )
    confirmed = _po_lines(
        linen,
        [by_sku[s] for s in ("TXL-0001", "TXL-0005", "TXL-0009")],
        daily,
        confirmed_created,
        "CONFIRMED",
        used,
    )
    rows += overdue + confirmed
    rows.sort(key=lambda r: (r["created_at"], r["po_number"], r["sku"]))
    return rows, [overdue[0]["po_number"], confirmed[0]["po_number"]], overdue[0]["po_number"]


# ---------------------------------------------------------------- returns

_REASONS = ("damaged", "wrong size", "not as described", "changed mind", "faulty")


def _reason(product: _Product, rng: random.Random) -> str:
    if product.sku == FAULTY_SKU:
        return rng.choices(_REASONS, weights=(1, 0, 1, 0, 8))[0]
    prefix = product.sku[:3]
    if prefix == "TXL":  # textiles: sizes and colours
        return rng.choices(_REASONS, weights=(1, 4, 2, 3, 0))[0]
    if prefix == "TBL":  # ceramics break in transit
        return rng.choices(_REASONS, weights=(5, 0, 2, 3, 0))[0]
    if prefix == "WOD":  # boards and spoons do not break down, they crack or disappoint
        return rng.choices(_REASONS, weights=(2, 0, 3, 3, 0))[0]
    return rng.choices(_REASONS, weights=(3, 0, 2, 3, 1))[0]


def _condition(reason: str, rng: random.Random) -> str:
    if reason == "damaged":
        return "damaged"
    if reason == "faulty":
        return "opened"
    if reason in ("wrong size", "changed mind"):
        return rng.choices(("as new", "opened"), weights=(7, 3))[0]
    return rng.choice(("as new", "opened"))


@dataclass
class _Return:
    line: Row
    product: _Product
    qty: int
    requested: datetime
    reason: str
    numbered: bool = True
    stale: bool = False  # requested long after delivery: outside the return window


def _returns(
    order_rows: Sequence[Row], by_sku: Mapping[str, _Product], rng: random.Random, now: datetime
) -> tuple[list[Row], list[int], int | None]:
    window_start = now - timedelta(days=RATE_WINDOW_DAYS)
    delivered = [r for r in order_rows if r["status"] == "DELIVERED"]
    shipped_in_window: Counter[str] = Counter()
    for r in order_rows:
        if r["shipped_at"] is not None and window_start <= r["shipped_at"] <= now:
            shipped_in_window[r["sku"]] += r["qty"]

    picked: list[_Return] = []
    used: set[int] = set()  # ids of order rows already returned

    def request_time(line: Row, low: int, high: int) -> datetime:
        day = line["delivered_at"].date() + timedelta(days=rng.randint(low, high))
        return _at(day, rng.randint(8 * 60, 21 * 60))

    # The faulty frother: whole lines back, until more than a fifth of the units
    # shipped in the window have come back.
    faulty = [r for r in delivered if r["sku"] == FAULTY_SKU and r["shipped_at"] >= window_start]
    rng.shuffle(faulty)
    returned = 0
    for line in faulty:
        if returned >= 0.22 * shipped_in_window[FAULTY_SKU]:
            break
        requested = request_time(line, 2, 12)
        if requested >= now - timedelta(hours=36):
            continue
        product = by_sku[FAULTY_SKU]
        picked.append(_Return(line, product, line["qty"], requested, _reason(product, rng)))
        used.add(id(line))
        returned += line["qty"]

    # Everyone else: about 3.5 % of delivered lines, with no SKU above 7 % of its
    # shipped units, so the faulty product is the one the alert finds.
    target = round(0.035 * len(delivered))
    others = [r for r in delivered if r["sku"] != FAULTY_SKU]
    rng.shuffle(others)
    per_sku: Counter[str] = Counter()
    general = 0
    for line in others:
        if general >= target:
            break
        sku = line["sku"]
        qty = rng.randint(1, line["qty"])
        if per_sku[sku] + qty > max(1, math.floor(0.07 * shipped_in_window[sku])):
            continue
        requested = request_time(line, 1, 21)
        if requested >= now - timedelta(hours=36):
            continue
        product = by_sku[sku]
        picked.append(_Return(line, product, qty, requested, _reason(product, rng)))
        per_sku[sku] += qty
        used.add(id(line))
        general += 1

    # New requests typed in since the last run: no Return ID yet. The last one is
    # for a parcel delivered well outside the 30-day return window.
    fresh = [
        r
        for r in others
        if id(r) not in used
        and now - timedelta(days=12) <= r["delivered_at"] <= now - timedelta(days=3)
    ]
    stale = [
        r
        for r in others
        if id(r) not in used
        and now - timedelta(days=50) <= r["delivered_at"] <= now - timedelta(days=38)
    ]
    new_requests = [(line, False) for line in rng.sample(fresh, min(2, len(fresh)))]
    new_requests += [(line, True) for line in rng.sample(stale, min(1, len(stale)))]
    for line, is_stale in new_requests:
        product = by_sku[line["sku"]]
        requested = now - timedelta(minutes=rng.randint(3 * 60, 30 * 60))
        requested = requested.replace(second=0, microsecond=0)
        picked.append(
            _Return(
                line, product, 1, requested, _reason(product, rng), numbered=False, stale=is_stale
            )
        )

    numbered = sorted(
        (p for p in picked if p.numbered), key=lambda p: (p.requested, p.line["order_id"])
    )
    pending = sorted((p for p in picked if not p.numbered), key=lambda p: p.requested)
    rows: list[Row] = []
    outside: int | None = None
    sequence: Counter[int] = Counter()  # RMA numbers restart each year
    for ret in [*numbered, *pending]:
        age_days = (now - ret.requested).total_seconds() / 86400
        if not ret.numbered or age_days <= 2:
            status = "REQUESTED"
        elif age_days <= 7:
            status = "RECEIVED" if age_days > 4 else "APPROVED"
        elif ret.product.sku != FAULTY_SKU and ret.reason in ("changed mind", "not as described"):
            status = rng.choices(("REFUNDED", "REJECTED"), weights=(80, 20))[0]
        else:
            status = "REFUNDED"
        received = status in ("RECEIVED", "REFUNDED", "REJECTED")
        return_id = None
        if ret.stale:
            outside = len(rows) + 2
        if ret.numbered:
            sequence[ret.requested.year] += 1
            return_id = f"RMA-{ret.requested.year}-{sequence[ret.requested.year]:04d}"
        rows.append(
            {
                "return_id": return_id,
                "order_id": ret.line["order_id"],
                "sku": ret.product.sku,
                "qty": ret.qty,
                "requested_at": ret.requested,
                "reason": ret.reason,
                # the condition is only known once the parcel is back
                "condition": _condition(ret.reason, rng) if received else None,
                "status": status,
                "refund_amount": round(ret.qty * ret.product.price, 2)
                if status == "REFUNDED"
                else None,
            }
        )
    blank_rows = [i + 2 for i, r in enumerate(rows) if r["return_id"] is None]
    return rows, blank_rows, outside


# ---------------------------------------------------------------- writing the file

_MONEY = {"unit_cost", "price", "unit_price", "refund_amount", "min_order_value"}
_FORMATS = {"datetime": "yyyy-mm-dd hh:mm", "date": "yyyy-mm-dd", "time": "hh:mm"}


def _display_width(value: Any, key: str) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, time):
        return 5
    if key in _MONEY and isinstance(value, (int, float)):
        return len(f"{value:,.2f}")
    return len(str(value))


def _write_tab(wb: Workbook, spec: TabSpec, rows: Sequence[Row]) -> None:
    ws = wb.create_sheet(spec.title)
    # wave 2's optional columns only where the demo fills them (Qty received)
    columns = [
        c
        for c in spec.columns
        if c.owner == "team" and (not c.optional or any(r.get(c.key) is not None for r in rows))
    ]
    ws.append([c.header for c in columns])
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
    ws.freeze_panes = "A2"
    formats = ["#,##0.00" if c.key in _MONEY else _FORMATS.get(c.kind) for c in columns]
    for row_no, row in enumerate(rows, start=2):
        for col_no, (c, fmt) in enumerate(zip(columns, formats, strict=True), start=1):
            value = row.get(c.key)
            if value is None:
                continue
            cell = ws.cell(row=row_no, column=col_no, value=value)
            if isinstance(cell.value, str):
                # Principle 5: text that looks like a formula is data. openpyxl guesses
                # "f" for anything starting with "="; store it as a string instead.
                cell.data_type = "s"
            elif fmt is not None:
                cell.number_format = fmt
    for i, c in enumerate(columns, start=1):
        # Wide enough for nearly every value; the odd outlier (two emails in one
        # cell) may overflow rather than widen the whole column.
        widths = sorted(_display_width(r.get(c.key), c.key) for r in rows) or [0]
        typical = widths[int(0.98 * (len(widths) - 1))]
        if c.kind in _FORMATS:  # a date shows as ### when cut: sparse columns too
            typical = max(typical, widths[-1])
        ws.column_dimensions[get_column_letter(i)].width = min(
            40, max(8, len(c.header), typical) + 2
        )


def _make_reproducible(path: Path, moment: datetime) -> None:
    """Stamp the zip entries and document properties with `moment`, not the wall clock.

    openpyxl writes the save time into docProps/core.xml and every zip entry; with
    those fixed, the same seed gives the same file byte for byte.
    """
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    local = moment.replace(tzinfo=None)
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                    rb"\g<1>" + stamp + rb"\g<3>",
                    data,
                )
            fixed = zipfile.ZipInfo(info.filename, date_time=local.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            zout.writestr(fixed, data)
    os.replace(tmp, path)


# ---------------------------------------------------------------- the entry points


def build_demo_workbook(
    path: Path, now: datetime, seed: int = 7, *, shop_url: str = ""
) -> DemoFacts:
    """Write the demo shop's team tabs to `path` as of `now` and say what is in it.

    `now` must carry a time zone; datetimes are written as naive wall-clock times
    of that zone, as a person would type them into the sheet.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be time-zone aware, e.g. 2026-11-23T09:00 Europe/London")
    local_now = now.replace(tzinfo=None, microsecond=0)
    rng = random.Random(seed)
    products = _catalogue()
    by_sku = {p.sku: p for p in products}

    orders = _generate_orders(rng, products, local_now)
    story = _shape_orders(orders, rng, local_now)
    since = local_now - timedelta(days=DEMAND_LOOKBACK_DAYS)
    daily = {sku: units / DEMAND_LOOKBACK_DAYS for sku, units in _units_sold(orders, since).items()}

    stock = _stock_rows(products, daily, rng)
    # the gift box goes before the duplicated row, which stays last
    cost = sum(by_sku[s].cost * n for s, n in KIT_COMPONENTS)
    stock.insert(
        len(stock) - 1,
        {"sku": KIT_SKU, "product": "Baker's Gift Box", "on_hand": 0, "pack_size": 1,
         "unit_cost": round(cost, 2), "price": 24.99, "active": "yes"},
    )  # fmt: skip
    # issue 19: product pages only when the demo serves them (no URL the run cannot reach)
    listing = _listing_pages(stock, shop_url) if shop_url else _Listing({}, (), "", "")
    order_rows = _order_rows(orders)
    returns, blank_return_rows, outside_window_row = _returns(order_rows, by_sku, rng, local_now)
    purchase_orders, open_pos, overdue_po = _purchase_orders(products, daily, rng, local_now)
    part = next(
        r
        for r in purchase_orders
        if r["po_number"] == overdue_po and r["sku"] == PARTLY_RECEIVED_SKU
    )
    part["qty_received"] = max(1, part["qty"] // 2)

    # -- the deliberate mistakes, applied cell by cell so each has one address
    mistakes: list[Mistake] = []
    stock_row = {r["sku"]: i + 2 for i, r in enumerate(stock[:-1])}
    mistakes.append(
        Mistake("Stock", stock_row[TEXT_ON_HAND_SKU], "On hand", 'text "twelve" in a number column')
    )
    duplicate_rows = (stock_row[DUPLICATED_SKU], len(stock) + 1)
    mistakes.append(
        Mistake(
            "Stock",
            duplicate_rows[1],
            "SKU",
            f"duplicate SKU {DUPLICATED_SKU}, also on row {duplicate_rows[0]}",
        )
    )
    first_row: dict[str, int] = {}
    for i, r in enumerate(order_rows):
        first_row.setdefault(r["order_id"], i + 2)
    if story.unknown_sku:
        order = story.unknown_sku
        row_no = first_row[order.order_id] + len(order.lines) - 1
        order_rows[row_no - 2]["sku"] = UNKNOWN_SKU
        mistakes.append(
            Mistake("Orders", row_no, "SKU", f"unknown SKU {UNKNOWN_SKU} (not on the Stock tab)")
        )
    if story.date_typo:
        row_no = first_row[story.date_typo.order_id]
        typo = _impossible_date(story.date_typo.ordered.date())
        order_rows[row_no - 2]["order_date"] = typo
        mistakes.append(Mistake("Orders", row_no, "Order date", f'"{typo}" is not a calendar date'))
    if story.two_emails:
        order = story.two_emails
        for k in range(len(order.lines)):
            mistakes.append(
                Mistake(
                    "Orders",
                    first_row[order.order_id] + k,
                    "Email",
                    "two addresses in one Email cell",
                )
            )

    unpaid, wrong_postcode = _packing_day(orders, story, order_rows, stock, local_now)
    if wrong_postcode is not None:
        for k in range(len(wrong_postcode.lines)):
            mistakes.append(
                Mistake(
                    "Orders",
                    first_row[wrong_postcode.order_id] + k,
                    "Postcode",
                    "a postcode one letter too long",
                )
            )

    tab_rows: dict[str, Sequence[Row]] = {
        "stock": stock,
        "suppliers": [
            {
                "supplier": s.name,
                "email": f"orders@{s.domain}",
                "contact": s.contact,
                "lead_time_days": s.lead_time_days,
                "min_order_value": s.min_order_value,
                "notes": s.notes,
            }
            for s in _SUPPLIERS
        ],
        "purchase_orders": purchase_orders,
        "orders": order_rows,
        "returns": returns,
        "forwarders": [
            {
                "forwarder": f.name,
                "email": f.email,
                "pickup_cutoff": f.cutoff,
                "pickup_days": f.pickup_days,
                "account": f.account,
                # issue 18: the couriers' tracking pages (not the groupage one)
                "tracking_url": _TRACKING_URLS.get(f.name),
            }
            for f in _FORWARDERS
        ],
    }
    wb = Workbook()
    wb.remove(wb.active)
    for key in TEAM_TABS:
        _write_tab(wb, TAB_SPECS[key], tab_rows[key])
    _write_tab(
        wb,
        TAB_SPECS["kits"],
        [{"kit_sku": KIT_SKU, "component_sku": s, "qty": n} for s, n in KIT_COMPONENTS],
    )
    complaint_rows = _complaints(order_rows, local_now)  # issue 18
    _write_tab(wb, TAB_SPECS["complaints"], complaint_rows)
    posts = _content_plan(local_now)  # issue 19
    _write_tab(wb, TAB_SPECS["content_plan"], posts)
    wb.properties.creator = SHOP_NAME
    wb.properties.title = f"{SHOP_NAME} operations (demo)"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    _make_reproducible(path, now)

    # -- facts, measured from what was written
    units_all = _units_sold(orders, local_now - timedelta(days=HISTORY_DAYS + 1))
    best = tuple(sku for sku, _ in sorted(units_all.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
    window = local_now - timedelta(days=RATE_WINDOW_DAYS)
    faulty_shipped = sum(
        r["qty"]
        for r in order_rows
        if r["sku"] == FAULTY_SKU and r["shipped_at"] is not None and r["shipped_at"] >= window
    )
    faulty_returned = sum(
        r["qty"] for r in returns if r["sku"] == FAULTY_SKU and r["requested_at"] >= window
    )
    late = sorted(
        {
            o.order_id
            for o in orders
            if o.status in ("NEW", "PACKED", "READY") and _ship_by(o.ordered) < local_now.date()
        }
    )
    formula_rows = tuple(
        i + 2 for i, r in enumerate(order_rows) if r["customer"] == FORMULA_CUSTOMER
    )
    return DemoFacts(
        now=now,
        seed=seed,
        shop_name=SHOP_NAME,
        suppliers=len(_SUPPLIERS),
        skus=len({r["sku"] for r in stock}),
        stock_rows=len(stock),
        forwarders=len(_FORWARDERS),
        orders=len(orders),
        order_lines=len(order_rows),
        cancelled_orders=len(story.cancelled),
        purchase_orders=len({r["po_number"] for r in purchase_orders}),
        purchase_order_lines=len(purchase_orders),
        returns=len(returns),
        supplier_codes={s.name: s.code for s in _SUPPLIERS},
        best_sellers=best,
        faulty_sku=FAULTY_SKU,
        faulty_units_shipped_90d=faulty_shipped,
        faulty_units_returned_90d=faulty_returned,
        faulty_return_rate=faulty_returned / faulty_shipped if faulty_shipped else 0.0,
        out_of_stock_skus=OUT_OF_STOCK_SKUS,
        low_stock_skus=LOW_STOCK_SKUS,
        overstocked_sku=OVERSTOCKED_SKU,
        inactive_skus=INACTIVE_SKUS,
        unsold_skus=UNSOLD_SKUS,
        duplicate_sku=DUPLICATED_SKU,
        duplicate_sku_rows=duplicate_rows,
        open_purchase_orders=tuple(open_pos),
        overdue_purchase_order=overdue_po,
        late_order_ids=tuple(late),
        stuck_order_ids=tuple(sorted(o.order_id for o in story.stuck)),
        on_hold_order_ids=tuple(sorted(o.order_id for o in story.on_hold)),
        ready_order_ids=tuple(sorted(o.order_id for o in orders if o.status == "READY")),
        formula_customer_rows=formula_rows,
        blank_return_id_rows=tuple(blank_return_rows),
        outside_window_return_row=outside_window_row,
        mistakes=mistakes,
        kit_sku=KIT_SKU,
        partly_received=(overdue_po, PARTLY_RECEIVED_SKU),
        unpaid_order_id=unpaid.order_id if unpaid is not None else "",
        wrong_postcode_order_id=wrong_postcode.order_id if wrong_postcode is not None else "",
        listing_pages=listing.pages,
        listed_skus=listing.skus,
        wrong_price_sku=listing.wrong_price_sku,
        shown_in_stock_sku=listing.shown_in_stock_sku,
        overdue_post=OVERDUE_POST,
        content_posts=len(posts),
        complaints=len(complaint_rows),
        overdue_complaint=OVERDUE_COMPLAINT,
    )


def _location(sku: str) -> str:
    """A bin for each SKU: an aisle per catalogue range, a bay per item (A-3, A-12)."""
    prefixes = [prefix for prefix, _, _ in _CATALOGUE]
    prefix, _, number = sku.rpartition("-")
    if prefix in prefixes and number.isdigit():
        return f"{chr(ord('A') + prefixes.index(prefix))}-{int(number)}"
    return "PACK-1"  # the gift box is made up at the packing bench


def _packing_day(
    orders: Sequence[_Order],
    story: _OrderStory,
    order_rows: list[Row],
    stock: list[Row],
    now: datetime,
) -> tuple[_Order | None, _Order | None]:
    """Issue 22: Locations on Stock; an unpaid READY order and a UK order whose
    postcode got one letter too many, both due today (not late), so the demo shows
    HOLD: UNPAID and HOLD: ADDRESS where a pickup would otherwise be booked."""
    for r in stock:
        r["location"] = _location(str(r["sku"]))
    taken = {
        id(o)
        for o in (
            story.formula_customer,
            story.unknown_sku,
            story.two_emails,
            story.date_typo,
            *story.late,
            *story.on_hold,
        )
        if o is not None
    }
    due = [
        o
        for o in orders
        if id(o) not in taken
        and o.status in ("READY", "PACKED", "NEW")
        and _ship_by(o.ordered) == now.date()
        and o.customer.in_uk
    ]
    due.sort(key=lambda o: (o.status != "READY", len(o.lines), o.order_id))
    unpaid = due[0] if due else None
    wrong = due[1] if len(due) > 1 else None
    for r in order_rows:
        if unpaid is not None and r["order_id"] == unpaid.order_id:
            r["payment"] = "PENDING"
        if wrong is not None and r["order_id"] == wrong.order_id:
            r["postcode"] = f"{r['postcode']}{str(r['postcode'])[-1]}"
    return unpaid, wrong


# ---------------------------------------------------------------- complaints (issue 18)

_TRACKING_URLS = {
    "Swiftpost Parcels": "https://track.swiftpost-parcels.example/?parcel={tracking}",
    "Northline Couriers": "https://northline-couriers.example/track/{tracking}",
}
OVERDUE_COMPLAINT = "CMP-2026-0012"


def _complaints(order_rows: Sequence[Row], now: datetime) -> list[Row]:
    """Four complaints as of Monday morning: two about the faulty milk frother (one
    of them unanswered since Thursday: overdue; its SKU finding joins the returns
    job's), one answered and in progress, one resolved, and one that came in this
    morning with a blank Complaint ID (the job numbers and acknowledges it)."""
    delivered = [r for r in order_rows if r["delivered_at"] is not None and r["email"]]
    delivered.sort(key=lambda r: r["delivered_at"], reverse=True)
    frother = [r for r in delivered if r["sku"] == FAULTY_SKU]
    others = [r for r in delivered if r["sku"] != FAULTY_SKU]

    def row(r: Row, **kw: Any) -> Row:
        return {"customer": r["customer"], "email": r["email"], "order_id": r["order_id"],
                "sku": r["sku"], **kw}  # fmt: skip

    thursday = datetime.combine(now.date() - timedelta(days=4), time(8, 40))
    rows = [
        row(frother[0], complaint_id=OVERDUE_COMPLAINT, received_at=thursday,
            category="QUALITY", description="The frother stopped working after two days.",
            owner="Priya", status="NEW"),
        row(others[3], complaint_id="CMP-2026-0013", received_at=thursday + timedelta(hours=6),
            category="DAMAGED", description="The box was crushed and one bowl is chipped.",
            owner="Priya", status="IN PROGRESS",
            first_response_at=thursday + timedelta(hours=7)),
        row(others[8], complaint_id="CMP-2026-0009", received_at=now - timedelta(days=10),
            category="LATE", description="Parcel arrived three days after the date promised.",
            owner="Sam", status="RESOLVED", first_response_at=now - timedelta(days=10, hours=-2),
            resolved_at=now - timedelta(days=7)),
        row(frother[1] if len(frother) > 1 else frother[0], received_at=now - timedelta(hours=1),
            category="QUALITY", description="Milk frother: the whisk & the motor are loose.",
            status="NEW"),
    ]  # fmt: skip
    return rows


_DEMO_CONFIG = f"""\
# ops-sheets configuration for the demo shop, written by `ops-sheets demo`.
# Every key is optional: a missing key takes its default (config.example.toml
# lists them all). Relative paths are relative to the folder of this file.

shop_name = "{SHOP_NAME}"          # signs the emails
timezone = "Europe/London"          # cut-offs, pickups and --now are read in this zone
currency = "GBP"

[workbook]
backend = "xlsx"                    # "google" for a Google Sheet (then set spreadsheet_id)
path = "workbook.xlsx"

[mail]
transport = "outbox"                # write each email to outbox/<key>.eml; "smtp" sends it
outbox_dir = "outbox"
sender = "{SHOP_NAME} Ops <ops@{SHOP_DOMAIN}>"
# alerts and the weekly summary go to the manager
manager = "manager@{SHOP_DOMAIN}"

[state]
path = "state.db"                   # remembers every email sent, so none goes out twice

[jobs.stock]
# printed on purchase orders so suppliers know where to deliver
delivery_address = "{SHOP_NAME}, Unit 4 Canalside Works, Leeds LS11 5QR"

[jobs.orders]
order_cutoff = "14:00"              # orders after this ship from the next business day
ship_within_business_days = 1
at_risk_hours = 8                   # unshipped lines this close to their last pickup
# one printable PDF per order due for the next pickup (rewritten only when it changes)
packing_slips_dir = "slips"
"""


def write_demo_config(directory: Path) -> Path:
    """Write the demo's config.toml into `directory` and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(_DEMO_CONFIG, encoding="utf-8")
    return path


# ---------------------------------------------------------------- issue 19: pages, content plan

#: the out-of-stock SKU whose page still says InStock
SHOWN_IN_STOCK_SKU = OUT_OF_STOCK_SKUS[0]
LISTED_ORDINARY = 4  # well-stocked SKUs with a page; the second shows a wrong price
OVERDUE_POST = "Black Friday countdown teaser"


class _Listing(NamedTuple):
    pages: dict[str, bytes]
    skus: tuple[str, ...]
    wrong_price_sku: str
    shown_in_stock_sku: str


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _listing_pages(stock: list[Row], shop_url: str) -> _Listing:
    """Give some Stock rows a URL and write their pages as Shopify's Dawn theme would
    (JSON-LD Product with one Offer): two pages tell a lie the listings job finds.
    Draws nothing from the random generator, so the rest of the workbook is unchanged."""
    special = {
        FAULTY_SKU, OVERSTOCKED_SKU, DUPLICATED_SKU, TEXT_ON_HAND_SKU, KIT_SKU,
        *OUT_OF_STOCK_SKUS, *LOW_STOCK_SKUS, *INACTIVE_SKUS, *UNSOLD_SKUS,
    }  # fmt: skip
    plenty = sorted(
        (r for r in stock if r["sku"] not in special and isinstance(r["on_hand"], int)
         and r["on_hand"] >= 20),
        key=lambda r: r["sku"],
    )[:LISTED_ORDINARY]  # fmt: skip
    shown = next(r for r in stock if r["sku"] == SHOWN_IN_STOCK_SKU)
    wrong = plenty[1]["sku"]
    pages: dict[str, bytes] = {}
    for r in [*plenty, shown]:
        path = f"/products/{_slug(r['product'])}"
        r["url"] = shop_url.rstrip("/") + path
        price = float(r["price"]) + (3.0 if r["sku"] == wrong else 0.0)
        available = r["on_hand"] > 0 or r["sku"] == SHOWN_IN_STOCK_SKU
        pages[path] = _dawn_page(r, price, available, shop_url)
    return _Listing(pages, tuple(r["sku"] for r in [*plenty, shown]), wrong, SHOWN_IN_STOCK_SKU)


def _dawn_page(row: Row, price: float, in_stock: bool, shop_url: str) -> bytes:
    import html
    import json

    slug = _slug(row["product"])
    digits = re.sub(r"[^0-9]", "", row["sku"]).rjust(5, "0")
    data = {
        "@context": "http://schema.org/",
        "@id": f"/products/{slug}#product",
        "@type": "Product",
        "brand": {"@type": "Brand", "name": SHOP_NAME},
        "description": f"{row['product']} from {SHOP_NAME}.",
        "image": f"{shop_url}/cdn/shop/files/{slug}.jpg",
        "name": row["product"],
        "offers": [
            {
                "@id": f"/products/{slug}?variant=1#offer",
                "@type": "Offer",
                "availability": "http://schema.org/" + ("InStock" if in_stock else "OutOfStock"),
                "gtin": f"50601234{digits}",
                "price": f"{price:.2f}",
                "priceCurrency": "GBP",
                "sku": row["sku"],
            }
        ],
        "url": f"{shop_url}/products/{slug}",
    }
    title = html.escape(row["product"])
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} '
        f"&ndash; {html.escape(SHOP_NAME)}</title></head><body><main><h1>{title}</h1>"
        f'<div class="price">£{price:.2f} GBP</div>'
        f'<script type="application/ld+json">{json.dumps(data)}</script></main></body></html>'
    ).encode()


def _content_plan(now: datetime) -> list[Row]:
    """A fortnight of the shop's content plan around ``now``: one post overdue, one
    due today, one whose owner gets a reminder (2 days ahead, still a draft)."""
    today = now.date()
    team = (f"sam@{SHOP_DOMAIN}", f"priya@{SHOP_DOMAIN}")

    def post(days: int, channel: str, title: str, owner: int, status: str, link: str = "") -> Row:
        return {
            "date": today + timedelta(days=days),
            "channel": channel,
            "title": title,
            "owner": team[owner],
            "status": status,
            "link": link,
        }

    return [
        post(-7, "TikTok", "Unboxing the gift box", 1, "SKIPPED"),
        post(-5, "Blog", "How to season a cast-iron pan", 0, "PUBLISHED",
             f"https://www.{SHOP_DOMAIN}/blogs/kitchen/season-cast-iron"),
        post(-3, "Newsletter", "Black Friday early access", 1, "PUBLISHED"),
        post(-4, "Instagram", OVERDUE_POST, 0, "DRAFT"),
        post(0, "Instagram", "Monday kitchen tip", 0, "SCHEDULED"),
        post(2, "Newsletter", "Gift guide: under £25", 1, "DRAFT"),
        post(4, "Instagram", "Black Friday live", 0, "READY"),
        post(11, "Blog", "Christmas baking checklist", 1, "IDEA"),
    ]  # fmt: skip


_DEMO_CONFIG += """
[jobs.listings]
# The demo serves its product pages itself, on 127.0.0.1, while `demo` runs; a
# shop's own staging server on the private network is allowed the same way.
allow_networks = ["127.0.0.1/32"]
requests_per_minute_per_host = 600  # a live shop: keep the default 30
timeout_seconds = 5

[jobs.content]
remind_days_before = 2              # the post's Owner hears this many days ahead
"""
