"""Load ``config.toml`` into typed, validated settings.

Each section is a frozen dataclass; its fields are the valid keys, their types
are what the loader checks, their defaults are what a missing key means. A
mistake is reported as one line naming the file, the key and what is valid, for
example::

    config.toml: [jobs.stock] lookback_days: expected a whole number, got "eight weeks"

To add a setting, add a field to the right dataclass (with a default and a
``help`` metadata line); the loader, ``check`` and the docs pick it up. A number
setting must say where its valid values lie (``within=Range(...)``, refused at
import otherwise) and a text setting with a format names its check
(``valid=...``), so every value is validated when the config loads: by ``check``,
``run`` and at ``serve`` start alike, never first by a job failing on every slot.
Non-finite numbers (``nan``, ``inf``, which TOML allows) are refused everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import ConfigError

DEFAULT_CONFIG = "config.toml"


@dataclass(frozen=True)
class Range:
    """The interval a number setting must lie in; ``*_open`` leaves that end out.

    ``Range(0, 365, low_open=True)`` is 0 < x ≤ 365. Values are finite always.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def describe(self, whole: bool = False) -> str:
        """``"a number above 0 and at most 365"``, for the one-line error."""
        noun = "a whole number" if whole else "a number"
        lo, hi = self.low, self.high
        if lo is not None and hi is not None and not (self.low_open or self.high_open):
            return f"{noun} from {_number(lo)} to {_number(hi)}"
        parts = []
        if lo is not None:
            parts.append(f"{'above' if self.low_open else 'at least'} {_number(lo)}")
        if hi is not None:
            parts.append(f"{'below' if self.high_open else 'at most'} {_number(hi)}")
        return " and ".join([noun + (" " + parts[0] if parts else ""), *parts[1:]])


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


#: checks the value of a text (or list) setting; raises ValueError("<what is wrong>;
#: valid: <what is>") phrased to follow "config.toml: [section] key: "
Validator = Callable[[Any], None]


def _setting(
    default: Any, help: str, *, within: Range | None = None, valid: Validator | None = None
) -> Any:
    metadata: dict[str, Any] = {"help": help}
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        # Every number has a valid range, so a new setting is validated by construction.
        if within is None:
            raise TypeError(f"number setting ({help!r}) needs within=Range(...)")
        if default not in within:
            raise TypeError(f"default {default!r} of {help!r} is outside its range")
    if within is not None:
        metadata["within"] = within
    if valid is not None:
        metadata["valid"] = valid
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


# ---------------------------------------------------------------- formats
# Validators import their parsers lazily: the jobs use the same parsers, so the
# config accepts exactly what the jobs understand, and loading stays light.


def _time_of_day(value: str) -> None:
    from ops_sheets.domain.calendar import parse_hhmm

    try:
        parse_hhmm(value)
    except ValueError:
        raise ValueError(
            f'"{value}" is not a time of day; valid: 24-hour HH:MM, e.g. "14:00"'
        ) from None


def _time_range(value: str) -> None:
    from ops_sheets.domain.monitoring import BusinessHours

    try:
        BusinessHours.parse(value)
    except ValueError:
        raise ValueError(
            f'"{value}" is not a time range; valid: 24-hour HH:MM-HH:MM with the end '
            'after the start, e.g. "09:00-17:00"'
        ) from None


def _time_range_or_blank(value: str) -> None:
    if value.strip():
        _time_range(value)


def _day_list(value: str) -> None:
    from ops_sheets.domain.calendar import DaysError, parse_days

    try:
        parse_days(value)
    except DaysError as err:
        raise ValueError(f"{err.problem}; valid: {err.fix.removeprefix('type ')}") from None


def _date_list(values: list[str]) -> None:
    from ops_sheets.domain.calendar import parse_holiday_list

    for value in values:
        try:
            parse_holiday_list([value])
        except ValueError:
            raise ValueError(
                f'"{value}" is not a date; valid: dates written YYYY-MM-DD, e.g. ["2026-12-24"]'
            ) from None


def _currency_code(value: str) -> None:
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise ValueError(
            f'"{value}" is not a currency code; valid: three letters (ISO 4217), e.g. "GBP"'
        )


def _http_url_or_blank(value: str) -> None:
    parts = urlsplit(value.strip())
    if value.strip() and (parts.scheme not in ("http", "https") or not parts.netloc):
        raise ValueError(
            f"{value!r} is not an http(s) URL; use the ping URL your monitor gives you, "
            "e.g. https://hc-ping.com/<uuid>"
        )


def _address(value: str) -> None:
    from .errors import AddressError
    from .mail.message import parse_address

    try:
        parse_address(value, what="the address")
    except AddressError as err:
        raise ValueError(str(err)) from None


def _address_or_blank(value: str) -> None:
    if value.strip():
        _address(value)


SERVICE_LEVEL = Range(0.5, 1, high_open=True)


