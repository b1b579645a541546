"""Product pages against the sheet: page facts in, Listings rows and findings out.

Pure: the ``listings`` job fetches (:mod:`ops_sheets.web`) and hands over, per
SKU, a :class:`PageVisit` (what the HTTP exchange gave, and the schema.org
products the page describes); :func:`check_page` compares it with the Stock row
and gives the Listings row. ``Result`` is OK or the first problem in this order
(worst first), ``Details`` says all of them:

=============================  =========  ===================================================
Result                         severity   when
=============================  =========  ===================================================
NOT CHECKED                    info       URL refused (scheme, private address), robots.txt,
                                          or the run's time limit
PAGE GONE                      critical   404 or 410
SERVER ERROR                   warning    5xx after the retries
UNREACHABLE                    warning    timeout, connection failed, redirect loop,
                                          too many redirects, page over the size cap
HTTP <status>                  warning    any other answer that is not 200/304
REDIRECTED TO HOME PAGE        warning    the URL ends on the site's home page
NO PRODUCT DATA                warning    no schema.org Product on the page
IN STOCK BUT NONE AVAILABLE    critical   page says in stock, Available ≤ 0
PRICE BELOW COST               critical   page price < Unit cost
PRICE DIFFERS                  warning    page price ≠ Price, beyond rounding to the cent
OUT OF STOCK BUT AVAILABLE     warning    page says out of stock, Available is plenty
MISSING DETAILS                info       no name, image, description or GTIN
=============================  =========  ===================================================

"Available is plenty": above the SKU's Reorder point when one is typed, else
above 0. Available is the Stock tab's ``Available`` (written by ``stock``) or,
while that is blank, ``On hand``. A page showing BackOrder or PreOrder is
honest about stock and is never "in stock"; prices in another currency than the
shop's are not compared (Details says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ops_sheets.domain.findings import Finding, Severity

#: the state namespace of what each page said last: URL → validators and facts
PAGES_NAMESPACE = "listings.pages"
#: the last run's summary (for the weekly email): key "latest"
SUMMARY_NAMESPACE = "listings.summary"

IN_STOCK = frozenset({"InStock", "LimitedAvailability", "OnlineOnly", "InStoreOnly"})
OUT_OF_STOCK = frozenset({"OutOfStock", "SoldOut", "Discontinued"})

RESULTS: tuple[tuple[str, Severity], ...] = (
    ("NOT CHECKED", "info"),
    ("PAGE GONE", "critical"),
    ("SERVER ERROR", "warning"),
    ("UNREACHABLE", "warning"),
    ("HTTP", "warning"),
    ("REDIRECTED TO HOME PAGE", "warning"),
    ("NO PRODUCT DATA", "warning"),
    ("IN STOCK BUT NONE AVAILABLE", "critical"),
    ("PRICE BELOW COST", "critical"),
    ("PRICE DIFFERS", "warning"),
    ("OUT OF STOCK BUT AVAILABLE", "warning"),
    ("MISSING DETAILS", "info"),
)
_RANK = {name: i for i, (name, _) in enumerate(RESULTS)}
_SEVERITY = dict(RESULTS)
_ACTIONS = {
    "NOT CHECKED": "fix the URL in the Stock tab, or allow its network in the config",
    "PAGE GONE": "restore the page or fix the Stock tab's URL; customers and ads land on an error",
    "SERVER ERROR": "tell whoever runs the website: the page fails",
    "UNREACHABLE": "check the page loads; tell whoever runs the website",
    "HTTP": "check the page loads; fix the URL in the Stock tab",
    "REDIRECTED TO HOME PAGE": "the product page is gone: restore it or fix the Stock tab's URL",
    "NO PRODUCT DATA": "the page has no schema.org Product data: search engines and feeds "
    "cannot read it; check the theme or the URL",
    "IN STOCK BUT NONE AVAILABLE": "mark the product out of stock on the website "
    "(or correct On hand): customers will order what is not there",
    "PRICE BELOW COST": "correct the price on the website: each sale loses money",
    "PRICE DIFFERS": "make the website's price and the Stock tab's Price agree",
    "OUT OF STOCK BUT AVAILABLE": "mark the product in stock on the website: sales are lost",
    "MISSING DETAILS": "fill in the product's missing details on the website",
}


@dataclass(frozen=True)
class PageProduct:
    """One product (or one offer of it) as a page's structured data gives it."""

    name: str = ""
    image: str = ""
    description: str = ""
    gtin: str = ""
    sku: str = ""
    price: float | None = None
    currency: str = ""
    availability: str = ""  # schema.org term: InStock, OutOfStock, BackOrder...
    source: str = ""  # json-ld, microdata, rdfa

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PageProduct:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class PageVisit:
    """What fetching one URL gave (the web module's answer, as plain facts)."""

    url: str
    status: int | None = None
    #: "" when an answer came; else refused, robots, out_of_time, timeout,
    #: unreachable, too_large, redirect_loop, too_many_redirects
    error: str = ""
    message: str = ""
    final_url: str = ""
    redirects: tuple[tuple[int, str], ...] = ()
    products: tuple[PageProduct, ...] = ()
    #: a 304: ``products`` are what the page said when last read, on ``read_at``
    unchanged_since: str = ""


