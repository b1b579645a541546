"""Tab and column specs, header matching, and parsing cells into typed frames.

The team types whatever it types; this module turns each tab into a pandas frame
whose columns have one type each, plus a list of :class:`Problem` rows that say
where a cell could not be understood and how to fix it. Nothing here raises on
bad data: a bad cell becomes a blank value and a problem, and the row stays
(principle 4). Frames carry ``_row``, the row number as the spreadsheet shows it.

A team row whose key is blank or duplicated is reported and skipped (principle
2): :attr:`Table.frame` leaves it out, so no demand, revenue, KPI, pickup or
return rate counts it, exactly as its Problems row says. :attr:`Table.all_rows`
keeps every row for the few readers that must see what the sheet holds (which
RMA numbers are taken).

Column keys (``on_hand``) are what code uses; headers (``On hand``) are what the
sheet shows, matched ignoring case, spaces, ``_``, ``-`` and ``.``, and renamed
per workbook with ``[tabs.<tab>] columns = { on_hand = "Qty in stock" }``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ops_sheets.sheet.cells import Cell, Grid, key_text, normalise_header

if TYPE_CHECKING:
    from ops_sheets.config import Settings

Kind = Literal["text", "key", "number", "int", "date", "datetime", "bool", "enum", "time", "email"]
Owner = Literal["team", "service"]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: Kind = "text"
    owner: Owner = "team"
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None  # numbers below this are a problem (e.g. negative Qty)
    default: Any = None
    #: keep the cell as typed too (frame column ``_raw_<key>``), for a date that
    #: serves in a write-time key (Returns: Order ID + SKU + Requested at)
    keep_text: bool = False
    #: a team column added after wave 1: ``init`` does not add it to a tab it
    #: creates (the team adds it when it uses it; presets and ``import`` fill it)
    optional: bool = False


@dataclass(frozen=True)
class TabSpec:
    key: str
    title: str
    columns: tuple[Column, ...]
    key_columns: tuple[str, ...] = ()
    service_owned: bool = False  # the service owns the whole tab

    def column(self, key_or_header: str) -> Column | None:
        """The column with this key or header (the first in order, as a scan would find)."""
        by_key, by_header = self._column_index
        at_key = by_key.get(key_or_header)
        at_header = by_header.get(normalise_header(key_or_header))
        if at_key is None or at_header is None:
            found = at_key if at_key is not None else at_header
        else:
            found = min(at_key, at_header)
        return None if found is None else self.columns[found]

    @cached_property
    def _column_index(self) -> tuple[dict[str, int], dict[str, int]]:
        # jobs name a column once per row written: a scan per call made writing
        # 100k rows cost seconds (issue 14)
        by_key: dict[str, int] = {}
        by_header: dict[str, int] = {}
        for i, c in enumerate(self.columns):
            by_key.setdefault(c.key, i)
            by_header.setdefault(normalise_header(c.header), i)
        return by_key, by_header

    @property
    def service_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.owner == "service")


def _team(key: str, header: str, kind: Kind = "text", **kw: Any) -> Column:
    return Column(key, header, kind, "team", **kw)


def _service(key: str, header: str, kind: Kind = "text", **kw: Any) -> Column:
    return Column(key, header, kind, "service", **kw)


STOCK_STATUSES = ("OK", "LOW", "REORDER", "OUT OF STOCK", "ON ORDER", "INACTIVE")
PO_STATUSES = ("DRAFT", "APPROVED", "SENT", "CONFIRMED", "RECEIVED", "CANCELLED")
OPEN_PO_STATUSES = ("DRAFT", "APPROVED", "SENT", "CONFIRMED")
ORDER_STATUSES = ("NEW", "PACKED", "READY", "SHIPPED", "DELIVERED", "CANCELLED", "ON HOLD")
RETURN_STATUSES = ("REQUESTED", "APPROVED", "RECEIVED", "REFUNDED", "REJECTED")
#: Orders ``Payment`` (wave 2; blank = PAID): presets fill it from the platform's
#: financial status
PAYMENT_STATUSES = ("PAID", "PENDING", "PARTIALLY PAID", "REFUNDED", "VOIDED")

STOCK = TabSpec(
    "stock",
    "Stock",
    (
        _team("sku", "SKU", "key", required=True),
        _team("product", "Product"),
        _team("supplier", "Supplier", "key"),
        _team("on_hand", "On hand", "number", required=True),
        _team("reorder_point", "Reorder point", "number", minimum=0),
        _team("max_stock", "Max stock", "number", minimum=0),
        _team("safety_stock", "Safety stock", "number", minimum=0),
        _team("lead_time_days", "Lead time days", "number", minimum=0),
        _team("pack_size", "Pack size", "number", minimum=1),
        _team("min_order_qty", "Min order qty", "number", minimum=0),
        _team("unit_cost", "Unit cost", "number", minimum=0),
        _team("price", "Price", "number", minimum=0),
        _team("active", "Active", "bool", default=True),
        # wave 2, optional: a Stock tab without them reads as before
        _team("counted", "Counted", "number", minimum=0, optional=True),
        _team("counted_at", "Counted at", "datetime", optional=True),
        _team("forecast_per_day", "Forecast per day", "number", minimum=0, optional=True),
        _team("url", "URL", optional=True),
        # packing day (issue 22), optional: the bin or shelf, for the Pick list
        _team("location", "Location", optional=True),
        _service("daily_demand", "Daily demand", "number"),
        _service("days_of_cover", "Days of cover", "number"),
        _service("on_order", "On order", "number"),
        _service("suggested_order", "Suggested order", "number"),
        _service("stock_status", "Stock status", "enum", choices=STOCK_STATUSES),
        _service("why", "Why"),
        _service("checked_at", "Checked at", "datetime"),
        # wave 2: added by the first run that writes them (``init`` leaves them to it)
        _service("committed", "Committed", "number", optional=True),
        _service("available", "Available", "number", optional=True),
    ),
    key_columns=("sku",),
)

SUPPLIERS = TabSpec(
    "suppliers",
    "Suppliers",
    (
        _team("supplier", "Supplier", "key", required=True),
        _team("email", "Email", "email"),
        _team("contact", "Contact"),
        _team("lead_time_days", "Lead time days", "number", minimum=0),
        _team("min_order_value", "Min order value", "number", minimum=0),
        _team("notes", "Notes"),
    ),
    key_columns=("supplier",),
)

PURCHASE_ORDERS = TabSpec(
    "purchase_orders",
    "Purchase orders",
    (
        _team("po_number", "PO number", "key", required=True),
        _team("supplier", "Supplier", "key"),
        _team("sku", "SKU", "key", required=True),
        _team("qty", "Qty", "number", minimum=0),
        _team("unit_cost", "Unit cost", "number", minimum=0),
        _team("created_at", "Created at", "datetime"),
        _team("expected_by", "Expected by", "date"),
        _team("status", "Status", "enum", choices=PO_STATUSES, required=True),
        _team("received_at", "Received at", "datetime"),
        # wave 2, optional: blank = all of Qty once RECEIVED
        _team("qty_received", "Qty received", "number", minimum=0, optional=True),
    ),
    key_columns=("po_number", "sku"),
)

ORDERS = TabSpec(
    "orders",
    "Orders",
    (
        _team("order_id", "Order ID", "key", required=True),
        _team("order_date", "Order date", "datetime", required=True),
        _team("customer", "Customer"),
        _team("email", "Email", "email"),
        _team("address", "Address"),
        _team("city", "City"),
        _team("postcode", "Postcode"),
        _team("country", "Country"),
        _team("sku", "SKU", "key", required=True),
        _team("qty", "Qty", "number", required=True),
        _team("unit_price", "Unit price", "number", minimum=0),
        _team("forwarder", "Forwarder", "key"),
        _team("status", "Status", "enum", choices=ORDER_STATUSES, required=True),
        _team("tracking", "Tracking"),
        _team("shipped_at", "Shipped at", "datetime"),
        _team("delivered_at", "Delivered at", "datetime"),
        # wave 2, optional: a tab without them reads as before (blank = PAID, and
        # blank Qty shipped = all of Qty once shipped)
        _team("state", "State", optional=True),
        _team("payment", "Payment", "enum", choices=PAYMENT_STATUSES, optional=True),
        _team("qty_shipped", "Qty shipped", "number", minimum=0, optional=True),
        # issue 18: `no` = send this customer nothing about this order
        _team("notify", "Notify", optional=True),
        _service("ship_by", "Ship by", "date"),
        _service("ops_status", "Ops status"),
        _service("problems", "Problems"),
    ),
    key_columns=("order_id", "sku"),
)

RETURNS = TabSpec(
    "returns",
    "Returns",
    (
        # Blank Return IDs are allowed: the service assigns an RMA number.
        _team("return_id", "Return ID", "key"),
        _team("order_id", "Order ID", "key", required=True),
        _team("sku", "SKU", "key", required=True),
        _team("qty", "Qty", "number", minimum=0),
        _team("requested_at", "Requested at", "datetime", keep_text=True),
        _team("reason", "Reason"),
        _team("condition", "Condition"),
        _team("status", "Status", "enum", choices=RETURN_STATUSES, required=True),
        _team("refund_amount", "Refund amount", "number", minimum=0),
        _service("ops_status", "Ops status"),
        _service("problems", "Problems"),
    ),
    key_columns=("return_id",),
)

#: Kits and bundles (wave 2): one row per component. Not a required tab: a shop
#: without kits has none, and jobs that read it (``READS``) treat it as empty.
KITS = TabSpec(
    "kits",
    "Kits",
    (
        _team("kit_sku", "Kit SKU", "key", required=True),
        _team("component_sku", "Component SKU", "key", required=True),
        _team("qty", "Qty", "number", minimum=0),
    ),
    key_columns=("kit_sku", "component_sku"),
)

FORWARDERS = TabSpec(
    "forwarders",
    "Forwarders",
    (
        _team("forwarder", "Forwarder", "key", required=True),
        _team("email", "Email", "email"),
        _team("pickup_cutoff", "Pickup cutoff", "time"),
        _team("pickup_days", "Pickup days"),
        _team("account", "Account"),
        # issue 18: the courier's tracking page, `{tracking}` where the number goes
        _team("tracking_url", "Tracking URL", optional=True),
    ),
    key_columns=("forwarder",),
)

PROBLEMS = TabSpec(
    "problems",
    "Problems",
    tuple(
        _service(k, h)
        for k, h in [
            ("tab", "Tab"),
            ("row", "Row"),
            ("column", "Column"),
            ("key", "Key"),
            ("value", "Value"),
            ("problem", "Problem"),
            ("job", "Job"),
            ("found_at", "Found at"),
            ("how_to_fix", "How to fix"),
        ]
    ),
    key_columns=("tab",),
    service_owned=True,
)

ACTIVITY_LOG = TabSpec(
    "activity_log",
    "Activity log",
    tuple(
        _service(k, h)
        for k, h in [
            ("time", "Time"),
            ("job", "Job"),
            ("action", "Action"),
            ("subject", "Subject"),
            ("to", "To"),
            ("reference", "Reference"),
            ("result", "Result"),
        ]
    ),
    key_columns=("time",),
    service_owned=True,
)

KPI_COLUMNS = (
    "Orders",
    "Order lines",
    "Units",
    "Revenue",
    "Average order value",
    "Lines shipped",
    "Shipped on time %",
    "Avg hours to ship",
    "Late open lines",
    "Stuck shipments",
    "SKUs out of stock",
    "SKUs at reorder point",
    "Inventory value",
    "Returns requested",
    "Return rate 30d %",
    "Open problems",
    "Emails sent",
    "Emails awaiting review",
    # issue 18: customers and complaints (ops_sheets.domain.customer_kpis)
    "Complaints opened",
    "Median hours to first response",
    "Answered within SLA %",
    "Shipping confirmations sent",
    "Delay notices sent",
    "Review requests sent",
    "Complaint acknowledgements sent",
)


def _kpi_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.lower().replace("%", "pct")).strip("_")


DAILY_KPIS = TabSpec(
    "daily_kpis",
    "Daily KPIs",
    (
        _service("date", "Date", "date"),
        *(_service(_kpi_key(h), h, "number") for h in KPI_COLUMNS),
    ),
    key_columns=("date",),
    service_owned=True,
)

WEEKLY_SUMMARY = TabSpec(
    "weekly_summary",
    "Weekly summary",
    (
        _service("week", "Week"),
        _service("from", "From", "date"),
        _service("to", "To", "date"),
        *(
            col
            for h in KPI_COLUMNS
            for col in (
                _service(_kpi_key(h), h, "number"),
                _service(_kpi_key(h) + "_change", f"{h} change", "number"),
            )
        ),
    ),
    key_columns=("week",),
    service_owned=True,
)

TODAY = TabSpec(
    "today",
    "Today",
    (
        _service("priority", "Priority", "int"),
        _service("area", "Area"),
        _service("what_to_do", "What to do"),
        _service("reference", "Reference"),
        _service("due", "Due", "date"),
    ),
    key_columns=("priority",),
    service_owned=True,
)

#: Packing day (issue 22): rewritten by ``orders``, one row per SKU to pick for the
#: lines due by the end of the next pickup (DESIGN.md, contract).
PICK_LIST = TabSpec(
    "pick_list",
    "Pick list",
    (
        _service("location", "Location"),
        _service("sku", "SKU"),
        _service("product", "Product"),
        _service("qty", "Qty", "number"),
        _service("orders", "Orders"),
        _service("ship_by", "Ship by", "date"),
    ),
    key_columns=("sku",),
    service_owned=True,
)

#: Complaints (wave 2, issue 18): a team tab the ``complaints`` job reads (``READS``);
#: not required, so a shop without one sees wave 1. A blank Complaint ID gets a
#: ``CMP-<yyyy>-<nnnn>`` number, as a blank Return ID gets an RMA number.
COMPLAINT_CATEGORIES = ("DAMAGED", "LATE", "WRONG ITEM", "QUALITY", "SERVICE", "OTHER")
COMPLAINT_STATUSES = ("NEW", "IN PROGRESS", "WAITING ON CUSTOMER", "RESOLVED", "CLOSED")
COMPLAINTS = TabSpec(
    "complaints",
    "Complaints",
    (
        _team("complaint_id", "Complaint ID", "key"),
        _team("received_at", "Received at", "datetime", required=True, keep_text=True),
        _team("customer", "Customer"),
        _team("email", "Email", "email"),
        _team("order_id", "Order ID", "key"),
        _team("sku", "SKU", "key"),
        _team("category", "Category", "enum", choices=COMPLAINT_CATEGORIES),
        _team("description", "Description"),
        _team("owner", "Owner"),
        _team("status", "Status", "enum", choices=COMPLAINT_STATUSES, required=True),
        _team("first_response_at", "First response at", "datetime"),
        _team("resolved_at", "Resolved at", "datetime"),
        _service("respond_by", "Respond by", "datetime"),
        _service("resolve_by", "Resolve by", "date"),
        _service("ops_status", "Ops status"),
        _service("problems", "Problems"),
    ),
    key_columns=("complaint_id",),
)

TAB_SPECS: dict[str, TabSpec] = {
    s.key: s
    for s in (
        STOCK,
        SUPPLIERS,
        PURCHASE_ORDERS,
        ORDERS,
        RETURNS,
        FORWARDERS,
        KITS,
        PROBLEMS,
        ACTIVITY_LOG,
        DAILY_KPIS,
        WEEKLY_SUMMARY,
        TODAY,
        PICK_LIST,
        COMPLAINTS,
    )
}
TEAM_TABS = ("stock", "suppliers", "purchase_orders", "orders", "returns", "forwarders")


# ---------------------------------------------------------------- issue 19: listings, content

CONTENT_STATUSES = ("IDEA", "DRAFT", "READY", "SCHEDULED", "PUBLISHED", "SKIPPED")

#: The content plan (wave 2): one row per planned post, key Date + Channel + Title.
#: Not a required tab: a shop without one has no content plan.
CONTENT_PLAN = TabSpec(
    "content_plan",
    "Content plan",
    (
        _team("date", "Date", "date", required=True, keep_text=True),
        _team("channel", "Channel", "key", required=True),
        _team("title", "Title", "key", required=True),
        _team("owner", "Owner", "email"),
        _team("status", "Status", "enum", choices=CONTENT_STATUSES),
        _team("link", "Link"),
        # optional: when it went out; blank = the day the service first saw PUBLISHED
        _team("published_at", "Published at", "date", optional=True),
        _service("ops_status", "Ops status"),
    ),
    key_columns=("date", "channel", "title"),
)

#: Listings (wave 2): one row per product page checked, rewritten by `listings`.
LISTINGS = TabSpec(
    "listings",
    "Listings",
    (
        _service("sku", "SKU"),
        _service("url", "URL"),
        _service("checked_at", "Checked at", "datetime"),
        _service("http_status", "HTTP status", "int"),
        _service("page_price", "Page price", "number"),
        _service("sheet_price", "Sheet price", "number"),
        _service("page_availability", "Page availability"),
        _service("available", "Available", "number"),
        _service("result", "Result"),
        _service("details", "Details"),
    ),
    key_columns=("sku",),
    service_owned=True,
)

TAB_SPECS[CONTENT_PLAN.key] = CONTENT_PLAN
TAB_SPECS[LISTINGS.key] = LISTINGS


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing in the sheet that the service could not understand or accept."""

    tab: str  # the tab's title as the sheet shows it
    row: int | None  # spreadsheet row number (header is row 1); None = the whole tab
    column: str  # header as the sheet shows it ("" = whole row)
    key: str
    value: str
    problem: str
    fix: str
    #: False: the Today tab has a to-do of its own for it (an order on hold)
    todo: bool = True
    #: the keys of the tabs besides its own it is worked out from ("stock" for an
    #: unknown SKU on Orders): while one of them cannot be read the row is kept as
    #: it was (service.problems_tab). Not part of what the row says.
    depends: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def as_row(self, job: str, found_at: datetime) -> dict[str, Cell]:
        return {
            "Tab": self.tab,
            "Row": self.row,
            "Column": self.column,
            "Key": self.key,
            "Value": self.value,
            "Problem": self.problem,
            "Job": job,
            "Found at": found_at,
            "How to fix": self.fix,
        }

    @property
    def where(self) -> str:
        """Where it is, for people: ``Orders!Postcode row 3``, ``Orders row 3`` (the
        whole row) or ``Orders`` (the whole tab)."""
        if not self.row:
            return self.tab
        return (
            f"{self.tab}!{self.column} row {self.row}"
            if self.column
            else f"{self.tab} row {self.row}"
        )

    def __str__(self) -> str:
        where = self.where
        return f"{where}: {self.problem} — {self.fix}" if self.fix else f"{where}: {self.problem}"