@dataclass(frozen=True)
class WorkbookSettings:
    backend: Literal["xlsx", "google", "memory"] = _setting("xlsx", "where the sheet lives")
    path: str = _setting("workbook.xlsx", "xlsx: the workbook file, relative to the config")
    spreadsheet_id: str = _setting("", "google: the id in the sheet's URL (/d/<id>/edit)")
    credentials: str = _setting(
        "", "google: service-account key file; blank = Application Default Credentials"
    )
    oauth_client: str = _setting(
        "", "google: OAuth client secrets file for signing in as a user (instead of credentials)"
    )
    request_timeout_seconds: float = _setting(
        30.0, "google: timeout of one HTTP request", within=Range(0, 600, low_open=True)
    )
    deadline_seconds: float = _setting(
        120.0, "google: give up retrying a request after this", within=Range(0, 3600, low_open=True)
    )
    requests_per_minute: float = _setting(
        300.0,
        "google: requests per minute the Cloud project may make, shared by every shop on it",
        within=Range(0, 100000, low_open=True),
    )
    requests_per_minute_per_user: float = _setting(
        60.0,
        "google: requests per minute per credentials (service account), shared by every shop",
        within=Range(0, 100000, low_open=True),
    )


@dataclass(frozen=True)
class SmtpSettings:
    host: str = _setting("", "SMTP server host name")
    port: int = _setting(587, "SMTP port (587 starttls, 465 ssl, 25 none)", within=Range(1, 65535))
    username: str = _setting("", "login name; blank = no AUTH")
    password_env: str = _setting("", "environment variable that holds the password")
    password_file: str = _setting("", "file that holds the password (first line)")
    security: Literal["starttls", "ssl", "none"] = _setting("starttls", "transport security")
    ca_file: str = _setting("", "extra CA certificate (PEM) to trust; system store otherwise")
    timeout_seconds: float = _setting(
        30.0, "connect and command timeout", within=Range(0, 600, low_open=True)
    )


@dataclass(frozen=True)
class MailSettings:
    transport: Literal["outbox", "smtp"] = _setting("outbox", "how mail leaves")
    outbox_dir: str = _setting("outbox", "outbox: folder for one .eml per message")
    sender: str = _setting("Ops <ops@example.com>", "From address of every message", valid=_address)
    manager: str = _setting(
        "manager@example.com", "who receives alerts and summaries", valid=_address
    )
    reply_to: str = _setting("", "optional Reply-To address", valid=_address_or_blank)
    templates_dir: str = _setting(
        "templates", "folder whose files override the bundled templates, file by file"
    )
    max_attempts: int = _setting(
        5, "attempts for a message that fails temporarily (4xx)", within=Range(1, 100)
    )
    retry_after_minutes: float = _setting(
        15.0,
        "first wait before retrying a temporary failure",
        within=Range(0, 1440, low_open=True),
    )
    smtp: SmtpSettings = field(default_factory=SmtpSettings)


@dataclass(frozen=True)
class StateSettings:
    path: str = _setting("state.db", "the ledger and job history (SQLite)")
    url: str = _setting(
        "",
        '"postgresql://user@host/db": ledger and state in PostgreSQL instead of the SQLite '
        "file at `path` (a password comes from PGPASSWORD or ~/.pgpass, never the config)",
    )
    schema: str = _setting(
        "",
        "PostgreSQL schema holding this shop's tables (default: the config folder's name); "
        "shops sharing one database each need their own",
    )


@dataclass(frozen=True)
class JobSettings:
    """Settings every job has; each job's section adds its own."""

    schedule: str = _setting("", 'when `serve` runs the job, e.g. "every day at 07:00"')
    timeout_minutes: float = _setting(
        15.0, "a run taking longer is stopped and recorded", within=Range(0, 1440, low_open=True)
    )
    enabled: bool = _setting(True, "false = `serve` and `run all` skip this job")


@dataclass(frozen=True)
class CheckSettings(JobSettings):
    schedule: str = _setting("every 30 minutes", "when `serve` runs the job")


@dataclass(frozen=True)
class StockSettings(JobSettings):
    schedule: str = _setting("every day at 07:00", "when `serve` runs the job")
    lookback_days: int = _setting(
        56, "days of order history that set daily demand", within=Range(7, 730)
    )
    default_lead_time_days: float = _setting(
        14.0, "lead time when neither SKU nor supplier has one", within=Range(0, 365)
    )
    review_days: float = _setting(
        7.0,
        "days between reviews; S = s + demand × review_days",
        within=Range(0, 365, low_open=True),
    )
    # A level of 1 needs infinite safety stock; below 0.5 the safety stock would be negative.
    service_level_a: float = _setting(
        0.98, "target service level of class A SKUs", within=SERVICE_LEVEL
    )
    service_level_b: float = _setting(
        0.95, "target service level of class B SKUs", within=SERVICE_LEVEL
    )
    service_level_c: float = _setting(
        0.90, "target service level of class C SKUs", within=SERVICE_LEVEL
    )
    approval: Literal["sheet", "auto"] = _setting(
        "sheet", "sheet = lines wait as DRAFT for APPROVED; auto = email at once"
    )
    top_up_to_min_order_value: bool = _setting(
        False, "pull SKUs forward to reach a supplier's Min order value"
    )
    max_order_days: float = _setting(
        120.0,
        "refuse computed orders above this many days of demand",
        within=Range(0, 3650, low_open=True),
    )
    reminder_every_days: float = _setting(
        3.0, "days between reminders for overdue POs", within=Range(0, 365, low_open=True)
    )
    delivery_address: str = _setting("", "address printed on purchase orders")
    on_hand: Literal["typed", "computed"] = _setting(
        "typed",
        "typed = On hand as the team types it; computed = Counted + received − shipped "
        "+ restocked since Counted at",
    )