@dataclass(frozen=True)
class ListedSku:
    """A Stock row with a URL: what its page should say."""

    sku: str
    url: str
    product: str = ""
    price: float | None = None
    unit_cost: float | None = None
    available: float | None = None
    reorder_point: float | None = None
    row: int | None = None


@dataclass(frozen=True)
class ListingRow:
    sku: str
    url: str
    checked_at: datetime
    http_status: int | None
    page_price: float | None
    sheet_price: float | None
    page_availability: str
    available: float | None
    results: tuple[str, ...]  # every problem, worst first; () = OK
    details: str
    product: str = ""

    @property
    def result(self) -> str:
        return self.results[0] if self.results else "OK"

    @property
    def severity(self) -> Severity | None:
        if not self.results:
            return None
        first = self.results[0]
        return _SEVERITY.get("HTTP" if first.startswith("HTTP ") else first, "warning")

    def values(self) -> dict[str, Any]:
        """The Listings tab's cells (column keys)."""
        return {
            "sku": self.sku,
            "url": self.url,
            "checked_at": self.checked_at,
            "http_status": self.http_status,
            "page_price": self.page_price,
            "sheet_price": self.sheet_price,
            "page_availability": self.page_availability,
            "available": self.available,
            "result": self.result,
            "details": self.details,
        }


# ---------------------------------------------------------------- the sheet side


def listed_skus(stock: pd.DataFrame) -> list[ListedSku]:
    """Active Stock rows with an http(s)-looking URL, in sheet order. A URL that is
    not http(s) is still listed: its row says why it is not checked."""
    if "url" not in stock.columns or stock.empty:
        return []
    out = []
    for r in stock.to_dict("records"):
        url = r.get("url")
        if not isinstance(url, str) or not url.strip():
            continue
        if r.get("active") is False:
            continue
        available = _number(r.get("available"))
        if available is None:
            available = _number(r.get("on_hand"))
        out.append(
            ListedSku(
                sku=str(r["sku"]),
                url=url.strip(),
                product=str(r.get("product") or "") if _present(r.get("product")) else "",
                price=_number(r.get("price")),
                unit_cost=_number(r.get("unit_cost")),
                available=available,
                reorder_point=_number(r.get("reorder_point")),
                row=int(r["_row"]) if _present(r.get("_row")) else None,
            )
        )
    return out


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and v is not pd.NaT


def _number(v: Any) -> float | None:
    if not _present(v) or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


# ---------------------------------------------------------------- one page


def pick_product(products: Sequence[PageProduct], sku: str) -> tuple[PageProduct | None, str]:
    """The product/offer for ``sku``: the one whose sku matches, else the first;
    with a note when the page lists other SKUs only."""
    if not products:
        return None, ""
    wanted = sku.strip().casefold()
    for p in products:
        if p.sku.strip().casefold() == wanted:
            return p, ""
    skus = sorted({p.sku for p in products if p.sku})
    note = (
        f"the page lists SKU {', '.join(skus[:3])}, not {sku}; compared with the first"
        if (skus)
        else ""
    )
    return products[0], note


def check_page(item: ListedSku, visit: PageVisit, now: datetime, currency: str) -> ListingRow:
    problems: list[str] = []
    details: list[str] = []
    product: PageProduct | None = None
    status = visit.status
    if visit.error:
        code = {
            "refused": "NOT CHECKED",
            "robots": "NOT CHECKED",
            "out_of_time": "NOT CHECKED",
        }.get(visit.error, "UNREACHABLE")
        problems.append(code)
        details.append(visit.message)
    elif status in (404, 410):
        problems.append("PAGE GONE")
        details.append(f"the page answers {status}")
    elif status is not None and status >= 500:
        problems.append("SERVER ERROR")
        details.append(f"the page answers {status}")
    elif status not in (200, 304):
        problems.append(f"HTTP {status}")
        details.append(f"the page answers {status}")
    else:
        if _home_page(visit):
            problems.append("REDIRECTED TO HOME PAGE")
        product, note = pick_product(visit.products, item.sku)
        if note:
            details.append(note)
        if product is None:
            problems.append("NO PRODUCT DATA")
            details.append("no schema.org Product in JSON-LD, microdata or RDFa")
        else:
            _compare(item, product, currency, problems, details)
    if visit.redirects:
        details.append("redirected: " + " → ".join(f"{s} {u}" for s, u in visit.redirects))
    if visit.unchanged_since:
        details.append(f"page unchanged since {visit.unchanged_since} (304)")
    ordered = tuple(sorted(dict.fromkeys(problems), key=_rank))
    return ListingRow(
        sku=item.sku,
        url=item.url,
        checked_at=now,
        http_status=status,
        page_price=product.price if product is not None else None,
        sheet_price=item.price,
        page_availability=product.availability if product is not None else "",
        available=item.available,
        results=ordered,
        details="; ".join(d for d in details if d) or "page matches the sheet",
        product=item.product or (product.name if product is not None else ""),
    )