# ---------------------------------------------------------------- parsing cells


class CellError(ValueError):
    """A cell that does not parse; ``args = (problem, fix)``."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem, fix)
        self.problem = problem
        self.fix = fix


# Spreadsheet serial dates count days from 1899-12-30 (Lotus 1-2-3's leap-year bug).
_SERIAL_EPOCH = datetime(1899, 12, 30)  # noqa: DTZ001 - a calendar origin, not a moment
_SERIAL_RANGE = (20000, 80000)  # 1954..2119: outside this a number is not meant as a date
_NUMBER_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_CURRENCY = "£$€¥"
#: No cell the team types means a number this large: anything beyond it is a typo
#: (or 1e308 pasted to break the sums), so it is a problem, never a value.
NUMBER_LIMIT = 1e9
#: The earliest date the service accepts; the latest is two years after ``now``.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_YEARS_AHEAD = 2
_TRUE = {"yes", "y", "true", "t", "1", "✓", "✔", "x", "on", "active"}
_FALSE = {"no", "n", "false", "f", "0", "✗", "✘", "off", "inactive", ""}


def parse_number(value: Cell) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellError("a TRUE/FALSE value where a number belongs", "type a number such as 12")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise CellError("not a finite number", "type a number such as 12")
        return _within_limit(float(value))
    if isinstance(value, (datetime, date, time)):
        raise CellError("a date where a number belongs", "type a number such as 12")
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if text == "":
        return None
    if text[:1] in _CURRENCY:
        text = text[1:]
    elif text[:2] in {f"-{c}" for c in _CURRENCY}:
        text = "-" + text[2:]
    if _THOUSANDS_RE.match(text):
        text = text.replace(",", "")
    if _NUMBER_RE.match(text):
        return _within_limit(float(text))
    if re.match(r"^[-+]?\d+,\d+$", text):
        raise CellError(
            "a decimal comma, which is ambiguous here", "use a point for decimals: 12.5"
        )
    raise CellError("not a number", "type a number such as 12 or 1,234.50, or leave it blank")


def _within_limit(number: float) -> float:
    if not math.isfinite(number) or abs(number) > NUMBER_LIMIT:
        raise CellError(
            f"a number beyond ±{NUMBER_LIMIT:,.0f}",
            "check the cell for a typo: type the real amount, such as 12",
        )
    return number


def parse_int(value: Cell) -> int | None:
    n = parse_number(value)
    if n is None:
        return None
    if not float(n).is_integer():
        raise CellError("not a whole number", "type a whole number such as 3")
    return int(n)


def parse_bool(value: Cell) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().casefold()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CellError("not yes or no", "type yes or no (or true/false, 1/0, ✓)")


def parse_enum(value: Cell, choices: Sequence[str]) -> str | None:
    if value is None:
        return None
    text = re.sub(r"[\s_\-]+", " ", str(value)).strip().upper()
    if text == "":
        return None
    if text in choices:
        return text
    raise CellError("not a known status", "use one of: " + ", ".join(choices))


def _localise(dt: datetime, tz: ZoneInfo) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=tz)
    return dt.astimezone(tz)


_DMY_RE = re.compile(
    r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)


def parse_datetime(value: Cell, tz: ZoneInfo, *, day_first: bool = True) -> datetime | None:
    """A moment in the business time zone from whatever the sheet holds."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellError("a TRUE/FALSE value where a date belongs", "type a date like 2026-11-26")
    if isinstance(value, datetime):
        return _localise(value, tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    if isinstance(value, (int, float)):
        if not _SERIAL_RANGE[0] <= value <= _SERIAL_RANGE[1]:
            raise CellError(
                "a number that is not a date", "type a date like 2026-11-26 or 26/11/2026"
            )
        naive = _SERIAL_EPOCH + timedelta(days=float(value))
        # serials carry float noise: round to the second
        naive = (naive + timedelta(microseconds=500_000)).replace(microsecond=0)
        return naive.replace(tzinfo=tz)
    text = str(value).strip()
    if text == "":
        return None
    m = _DMY_RE.match(text)
    if m:
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        day, month = (a, b) if day_first else (b, a)
        hour, minute, second = (int(m.group(i) or 0) for i in (4, 5, 6))
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError:
            raise CellError(
                "not a real calendar date", "check day and month, e.g. 26/11/2026"
            ) from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        if re.match(r"^\d+(\.\d+)?$", text):
            return parse_datetime(float(text), tz, day_first=day_first)
        raise CellError(
            "not a date", "type a date like 2026-11-26 or 26/11/2026 (time optional: 14:30)"
        ) from None
    return _localise(parsed, tz)


def date_window(now: datetime) -> tuple[datetime, datetime]:
    """The first and last moment a date cell may hold: 2000-01-01 … ``now`` + 2 years.

    Dates outside it are typos (31/12/9999, 1926 for 2026) that would otherwise
    overflow date arithmetic or make a ship-by deadline centuries away.
    """
    tz = now.tzinfo
    first = datetime.combine(EARLIEST_DATE, time(0), tzinfo=tz)
    try:
        last = now.replace(year=now.year + LATEST_YEARS_AHEAD)
    except ValueError:  # 29 February
        last = now.replace(year=now.year + LATEST_YEARS_AHEAD, day=28)
    # the whole of that last day counts: a date typed without a time is midnight
    last = datetime.combine(last.date(), time.max, tzinfo=tz)
    return first, last


def check_date_window(value: datetime | None, window: tuple[datetime, datetime]) -> None:
    """Raise :class:`CellError` when ``value`` lies outside ``window`` (see :func:`date_window`)."""
    if value is None:
        return
    first, last = window
    if not first <= value <= last:
        raise CellError(
            f"a date outside {first:%Y-%m-%d} … {last:%Y-%m-%d}",
            "check the year: dates run from 2000-01-01 to two years after today",
        )


def parse_time(value: Cell) -> time | None:
    if value is None:
        return None
    if isinstance(value, time):
        return value
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        seconds = round(float(value) * 86400)
        return time(seconds // 3600, seconds % 3600 // 60)
    text = str(value).strip()
    if text == "":
        return None
    m = re.match(r"^(\d{1,2})[:.](\d{2})(?::\d{2})?$", text)
    if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
        return time(int(m.group(1)), int(m.group(2)))
    raise CellError("not a time of day", "type a 24-hour time such as 14:00")


def parse_text(value: Cell) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------- tables


@dataclass
class Table:
    """One parsed tab: a typed frame plus where each column lives in the sheet."""

    spec: TabSpec
    title: str
    #: the rows jobs use: on team tabs, rows with a blank or duplicate key are left out
    frame: pd.DataFrame
    #: column key -> header text as found in the sheet (absent = column missing)
    headers: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    exists: bool = True
    #: see :attr:`all_rows` (None: the same as ``frame``)
    _all_rows: pd.DataFrame | None = field(default=None, repr=False)
    #: False when a required column is missing: the frame is empty because the tab
    #: could not be read, not because it holds no rows
    readable: bool = True
    #: for a missing tab, the existing tab whose title looks like it ("Orders 2026")
    similar: str = ""
    #: the row (1-based) holding the tab's headers: writes find its columns there
    header_row: int = 1

    @property
    def all_rows(self) -> pd.DataFrame:
        """Every data row as parsed, skipped ones included (``_key_ok`` tells them apart)."""
        return self.frame if self._all_rows is None else self._all_rows

    @property
    def available(self) -> bool:
        """Read whole: the tab exists and every required column was found. Anything
        computed from a table that is not available is unknown, never zero."""
        return self.exists and self.readable

    def header(self, key: str) -> str:
        """The header to write for a column: the sheet's own spelling, else the standard."""
        return self.headers.get(key) or self.spec.column(key).header  # type: ignore[union-attr]

    def rows_ok(self) -> pd.DataFrame:
        """Rows whose key is usable (unique, not blank)."""
        return self.frame[self.frame["_key_ok"]]


@dataclass(frozen=True)
class TableLayout:
    """Tab title and header names for this workbook (standard, or renamed in config)."""

    title: str
    headers: dict[str, str]  # column key -> header wanted in this workbook


def layout_for(spec: TabSpec, settings: Settings | None) -> TableLayout:
    tab = settings.tabs.get(spec.key) if settings else None
    headers = {c.key: c.header for c in spec.columns}
    if tab is not None:
        for name, header in tab.columns.items():
            col = spec.column(name)
            if col is not None:
                headers[col.key] = header
    return TableLayout(title=(tab.name if tab and tab.name else spec.title), headers=headers)


def _parser(
    col: Column, tz: ZoneInfo, day_first: bool, window: tuple[datetime, datetime] | None
) -> Callable[[Cell], Any]:
    match col.kind:
        case "number":
            return parse_number
        case "int":
            return parse_int
        case "bool":
            return parse_bool
        case "enum":
            return lambda v: parse_enum(v, col.choices)
        case "time":
            return parse_time
        case "date" | "datetime":
            if window is None:
                return lambda v: parse_datetime(v, tz, day_first=day_first)

            def parse_dated(v: Cell) -> datetime | None:
                value = parse_datetime(v, tz, day_first=day_first)
                check_date_window(value, window)
                return value

            return parse_dated
        case "key":
            return lambda v: key_text(v) or None
        case _:
            return parse_text


def _show_value(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_table(
    spec: TabSpec,
    grid: Grid | None,
    tz: ZoneInfo,
    settings: Settings | None = None,
    *,
    day_first: bool = True,
    now: datetime | None = None,
) -> Table:
    """Parse one tab into a typed frame plus problems. Never raises on bad cells.

    ``now`` (the job's) bounds date cells to :func:`date_window`; every job passes
    it (``runner.parse_tables``). Without it dates are not bounded, which only
    unit tests of other rules rely on.
    """
    layout = layout_for(spec, settings)
    title = layout.title
    problems: list[Problem] = []
    if grid is None:
        frame = _empty_frame(spec)
        return Table(spec, title, frame, {}, problems, exists=False)

    header_row = grid.rows[grid.header_index] if len(grid.rows) > grid.header_index else []
    found: dict[str, int] = {}  # column key -> 0-based index
    headers: dict[str, str] = {}
    wanted = {normalise_header(h): k for k, h in layout.headers.items()}
    # the standard header also matches when the config renamed it (helps migrations)
    for c in spec.columns:
        wanted.setdefault(normalise_header(c.header), c.key)
    extras: dict[str, int] = {}
    for i, h in enumerate(header_row):
        norm = normalise_header(h)
        if not norm:
            continue
        key = wanted.get(norm)
        if key is None:
            extras.setdefault(str(h), i)
            continue
        if key in found:
            problems.append(
                Problem(
                    title,
                    1,
                    str(h),
                    "",
                    str(h),
                    f"column {h!r} appears twice; the first one (column "
                    f"{_col_letter(found[key])}) is used",
                    "rename or delete the second one",
                )
            )
            continue
        found[key] = i
        headers[key] = str(h)

    # a header lost to merged cells is one problem, naming the column it hid
    hidden, explained = _hidden_header_problems(spec, layout, title, grid, found)
    problems += hidden
    missing_required = [c for c in spec.columns if c.required and c.key not in found]
    for c in missing_required:
        if c.key in explained:
            continue
        problems.append(
            Problem(
                title,
                1,
                layout.headers[c.key],
                "",
                "",
                f"required column {layout.headers[c.key]!r} is missing",
                f"add a column headed {layout.headers[c.key]!r} in row 1 "
                f"(or map yours in config: [tabs.{spec.key}] columns = "
                f'{{ {c.key} = "Your header" }})',
            )
        )
    if missing_required:
        return Table(spec, title, _empty_frame(spec), headers, problems, readable=False)

    window = date_window(now) if now is not None else None
    first_data_row = grid.header_index + 2  # as the sheet numbers it
    row_numbers: list[int] = []
    body: list[list[Cell]] = []
    for r, row in enumerate(grid.rows[grid.header_index + 1 :], start=first_data_row):
        # blank rows are not data; most rows start with a value, so the first cell
        # usually decides without a look at the rest
        if (row and row[0] is not None and row[0] != "") or any(
            v is not None and v != "" for v in row
        ):
            row_numbers.append(r)
            body.append(row)
    key_cols = [k for k in spec.key_columns if k in found]
    # columns out of the rows in one pass; a cell of spaces is blank (see _cell),
    # which the readers below see to, once per distinct value
    by_column: list[Sequence[Cell]] = list(zip_longest(*body)) if body else []
    blank: Sequence[Cell] = [None] * len(body)
    raw_columns = {key: by_column[i] if i < len(by_column) else blank for key, i in found.items()}

    # Whole columns at once; each distinct cell is parsed once. A bad cell is
    # found with its row and column, and the Problems rows keep the order of a
    # row-by-row reading.
    data: dict[str, Sequence[Any]] = {}
    cell_problems: list[tuple[int, int, Problem]] = []
    key_labels: dict[int, str] = {}

    def key_label(i: int) -> str:
        label = key_labels.get(i)
        if label is None:
            label = " / ".join(key_text(raw_columns[k][i]) for k in key_cols)
            key_labels[i] = label
        return label

    for position, c in enumerate(spec.columns):
        if c.key not in found:
            data[c.key] = [c.default] * len(body)
            continue
        raw = raw_columns[c.key]
        read = _cell_reader(c, headers[c.key], spec.key_columns, tz, day_first, window)
        if c.kind in ("date", "datetime"):
            data[c.key], issues = _read_date_column(raw, read, tz, window)
        elif (
            c.kind in _TEXT_KINDS
            and c.default is None
            and not (c.required and c.key not in spec.key_columns)
        ):
            data[c.key], issues = _read_text_column(raw, read)
        else:
            data[c.key], issues = _read_column(raw, read)
        for i, issue in issues:
            cell_problems.append(
                (
                    i,
                    position,
                    Problem(
                        title,
                        row_numbers[i],
                        headers[c.key],
                        key_label(i),
                        issue.shown,
                        issue.problem,
                        issue.fix,
                    ),
                )
            )
    cell_problems.sort(key=lambda p: (p[0], p[1]))
    problems += [p for _, _, p in cell_problems]

    frame = _frame(spec, data, row_numbers, tz)
    for c in spec.columns:
        if c.keep_text and c.key in found:
            # the cell as typed (key text), so a date can serve in a write-time key
            frame[f"_raw_{c.key}"] = pd.Series(
                _key_texts(raw_columns[c.key]), index=frame.index, dtype=object
            )
    for h, i in extras.items():
        if h not in frame.columns:
            values = by_column[i] if i < len(by_column) else blank
            frame[h] = pd.Series(_blanks_as_none(values), index=frame.index, dtype=object)
    problems += _key_problems(spec, title, frame, headers, key_cols)
    usable = frame
    if not spec.service_owned:  # the service's own tabs have no team keys to skip
        usable = frame[frame["_key_ok"]].reset_index(drop=True)
    return Table(spec, title, usable, headers, problems, _all_rows=frame)


def _hidden_header_problems(
    spec: TabSpec, layout: TableLayout, title: str, grid: Grid, found: Mapping[str, int]
) -> tuple[list[Problem], set[str]]:
    """Header cells lost to merged cells, one problem each; and the keys of the
    columns those problems name (not to be reported as missing a second time).

    A header cell merged into its left neighbour (Forwarders A1:B1) reads blank, so
    its column is not found, and every row would seem to have no Email. Where the
    backend tells merges (``Grid.merges``), a blank header cell inside a merge is
    the sign; where it cannot, a blank header cell right of a non-blank one over a
    column that holds data. The column it hid is taken to be the missing column
    that the spec places between its neighbours ("Email" between "Forwarder" and
    "Pickup cutoff"); without such a column, a merge is still reported when its
    column holds data, and a mere blank header is not (a team's unlabelled column).
    """
    header = grid.header
    width = max([len(header), *(len(r) for r in grid.rows[grid.header_index + 1 :])], default=0)
    anchors: dict[int, tuple[int, str]] = {}  # 0-based column → (anchor column, range)
    for r0, c0, r1, c1 in grid.merges or ():
        if r0 <= 1 <= r1 and c1 > c0:
            span = f"{_col_letter(c0 - 1)}{r0}:{_col_letter(c1 - 1)}{r1}"
            for c in range(c0, c1):  # every cell right of the range's first one
                anchors[c] = (c0 - 1, span)
    order = {c.key: i for i, c in enumerate(spec.columns)}
    at = {i: order[k] for k, i in found.items()}  # sheet column → spec position
    missing = [c for c in spec.columns if c.owner == "team" and c.key not in found]
    problems: list[Problem] = []
    named: set[str] = set()
    for i in range(width):
        if normalise_header(_cell(header, i)):
            continue
        merged = anchors.get(i)
        has_data = any(_cell(r, i) is not None for r in grid.rows[grid.header_index + 1 :])
        if merged is None and (grid.merges is not None or i == 0 or not has_data):
            continue
        if merged is None and not normalise_header(_cell(header, i - 1)):
            continue
        left = max((at[j] for j in at if j < i), default=-1)
        right = min((at[j] for j in at if j > i), default=len(spec.columns))
        candidate = next(
            (c for c in missing if left < order[c.key] < right and c.key not in named), None
        )
        if candidate is None and (merged is None or not has_data):
            continue
        cell = f"{_col_letter(i)}1"
        if merged is not None:
            anchor = f"{_col_letter(merged[0])}1"
            why, fix = f"the header cell {cell} is merged with {anchor}", f"unmerge {merged[1]}"
        else:
            anchor = f"{_col_letter(i - 1)}1"
            why = f"the header cell {cell} is blank (merged with {anchor}?)"
            fix = "unmerge the header cells if they are merged"
        if candidate is None:
            problem = f"{why}, so column {_col_letter(i)} has no header and is not read"
            fix += f" and give column {_col_letter(i)} its header in {cell}"
            name = ""
        else:
            name = layout.headers[candidate.key]
            named.add(candidate.key)
            problem = f"column {name!r} is missing — {why}"
            fix += f" and type {name!r} in {cell}"
        problems.append(Problem(title, 1, name, "", "", problem, fix))
    return problems, named


@dataclass(frozen=True)
class _Issue:
    """What is wrong with one cell value, wherever it appears."""

    problem: str
    fix: str
    shown: str  # the cell as the Problems row shows it


_Reading = tuple[Any, _Issue | None]


def _cell_reader(
    col: Column,
    header: str,
    key_columns: Sequence[str],
    tz: ZoneInfo,
    day_first: bool,
    window: tuple[datetime, datetime] | None,
) -> Callable[[Cell], _Reading]:
    """One cell of this column to its value and what is wrong with it, if anything."""
    parse = _parser(col, tz, day_first, window)
    blank_is_problem = col.required and col.key not in key_columns
    minimum = col.minimum

    def read(raw: Cell) -> _Reading:
        try:
            value = parse(raw)
        except CellError as err:
            return None, _Issue(err.problem, err.fix, _show_value(raw))
        issue = None
        if value is None and blank_is_problem:
            issue = _Issue(f"{header} is blank", f"fill in {header}", "")
        elif minimum is not None and isinstance(value, float) and value < minimum:
            issue = _Issue(
                f"{header} below {minimum:g}",
                f"type a number of at least {minimum:g}",
                _show_value(raw),
            )
            value = None
        if value is None and col.default is not None:
            value = col.default
        return value, issue

    return read


def _memo_key(value: Cell) -> tuple[object, ...]:
    # the type is part of the key: True == 1 == 1.0, but they read differently; an
    # aware datetime equals the same moment in another zone, but its text differs
    if value.__class__ is datetime:
        return (datetime, value, value.tzinfo, value.fold)  # type: ignore[union-attr]
    return (value.__class__, value)


def _read_column(
    raw: Sequence[Cell], read: Callable[[Cell], _Reading]
) -> tuple[list[Any], list[tuple[int, _Issue]]]:
    """Every cell of a column read; a value repeated down the column is parsed once."""
    memo: dict[object, _Reading] = {}

    def first_time(key: object, value: Cell) -> _Reading:
        if value.__class__ is str and not value.strip():  # type: ignore[union-attr]
            value = None  # a cell of spaces is blank
        reading = memo[key] = read(value)
        return reading

    get = memo.get
    kinds = set(map(type, raw))
    if kinds <= _SELF_KEYED and len(kinds & _NUMBER_TYPES) <= 1:
        # no two cells of these kinds are equal unless they read the same: each cell
        # is its own key (True == 1 == 1.0 is why at most one kind of number)
        readings = [get(v) or first_time(v, v) for v in raw]
    else:
        # text is its own key (no other kind of cell equals a str); see _memo_key
        readings = [
            get(key := v if v.__class__ is str else _memo_key(v)) or first_time(key, v) for v in raw
        ]
    values = [value for value, _ in readings]
    issues = [(i, issue) for i, (_, issue) in enumerate(readings) if issue is not None]
    return values, issues


#: cell types that are their own memo key when a column holds at most one of
#: _NUMBER_TYPES (see _memo_key); a column of text and blanks only
_SELF_KEYED = frozenset({str, type(None), int, float, bool})
_NUMBER_TYPES = frozenset({int, float, bool})
_TEXT_OR_BLANK = frozenset({str, type(None)})

#: kinds whose text cells read as the text stripped (parse_text, key_text)
_TEXT_KINDS = frozenset({"text", "email", "key"})


def _read_text_column(
    raw: Sequence[Cell], read: Callable[[Cell], _Reading]
) -> tuple[list[Any], list[tuple[int, _Issue]]]:
    """A text column: mostly distinct text (names, addresses, IDs), which reads as
    itself stripped; the few other cells (numbers, dates) go through ``read``."""
    if _TEXT_OR_BLANK.issuperset(map(type, raw)):  # the usual column: nothing to read
        return [(v and v.strip()) or None for v in raw], []  # type: ignore[union-attr]
    values: list[Any] = [(v.strip() or None) if v.__class__ is str else v for v in raw]  # type: ignore[union-attr]
    others = [i for i, v in enumerate(values) if v is not None and v.__class__ is not str]
    if not others:
        return values, []
    read_values, read_issues = _read_column([raw[i] for i in others], read)
    for i, value in zip(others, read_values, strict=True):
        values[i] = value
    return values, [(others[j], issue) for j, issue in read_issues]


_NOT_A_TIME = np.iinfo(np.int64).min  # NaT as an int64
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
_SERIAL_EPOCH_US = np.datetime64(_SERIAL_EPOCH, "us")


def _read_date_column(
    raw: Sequence[Cell],
    read: Callable[[Cell], _Reading],
    tz: ZoneInfo,
    window: tuple[datetime, datetime] | None,
) -> tuple[pd.Series, list[tuple[int, _Issue]]]:
    """A date column as a typed series. Serial numbers (what Google sends) are
    converted as one array; anything the array pass cannot vouch for (text, a
    number out of the serial range, a wall time a clock change skips or repeats,
    a date outside the window, half a second to round) goes cell by cell."""
    n = len(raw)
    micros = np.full(n, _NOT_A_TIME, dtype=np.int64)
    by_cell = np.ones(n, dtype=bool)
    serial_at = np.fromiter(
        (v.__class__ is float or v.__class__ is int for v in raw), dtype=bool, count=n
    )
    if serial_at.any():
        where = np.flatnonzero(serial_at)
        serial = np.array([raw[i] for i in where], dtype=np.float64)
        in_range = (serial >= _SERIAL_RANGE[0]) & (serial <= _SERIAL_RANGE[1])
        seconds = serial * 86_400.0
        # per cell, a serial is taken to the microsecond and then rounded half up to
        # the second; near half a second the two roundings may differ: left to the cell
        exact = np.abs(np.mod(seconds, 1.0) - 0.5) > 1e-3
        seconds = np.where(in_range, seconds, 0.0)
        wall = _SERIAL_EPOCH_US + (np.floor(seconds + 0.5).astype(np.int64) * 1_000_000).astype(
            "timedelta64[us]"
        )
        local = pd.DatetimeIndex(wall).tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        instants = local.tz_convert(UTC).asi8.astype(np.int64)  # the unit is µs
        ok = in_range & exact & ~np.asarray(local.isna())
        if window is not None:
            first, last = ((w - _UTC_EPOCH) // _ONE_MICROSECOND for w in window)
            ok &= (instants >= first) & (instants <= last)
        micros[where[ok]] = instants[ok]
        by_cell[where[ok]] = False
    issues: list[tuple[int, _Issue]] = []
    rest = np.flatnonzero(by_cell)
    if len(rest):
        values, rest_issues = _read_column([raw[i] for i in rest], read)
        memo: dict[datetime, int] = {}
        for i, value in zip(rest, values, strict=True):
            if value is not None:
                at = memo.get(value)
                if at is None:
                    at = memo[value] = (value - _UTC_EPOCH) // _ONE_MICROSECOND
                micros[i] = at
        issues = [(int(rest[j]), issue) for j, issue in rest_issues]
    unit = "us" if (micros != _NOT_A_TIME).any() else "s"  # as pandas types all-blank
    series = pd.Series(micros.view("datetime64[us]")).astype(f"datetime64[{unit}]")
    return series.dt.tz_localize(UTC).dt.tz_convert(tz), issues


def _blanks_as_none(values: Sequence[Cell]) -> list[Cell]:
    """A cell of spaces read as blank (see :func:`_cell`)."""
    return [None if v.__class__ is str and not v.strip() else v for v in values]  # type: ignore[union-attr]


def _key_texts(raw: Sequence[Cell]) -> list[str]:
    memo: dict[tuple[object, ...], str] = {}
    out: list[str] = []
    for v in raw:
        key = _memo_key(v)
        text = memo.get(key)
        if text is None:
            text = memo[key] = key_text(v)  # spaces: "", as blank
        out.append(text)
    return out


def _cell(row: Sequence[Cell], i: int) -> Cell:
    v = row[i] if i < len(row) else None
    if isinstance(v, str) and v.strip() == "":
        return None
    return v


def _col_letter(i: int) -> str:
    s, n = "", i + 1
    while n:
        n, rem = divmod(n - 1, 26)
        s = chr(65 + rem) + s
    return s


_DTYPES: dict[str, str] = {
    "number": "float64",
    "int": "Int64",
    "bool": "boolean",
}


def _frame(
    spec: TabSpec, data: Mapping[str, Sequence[Any]], rows: list[int], tz: ZoneInfo
) -> pd.DataFrame:
    series: dict[str, pd.Series] = {}
    for c in spec.columns:
        values = data[c.key]
        if isinstance(values, pd.Series):  # typed already (dates read by column)
            series[c.key] = values.reset_index(drop=True)
        elif c.kind in ("date", "datetime"):
            s = pd.Series(pd.to_datetime(pd.Series(values, dtype=object), utc=True))
            series[c.key] = s.dt.tz_convert(tz)
        elif c.kind in _DTYPES:
            series[c.key] = pd.Series(
                [None if v is None else v for v in values], dtype=_DTYPES[c.kind]
            )
        else:
            series[c.key] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(series)
    frame["_row"] = pd.Series(rows, dtype="int64")
    frame["_key_ok"] = True
    return frame


def _empty_frame(spec: TabSpec) -> pd.DataFrame:
    return _frame(spec, {c.key: [] for c in spec.columns}, [], ZoneInfo("UTC"))


def _key_problems(
    spec: TabSpec, title: str, frame: pd.DataFrame, headers: dict[str, str], key_cols: list[str]
) -> list[Problem]:
    """Blank and duplicate keys: reported, and those rows marked unusable for writes."""
    if not key_cols or frame.empty:
        return []
    problems: list[Problem] = []
    keys = frame[key_cols].astype(object).where(frame[key_cols].notna(), "")
    blank = (keys == "").any(axis=1)
    # A blank Return ID is how the team asks for an RMA number: not a problem there.
    allow_blank = spec.key in ("returns", "complaints")  # complaints: CMP numbers likewise
    label = " + ".join(headers.get(k, k) for k in key_cols)
    if not allow_blank:
        for idx in frame.index[blank]:
            problems.append(
                Problem(
                    title,
                    int(frame.at[idx, "_row"]),
                    headers[key_cols[0]],
                    "",
                    "",
                    f"{label} is blank, so the service cannot tell which row this is; "
                    "the row is skipped",
                    f"fill in {label}",
                )
            )
    frame.loc[blank, "_key_ok"] = allow_blank
    dup = keys.duplicated(keep=False) & ~blank
    for idx in frame.index[dup]:
        key = " / ".join(str(keys.at[idx, k]) for k in key_cols)
        others = frame.loc[dup & (keys == keys.loc[idx]).all(axis=1), "_row"].tolist()
        problems.append(
            Problem(
                title,
                int(frame.at[idx, "_row"]),
                headers[key_cols[0]],
                key,
                key,
                f"{label} {key} appears on rows {', '.join(map(str, others))}; "
                "these rows are skipped",
                f"make each {label} unique (merge the rows or correct the typo)",
            )
        )
    frame.loc[dup, "_key_ok"] = False
    return problems


def layout_headers(spec: TabSpec, settings: Settings | None) -> list[str]:
    layout = layout_for(spec, settings)
    return [layout.headers[c.key] for c in spec.columns]


#: How alike two tab titles must be (difflib's ratio, ignoring case and spaces) for
#: one to be taken for the other: "Orders" and "Orders 2026" are 0.71 alike.
SIMILAR_TITLE_RATIO = 0.6


def similar_title(wanted: str, existing: Iterable[str], settings: Settings | None) -> str:
    """The existing tab that looks like ``wanted`` ("Orders 2026" for "Orders"), or "".

    Tabs that are some other tab of the service under this config ("Purchase
    orders" is not a renamed "Orders") are never suggested. A title containing the
    wanted one, or contained in it, counts as alike even when difflib's ratio is
    low ("Stock levels" for "Stock").
    """
    taken = {layout_for(s, settings).title.casefold() for s in TAB_SPECS.values()}
    norm = normalise_header(wanted)
    best, best_score = "", 0.0
    for title in existing:
        other = normalise_header(title)
        if not other or title.casefold() in taken:
            continue
        score = difflib.SequenceMatcher(None, norm, other).ratio()
        if norm and (norm in other or other in norm):
            score += 0.3
        if score >= SIMILAR_TITLE_RATIO and score > best_score:
            best, best_score = title, score
    return best


def iter_problem_rows(
    problems: Iterable[Problem], job: str, found_at: datetime
) -> list[dict[str, Cell]]:
    return [p.as_row(job, found_at) for p in problems]