@dataclass(frozen=True)
class OrdersSettings(JobSettings):
    schedule: str = _setting(
        "every 30 minutes from 08:00 to 18:00 on weekdays", "when `serve` runs the job"
    )
    ship_within_business_days: int = _setting(
        1, "business days after the start day to ship", within=Range(0, 60)
    )
    order_cutoff: str = _setting(
        "14:00", "orders after this time start the next business day", valid=_time_of_day
    )
    business_days: str = _setting("Mon-Fri", "days the warehouse ships", valid=_day_list)
    holidays: list[str] = _setting([], "extra non-business dates, YYYY-MM-DD", valid=_date_list)
    holidays_country: str = _setting("", "public holidays of this country, e.g. GB")
    holidays_subdivision: str = _setting(
        "", "region of holidays_country whose holidays apply too, e.g. ENG (England)"
    )
    at_risk_hours: float = _setting(
        4.0, "unshipped lines due within this many hours are AT RISK", within=Range(0, 168)
    )
    transit_alert_days: float = _setting(
        7.0, "shipped this long ago, not delivered = stuck", within=Range(0, 365, low_open=True)
    )
    collection_address: str = _setting(
        "",
        "where forwarders collect parcels (pickup requests); blank = [jobs.stock] delivery_address",
    )
    packing_slips_dir: str = _setting(
        "",
        "folder for one packing slip PDF per order due for the next pickup; blank = none",
    )


@dataclass(frozen=True)
class ReturnsSettings(JobSettings):
    schedule: str = _setting("every day at 08:00", "when `serve` runs the job")
    return_window_days: int = _setting(30, "days the customer has to return", within=Range(0, 730))
    assumed_transit_days: int = _setting(
        3, "delivery assumed this long after shipping", within=Range(0, 60)
    )
    notify_customer: bool = _setting(True, "email an acknowledgement for each new RMA")
    next_steps: str = _setting(
        "Pack the items securely, write the RMA number on the parcel and send it to us.",
        "what the acknowledgement tells the customer to do",
    )
    resaleable_conditions: list[str] = _setting(
        ["new", "unopened", "as new", "good"], "Condition values that can go back on the shelf"
    )
    rate_window_days: int = _setting(
        90, "days of shipments and returns behind return rates", within=Range(1, 730)
    )
    alert_return_rate: float = _setting(
        0.10,
        "return rate that flags a possible faulty product",
        within=Range(0, 1, low_open=True),
    )
    min_units_shipped: int = _setting(
        20, "ignore SKUs with fewer units shipped in the window", within=Range(1, 1_000_000)
    )
    return_address: str = _setting(
        "", "where customers send returns (acknowledgements); blank = [jobs.stock] delivery_address"
    )
    send_within_days: int = _setting(
        14,
        "acknowledgements ask for the parcel by the window's end, or this many days on",
        within=Range(1, 365),
    )


@dataclass(frozen=True)
class MonitorSettings(JobSettings):
    schedule: str = _setting("every hour", "when `serve` runs the job")
    quiet_hours: float = _setting(
        1.0,
        "the shortest quiet spell alerted, in business hours (longer ones only when "
        "improbable at the shop's usual rate for those hours)",
        within=Range(0, 168, low_open=True),
    )
    business_hours: str = _setting(
        "09:00-17:00", "when a quiet spell means something", valid=_time_range
    )
    quiet_days: str = _setting(
        "Mon-Sun", "days whose business hours count for quiet spells", valid=_day_list
    )
    late_alert_count: int = _setting(
        5, "more late lines than this is alerted", within=Range(0, 1_000_000)
    )
    realert_hours: float = _setting(
        24.0, "repeat an unchanged finding after this long", within=Range(0, 8760, low_open=True)
    )
    anomaly_threshold: float = _setting(
        3.0,
        "calibrated z-score that flags a day's orders or revenue (3: about 1 normal day "
        "in 370 per measure)",
        within=Range(0, 100, low_open=True),
    )


@dataclass(frozen=True)
class WeeklySettings(JobSettings):
    schedule: str = _setting("monday at 08:00", "when `serve` runs the job")
    excess_days: float = _setting(
        120.0,
        "SKUs with more days of cover are listed as excess",
        within=Range(0, 3650, low_open=True),
    )