def _rank(code: str) -> int:
    return _RANK.get("HTTP" if code.startswith("HTTP ") else code, len(_RANK))


def _home_page(visit: PageVisit) -> bool:
    if not visit.redirects:
        return False
    start = urlsplit(visit.url).path.strip("/")
    end = urlsplit(visit.final_url or visit.redirects[-1][1]).path.strip("/")
    return bool(start) and end == ""


def _compare(
    item: ListedSku, p: PageProduct, currency: str, problems: list[str], details: list[str]
) -> None:
    available = item.available
    if p.availability in IN_STOCK and available is not None and available <= 0:
        problems.append("IN STOCK BUT NONE AVAILABLE")
        details.append(f"the page says {p.availability}, Available is {available:g}")
    plenty = item.reorder_point if item.reorder_point is not None else 0.0
    if p.availability in OUT_OF_STOCK and available is not None and available > plenty:
        problems.append("OUT OF STOCK BUT AVAILABLE")
        details.append(f"the page says {p.availability}, Available is {available:g}")
    if p.price is not None:
        other_currency = bool(p.currency) and bool(currency) and p.currency != currency.upper()
        if other_currency:
            details.append(
                f"the page's price is in {p.currency}, the sheet's in {currency}: not compared"
            )
        else:
            if item.unit_cost is not None and p.price < item.unit_cost - 0.005:
                problems.append("PRICE BELOW COST")
                details.append(f"page price {p.price:.2f} below Unit cost {item.unit_cost:.2f}")
            if item.price is not None and round(p.price, 2) != round(item.price, 2):
                problems.append("PRICE DIFFERS")
                details.append(f"page price {p.price:.2f}, sheet Price {item.price:.2f}")
    missing = [
        name
        for name, value in (
            ("name", p.name),
            ("image", p.image),
            ("description", p.description),
            ("GTIN", p.gtin),
        )
        if not value
    ]
    if missing:
        problems.append("MISSING DETAILS")
        details.append("no " + ", ".join(missing) + " in the product data")


def not_checked(
    item: ListedSku, now: datetime, why: str, last: Mapping[str, Any] | None
) -> ListingRow:
    """A page this run did not reach (its time limit): says what it showed last."""
    if last:
        why += f"; last checked {last.get('checked_at', '?')}: {last.get('result', '?')}"
    return check_page(item, PageVisit(item.url, error="out_of_time", message=why), now, "")


# ---------------------------------------------------------------- findings and summary


def listing_findings(rows: Iterable[ListingRow]) -> list[Finding]:
    """One finding per page with a problem (its worst), key ``listing-<result>:<SKU>``.
    Pages not reached for lack of time are not findings (the next run checks them)."""
    out = []
    for r in rows:
        if not r.results or r.details.startswith("not fetched: the run's time limit"):
            continue
        first = r.result
        base = "HTTP" if first.startswith("HTTP ") else first
        slug = first.lower().replace(" ", "-")
        name = f"{r.sku} {r.product}".strip()
        out.append(
            Finding(
                key=f"listing-{slug}:{r.sku}",
                source="listings",
                severity=_SEVERITY.get(base, "warning"),
                title=f"Product page {first.lower()}: {name}",
                detail=f"{r.url}: {r.details}",
                action=_ACTIONS.get(base, "check the page"),
                metric=float(len(r.results)),
            )
        )
    return out


@dataclass
class ListingsSummary:
    checked_at: str
    pages: int = 0
    ok: int = 0
    by_result: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)

    def as_state(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarise(rows: Sequence[ListingRow], now: datetime, *, listed: int = 10) -> ListingsSummary:
    s = ListingsSummary(checked_at=now.isoformat(), pages=len(rows))
    for r in rows:
        if not r.results:
            s.ok += 1
            continue
        s.by_result[r.result] = s.by_result.get(r.result, 0) + 1
    worst = sorted((r for r in rows if r.results), key=lambda r: (_rank(r.result), r.sku))
    s.problems = [
        {"sku": r.sku, "product": r.product, "result": r.result, "details": r.details, "url": r.url}
        for r in worst[:listed]
    ]
    return s