# ---------------------------------------------------------------- issue 19: listings, content


def _networks(values: list[str]) -> None:
    import ipaddress

    for text in values:
        try:
            ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            raise ValueError(
                f'"{text}" is not a network; valid: an address or CIDR block such as '
                '"127.0.0.1/32" or "10.20.0.0/16"'
            ) from None


@dataclass(frozen=True)
class ListingsSettings(JobSettings):
    schedule: str = _setting("every day at 06:00", "when `serve` runs the job")
    requests_per_minute_per_host: float = _setting(
        30.0, "at most this many page requests to one site a minute", within=Range(0.1, 600)
    )
    #: the shop's own staging server may sit on the private network
    allow_networks: list[str] = _setting(
        [],
        'private addresses pages may be fetched from, e.g. ["10.20.0.0/16"]; '
        "loopback, private and link-local addresses are refused otherwise",
        valid=_networks,
    )
    timeout_seconds: float = _setting(
        10.0, "longest wait for one page", within=Range(0, 120, low_open=True)
    )
    max_page_mb: float = _setting(
        5.0, "a page larger than this is not read", within=Range(0, 100, low_open=True)
    )
    run_minutes: float = _setting(
        10.0,
        "the checks of one run stop after this long; the rest wait for the next run",
        within=Range(0, 1440, low_open=True),
    )
    retries: int = _setting(
        2, "more tries after a server error or failed connection", within=Range(0, 5)
    )
    user_agent: str = _setting(
        "ops-sheets/0.1 (product page check for the shop's operations team)",
        "the User-Agent header page requests carry (and robots.txt is read for)",
    )


@dataclass(frozen=True)
class ContentSettings(JobSettings):
    schedule: str = _setting("every day at 08:00", "when `serve` runs the job")
    remind_days_before: int = _setting(
        2, "days before a post's date its Owner is reminded (0 = never)", within=Range(0, 60)
    )


@dataclass(frozen=True)
class CustomersSettings(JobSettings):
    """Customer mail about orders (issue 18); the rules are in domain/customers.py."""

    schedule: str = _setting("every 30 minutes from 08:00 to 20:00", "when `serve` runs the job")
    shipping_confirmation: bool = _setting(True, "email the customer when lines ship")
    order_delayed: bool = _setting(True, "email the customer when an order is late or backordered")
    review_request_days: int = _setting(
        0, "days after delivery to ask for a review; 0 = never", within=Range(0, 365)
    )
    recent_days: int = _setting(
        3,
        "only shipments (and review requests fallen due) this recent are mailed, so "
        "turning the job on does not mail old history",
        within=Range(1, 365),
    )
    review_url: str = _setting(
        "", "the page where customers write a review (review requests); blank = reply by email"
    )


@dataclass(frozen=True)
class ComplaintsSettings(JobSettings):
    """The Complaints tab (issue 18); the rules are in domain/complaints.py."""

    schedule: str = _setting("every hour from 08:00 to 18:00", "when `serve` runs the job")
    first_response_hours: float = _setting(
        24.0, "business hours to the first response", within=Range(0, 1000, low_open=True)
    )
    resolve_days: int = _setting(5, "business days to resolve", within=Range(1, 365))
    business_hours: str = _setting(
        "",
        "hours of a business day the response clock runs, e.g. 09:00-17:00; "
        "blank = the whole business day",
        valid=_time_range_or_blank,
    )
    notify_customer: bool = _setting(True, "email an acknowledgement for each new complaint")
    repeat_count: int = _setting(
        3, "complaints from one customer that make a repeat complainer", within=Range(2, 100)
    )
    sku_count: int = _setting(
        2, "complaints about one SKU that flag the product", within=Range(2, 1000)
    )
    window_days: int = _setting(
        90, "days of complaints counted for repeats and SKUs", within=Range(1, 730)
    )


@dataclass(frozen=True)
class JobsSettings:
    check: CheckSettings = field(default_factory=CheckSettings)
    stock: StockSettings = field(default_factory=StockSettings)
    orders: OrdersSettings = field(default_factory=OrdersSettings)
    returns: ReturnsSettings = field(default_factory=ReturnsSettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    weekly: WeeklySettings = field(default_factory=WeeklySettings)
    listings: ListingsSettings = field(default_factory=ListingsSettings)
    content: ContentSettings = field(default_factory=ContentSettings)
    customers: CustomersSettings = field(default_factory=CustomersSettings)
    complaints: ComplaintsSettings = field(default_factory=ComplaintsSettings)


@dataclass(frozen=True)
class TabSettings:
    name: str = _setting("", "the tab's title in this workbook, if not the standard one")
    columns: dict[str, str] = _setting({}, "standard column → this sheet's header")
    #: ``[tabs.orders] preset = "shopify"``: the tab is laid out as that platform's
    #: export (a connector syncs it); "" = our own columns
    preset: str = _setting("", "read the tab as a platform's export lays it out (orders, stock)")
    #: where the headers are; 0 = found in rows 1-10 by the tab's required headers
    header_row: int = _setting(
        0, "the row holding the tab's headers (0: found in rows 1-10)", within=Range(0, 1000)
    )
    #: column → {word as typed → our word}, applied to the cells before they are read
    values: dict[str, dict[str, str]] = _setting({}, "column → { their word = our word }")


@dataclass(frozen=True)
class NumbersSettings:
    decimal: Literal[".", ","] = _setting(
        ".", 'decimal separator of numbers typed as text: "." (12.50) or "," (12,50)'
    )


@dataclass(frozen=True)
class ServeSettings:
    catch_up_hours: float = _setting(
        12.0, "on start, run a job whose last slot was missed", within=Range(0, 168)
    )
    heartbeat_url: str = _setting(
        "", "URL pinged on start, success (/…) and failure (/fail)", valid=_http_url_or_blank
    )
    heartbeat_timeout_seconds: float = _setting(
        5.0, "timeout of one heartbeat ping", within=Range(0, 60, low_open=True)
    )
    lease_margin_seconds: float = _setting(
        120.0,
        "serve --shops: a slot's lease lasts the job's timeout plus this; then another "
        "worker may take over a slot whose worker died",
        within=Range(0, 3600),
    )


#: What a channel can carry: the manager's alert (its findings at or above
#: min_severity), the weekly headline, and a one-line note when a job fails.
CHANNEL_KINDS: tuple[str, ...] = ("slack", "teams", "telegram", "webhook")
CHANNEL_MESSAGES: tuple[str, ...] = ("manager_alert", "weekly_summary", "heartbeat_failure")
CHANNEL_SEVERITIES: tuple[str, ...] = ("HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class ChannelSettings:
    """``[channels.<name>]``: one Slack/Teams/Telegram/webhook destination.

    The webhook URL and the bot token are secrets: only the *name* of the
    environment variable or file that holds them is in the config.
    """

    kind: str = _setting("", 'where posts go: "slack", "teams", "telegram" or "webhook"')
    url_env: str = _setting("", "environment variable that holds the webhook URL")
    url_file: str = _setting("", "file that holds the webhook URL (first line)")
    token_env: str = _setting("", "telegram: environment variable that holds the bot token")
    token_file: str = _setting("", "telegram: file that holds the bot token (first line)")
    chat_id: str = _setting("", 'telegram: the chat to post in, e.g. "-1001234567890"')
    send: list[str] = _setting(
        list(CHANNEL_MESSAGES), "which messages go there: manager_alert, weekly_summary, ..."
    )
    min_severity: str = _setting("HIGH", "manager_alert: the least severe finding posted")
    api_url: str = _setting(
        "https://api.telegram.org", "telegram: the Bot API base URL (a local Bot API server)"
    )
    ca_file: str = _setting("", "extra CA certificate (PEM) to trust; system store otherwise")
    timeout_seconds: float = _setting(
        10.0, "connect and read timeout of one post", within=Range(0, 120, low_open=True)
    )
    max_retries: int = _setting(
        3, "retries within a run on 429 and 5xx answers", within=Range(0, 10)
    )
    max_retry_wait_seconds: float = _setting(
        30.0, "longest wait between two tries (caps Retry-After)", within=Range(0, 600)
    )
    enabled: bool = _setting(True, "false = post nothing to this channel")


@dataclass(frozen=True)
class Settings:
    timezone: str = _setting("Europe/London", "IANA time zone of every business time")
    jobs_dir: str = _setting("jobs", "folder whose job modules override or add to the bundled")
    day_first: bool = _setting(True, "read 03/04/2026 as 3 April (false: as March 4)")
    shop_name: str = _setting("Our shop", "the shop's name, used in emails")
    currency: str = _setting("GBP", "ISO currency code of prices and costs", valid=_currency_code)
    workbook: WorkbookSettings = field(default_factory=WorkbookSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    state: StateSettings = field(default_factory=StateSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    tabs: dict[str, TabSettings] = field(default_factory=dict)
    numbers: NumbersSettings = field(default_factory=NumbersSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    #: ``[channels.<name>]``: Slack, Teams, Telegram and webhook destinations
    channels: dict[str, ChannelSettings] = field(default_factory=dict)
    #: folder of the config file; relative paths are resolved against it
    base_dir: Path = field(default=Path("."), metadata={"internal": True})
    source: str = field(default="<defaults>", metadata={"internal": True})

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def job(self, name: str) -> JobSettings:
        """A bundled job's settings; a job the user added gets the common defaults."""
        return getattr(self.jobs, name, None) or JobSettings()


# ---------------------------------------------------------------- loading


def load_settings(path: str | os.PathLike[str] = DEFAULT_CONFIG) -> Settings:
    """Read and validate a config file; raise ConfigError with one clear line."""
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(
            f"{config_path}: config file not found; create one from config.example.toml "
            "or run `ops-sheets demo` to get a working example"
        )
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{config_path}: not UTF-8 text; save it as UTF-8") from None
    return settings_from_dict(data, base_dir=config_path.resolve().parent, source=str(config_path))


def settings_from_dict(
    data: dict[str, Any], base_dir: Path = Path("."), source: str = "config"
) -> Settings:
    _refuse_inline_channel_secrets(data, source)
    values = _build(Settings, data, source, section="")
    settings = dataclasses.replace(values, base_dir=base_dir, source=source)
    _check_semantics(settings)
    return settings


def _check_semantics(s: Settings) -> None:
    where = s.source
    try:
        if not s.timezone or s.timezone not in available_timezones():
            ZoneInfo(s.timezone)  # accepts a few aliases that available_timezones() omits
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f'{where}: timezone: "{s.timezone}" is not an IANA time zone; '
            'use a name like "Europe/London" or "America/New_York"'
        ) from None
    if s.workbook.backend == "google" and not s.workbook.spreadsheet_id:
        raise ConfigError(
            f'{where}: [workbook] spreadsheet_id: required when backend = "google"; '
            "copy it from the sheet's URL: https://docs.google.com/spreadsheets/d/<id>/edit"
        )
    if s.mail.transport == "smtp" and not s.mail.smtp.host:
        raise ConfigError(f'{where}: [mail.smtp] host: required when transport = "smtp"')
    _check_holidays(s.jobs.orders, where)
    _check_channels(s, where)
    from ops_sheets.sheet.tables import (  # local: tables imports config lazily too
        TAB_SPECS,
        layout_for,
    )
    from ops_sheets.sheet.workbook.base import normalise_header

    for tab_key, tab in s.tabs.items():
        spec = TAB_SPECS.get(tab_key)
        if spec is None:
            raise ConfigError(
                f"{where}: [tabs.{tab_key}]: unknown tab; valid: {', '.join(sorted(TAB_SPECS))}"
            )
        for column in tab.columns:
            if spec.column(column) is None:
                valid = ", ".join(c.key for c in spec.columns)
                raise ConfigError(
                    f"{where}: [tabs.{tab_key}] columns: unknown column {column!r}; valid: {valid}"
                )
        _check_tab_wave2(tab_key, tab, spec, where)
    # Two names for one tab or one column would make the service write the
    # Problems tab over Stock, or a status over the team's Customer column.
    titles: dict[str, str] = {}
    for spec in TAB_SPECS.values():
        layout = layout_for(spec, s)
        title = layout.title.casefold()
        if title in titles:
            raise ConfigError(
                f"{where}: [tabs.{spec.key}] name: {layout.title!r} is already the name of "
                f"the {titles[title]} tab; give every tab its own name"
            )
        titles[title] = spec.key
        headers: dict[str, str] = {}
        for key, header in layout.headers.items():
            norm = normalise_header(header)
            if norm in headers:
                raise ConfigError(
                    f"{where}: [tabs.{spec.key}] columns: {header!r} would be both "
                    f"{headers[norm]} and {key}; map each column to its own header"
                )
            headers[norm] = key


def _check_tab_wave2(tab_key: str, tab: TabSettings, spec: Any, where: str) -> None:
    """``preset`` names a known layout of a tab that has one; ``values`` maps columns
    the tab has (or, on a preset tab, columns of the platform's export). Whether a
    mapped word is one of the column's choices is ``check``'s to report
    (:func:`ops_sheets.sheet.tab_input.value_map_problems`), so one typo does not
    stop every job."""
    if tab.preset:
        from ops_sheets.sheet.presets import format_choices, presets_for

        if tab_key == "stock":
            # the Stock tab has one platform layout: Shopify's inventory export
            if tab.preset.strip().casefold() != "shopify":
                raise ConfigError(
                    f'{where}: [tabs.stock] preset: "{tab.preset}" is not a known stock '
                    "layout; valid: shopify (Products → Inventory → Export)"
                )
        elif tab_key != "orders":
            raise ConfigError(
                f"{where}: [tabs.{tab_key}] preset: only the orders and stock tabs can be "
                "read in a platform's layout; remove the key"
            )
        elif tab.preset.casefold() == "auto" or not presets_for(tab.preset):
            valid = ", ".join(c for c in format_choices() if c != "auto")
            raise ConfigError(
                f'{where}: [tabs.{tab_key}] preset: "{tab.preset}" is not a known export '
                f"layout; valid: {valid}"
            )
    for column, mapping in tab.values.items():
        if spec.column(column) is None and not tab.preset:
            valid = ", ".join(c.key for c in spec.columns)
            raise ConfigError(
                f"{where}: [tabs.{tab_key}.values] {column}: unknown column; valid: {valid}"
            )
        for word in mapping:
            if not word.strip():
                raise ConfigError(
                    f"{where}: [tabs.{tab_key}.values] {column}: a blank word cannot be "
                    "mapped; leave it out"
                )


def _check_holidays(orders: OrdersSettings, where: str) -> None:
    """holidays_country and holidays_subdivision name a country and one of its regions
    that the holidays package knows (it is imported only when a country is set)."""
    country, region = orders.holidays_country.strip(), orders.holidays_subdivision.strip()
    if region and not country:
        raise ConfigError(
            f'{where}: [jobs.orders] holidays_subdivision: "{region}" needs holidays_country; '
            'set the country too, e.g. holidays_country = "GB"'
        )
    if not country:
        return
    import holidays as holidays_pkg  # only configs that name a country need it

    regions_by_country: dict[str, list[str]] = holidays_pkg.list_supported_countries()
    code = country.upper()
    if code not in regions_by_country:
        raise ConfigError(
            f'{where}: [jobs.orders] holidays_country: "{country}" is not a country the '
            'holidays package knows; valid: a two-letter ISO code such as "GB", "DE" or "US"'
        )
    if not region:
        return
    try:
        holidays_pkg.country_holidays(code, subdiv=region)  # checks the region, no dates
    except (NotImplementedError, KeyError, ValueError):
        regions = ", ".join(regions_by_country[code]) or "none (leave it blank)"
        raise ConfigError(
            f'{where}: [jobs.orders] holidays_subdivision: "{region}" is not a region of '
            f"{code}; valid: {regions}"
        ) from None


#: keys people reach for when they paste a secret into a [channels.<name>] section
_INLINE_SECRET_KEYS = ("url", "webhook_url", "webhook", "token", "bot_token")


def _refuse_inline_channel_secrets(data: Any, source: str) -> None:
    """A webhook URL or bot token typed into the config is refused with the way to
    fix it, before the generic "unknown key" check. The value is never repeated:
    it is a secret, and error messages end up in logs."""
    channels = data.get("channels") if isinstance(data, dict) else None
    if not isinstance(channels, dict):
        return
    for name, section in channels.items():
        if not isinstance(section, dict):
            continue
        where = f"{source}: [channels.{name}]"
        for key in _INLINE_SECRET_KEYS:
            if key in section:
                what = "bot token" if "token" in key else "webhook URL"
                setting = "token_env" if "token" in key else "url_env"
                variable = f"OPS_{str(name).upper().replace('-', '_')}_{setting[:-4].upper()}"
                raise ConfigError(
                    f"{where} {key}: the {what} is a secret and never goes in the config "
                    f"text; put it in an environment variable and name that here ({setting} = "
                    f'"{variable}"'
                    f'), or in a file ({setting.replace("_env", "_file")} = "...")'
                )
        for key, value in section.items():
            if not isinstance(value, str):
                continue
            if "://" in value and key != "api_url":
                raise ConfigError(
                    f"{where} {key}: looks like a URL typed into the config; the webhook URL "
                    "is a secret: put it in an environment variable and name the variable "
                    'with url_env = "..." (or a file with url_file = "...")'
                )
            if key == "token_env" and re.fullmatch(r"\d+:[\w-]{20,}", value):
                raise ConfigError(
                    f"{where} token_env: looks like the bot token itself; name the environment "
                    'variable that holds it instead, e.g. token_env = "OPS_TELEGRAM_TOKEN"'
                )


def _check_channels(s: Settings, where: str) -> None:
    """Every ``[channels.<name>]`` names a known kind, says where its secret is (one
    source, of the right sort) and sends only messages a channel can carry."""
    for name, ch in s.channels.items():
        at = f"{where}: [channels.{name}]"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}", name):
            raise ConfigError(
                f"{at}: a channel name is letters, digits, - and _ (up to 40), like "
                "[channels.ops-slack]"
            )
        if ch.kind not in CHANNEL_KINDS:
            shown = f'"{ch.kind}" is not a known kind' if ch.kind else "required"
            raise ConfigError(f"{at} kind: {shown}; valid: {', '.join(CHANNEL_KINDS)}")
        if ch.kind == "telegram":
            if bool(ch.token_env) == bool(ch.token_file):
                raise ConfigError(
                    f"{at}: a telegram channel needs exactly one of token_env or token_file "
                    "(the bot token from @BotFather, kept outside the config)"
                )
            if ch.url_env or ch.url_file:
                raise ConfigError(
                    f"{at}: telegram posts through the Bot API with token_env/token_file and "
                    "chat_id; remove url_env/url_file"
                )
            if not re.fullmatch(r"-?\d+|@[A-Za-z0-9_]{5,}", ch.chat_id.strip()):
                raise ConfigError(
                    f"{at} chat_id: required for telegram: the numeric chat id in quotes "
                    '(e.g. chat_id = "-1001234567890") or a public channel\'s "@name"'
                )
        else:
            if bool(ch.url_env) == bool(ch.url_file):
                raise ConfigError(
                    f"{at}: a {ch.kind} channel needs exactly one of url_env or url_file "
                    "(the incoming-webhook URL, kept outside the config)"
                )
            if ch.token_env or ch.token_file or ch.chat_id:
                raise ConfigError(
                    f"{at}: token_env, token_file and chat_id are for telegram channels; "
                    f"a {ch.kind} channel needs only url_env or url_file"
                )
        for i, message in enumerate(ch.send):
            if message not in CHANNEL_MESSAGES:
                raise ConfigError(
                    f'{at} send[{i}]: "{message}" is not a message a channel can carry; '
                    f"valid: {', '.join(CHANNEL_MESSAGES)}"
                )
        if ch.min_severity.upper() not in CHANNEL_SEVERITIES:
            raise ConfigError(
                f'{at} min_severity: "{ch.min_severity}" is not a severity; valid: '
                f"{', '.join(CHANNEL_SEVERITIES)}"
            )


def config_warnings(settings: Settings, year: int) -> list[str]:
    """Valid settings that are probably not what the shop means; ``check`` prints them.

    ``year``: the calendar year to look at (the run's ``now``), so the words name
    the holidays that would be missed this year.
    """
    out: list[str] = []
    orders = settings.jobs.orders
    country = orders.holidays_country.strip()
    if country and not orders.holidays_subdivision.strip():
        from ops_sheets.domain.calendar import regional_holidays

        # GB alone is what all four nations share: England's Easter Monday and
        # August bank holiday are missing, so deadlines would count them as working days.
        regions = regional_holidays(country, year)
        if regions:
            example, names = next(iter(regions.items()))
            listed = ", ".join(list(regions)[:8])
            if len(regions) > 8:
                listed += f"… ({len(regions)} in all)"
            out.append(
                f'{settings.source}: [jobs.orders] holidays_country = "{country}" without '
                f"holidays_subdivision leaves out the holidays only some regions keep "
                f"({example} {year}: {', '.join(names)}), so ship-by dates count them as "
                f"working days; set holidays_subdivision to the warehouse's region: {listed}"
            )
    return out


_TYPE_WORDS = {
    str: "text in quotes",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(f'"{a}"' for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return 'a table of names to text, like { sku = "Item code" }'
    if dataclasses.is_dataclass(tp):
        return "a section"
    return _TYPE_WORDS.get(tp, str(tp))


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        raise TypeError("unions are not used in settings")
    ok: bool
    if origin is Literal:
        ok = isinstance(value, str) and value in typing.get_args(tp)
    elif origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, list):
            ok = False
        else:
            return [_convert(item_type, v, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        _, item_type = typing.get_args(tp)
        if typing.get_origin(item_type) is dict and isinstance(value, dict):
            # [tabs.<tab>.values]: a table of tables of words
            return {str(k): _convert(item_type, v, f"{where}.{k}") for k, v in value.items()}
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
    elif tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            return float(value)
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"unsupported setting type {tp}")
    if not ok:
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a section"
    return repr(value)


def _build(cls: type, data: Any, source: str, section: str) -> Any:
    label = f"[{section}]" if section else "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {label}: expected a section, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            valid = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: {label} {key}: unknown key; valid keys here: {valid}")
        tp = hints[key]
        sub = f"{section}.{key}" if section else key
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, source, sub)
        elif typing.get_origin(tp) is dict and dataclasses.is_dataclass(typing.get_args(tp)[1]):
            # [tabs.<tab>] sections: a table of sub-sections
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{sub}]: expected a section, got {_show(value)}")
            item_type = typing.get_args(tp)[1]
            kwargs[key] = {k: _build(item_type, v, source, f"{sub}.{k}") for k, v in value.items()}
        else:
            where = f"{source}: {label} {key}"
            kwargs[key] = _validated(fields[key], _convert(tp, value, where), tp is int, where)
    return cls(**kwargs)


def _validated(f: dataclasses.Field[Any], value: Any, whole: bool, where: str) -> Any:
    """``value`` if it lies in the setting's range and passes its check, else ConfigError."""
    within: Range | None = f.metadata.get("within")
    if within is not None and value not in within:
        what = "is out of range" if math.isfinite(value) else "is not a usable number"
        raise ConfigError(f"{where}: {_show(value)} {what}; valid: {within.describe(whole)}")
    if isinstance(value, float) and not math.isfinite(value):  # a number without a range
        raise ConfigError(f"{where}: {_show(value)} is not a usable number; valid: a finite number")
    check: Validator | None = f.metadata.get("valid")
    if check is not None:
        try:
            check(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return value


def iter_settings_docs(cls: type = Settings, section: str = "") -> typing.Iterator[tuple[str, str]]:
    """(key path, help) for every setting; used to check config.example.toml covers all."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        tp = hints[f.name]
        path = f"{section}.{f.name}" if section else f.name
        if dataclasses.is_dataclass(tp):
            yield from iter_settings_docs(tp, path)
        elif "help" in f.metadata:
            yield path, f.metadata["help"]
