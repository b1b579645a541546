"""`listings`: every active SKU's product page against the Stock tab.

For each Stock row with a ``URL`` (active SKUs only) the page is fetched by
:mod:`ops_sheets.web.fetcher` (politely and within bounds: see there), its
schema.org Product/Offer data read by :mod:`ops_sheets.web.product_data`, and
compared with the row by :mod:`ops_sheets.domain.listings`.

Written: the Listings tab, rewritten whole (one row per page). Published:
one finding per page with a problem (monitor's alert, the Today tab), and the
run's summary for the weekly email (state ``listings.summary``). Remembered per
URL (state ``listings.pages``): ETag / Last-Modified and the products the page
showed, so an unchanged page is a 304 and costs no download or parsing, and
when it was last checked, so a run that hits its time limit checks the pages
waited longest first next time.

Nothing is fetched when the Stock tab cannot be read whole, and the findings
published before stay as they were.
"""

from __future__ import annotations

from typing import Any

from ops_sheets.domain.findings import computed_from, publish
from ops_sheets.domain.listings import (
    PAGES_NAMESPACE,
    SUMMARY_NAMESPACE,
    ListedSku,
    ListingRow,
    PageProduct,
    PageVisit,
    check_page,
    listed_skus,
    listing_findings,
    not_checked,
    summarise,
)
from ops_sheets.service.runner import JobContext, to_cell
from ops_sheets.sheet.workbook.base import Replace
from ops_sheets.web.fetcher import Clock, Fetched, Fetcher, FetchPolicy, Validators
from ops_sheets.web.guard import AddressGuard, parse_networks
from ops_sheets.web.product_data import products as read_products

TABS = ("stock",)
#: the fetcher's time source; tests put a clock here that does not sleep for real
CLOCK: Clock | None = None


def policy_for(ctx: JobContext) -> FetchPolicy:
    s = ctx.settings.jobs.listings
    return FetchPolicy(
        user_agent=s.user_agent,
        requests_per_minute_per_host=s.requests_per_minute_per_host,
        timeout_seconds=s.timeout_seconds,
        max_bytes=int(s.max_page_mb * 1024 * 1024),
        retries=s.retries,
        run_seconds=s.run_minutes * 60,
    )


def run(ctx: JobContext) -> None:
    if not ctx.requires("Listings", *TABS):
        publish(ctx.state, "listings", [], ctx.now, unavailable=ctx.unavailable())
        return
    items = listed_skus(ctx.tables["stock"].frame)
    pages: dict[str, Any] = ctx.state.items(PAGES_NAMESPACE) if ctx.state is not None else {}
    if not items and not pages:
        # a shop that lists no URL gets no Listings tab (one that had URLs gets it emptied)
        ctx.note("no active Stock row has a URL: no product page to check")
        publish(ctx.state, "listings", [], ctx.now)
        return
    # the pages waited longest first: a run cut short by its time limit rotates
    order = sorted(items, key=lambda i: (pages.get(i.url) or {}).get("checked_at") or "")
    guard = AddressGuard(parse_networks(ctx.settings.jobs.listings.allow_networks))
    rows: dict[str, ListingRow] = {}
    fetched = unchanged = 0
    with Fetcher(policy_for(ctx), guard, CLOCK) as fetcher:
        for item in order:
            last = pages.get(item.url)
            if fetcher.out_of_time:
                why = "not fetched: the run's time limit was reached; checked next run"
                rows[item.sku + "\0" + item.url] = not_checked(item, ctx.now, why, last)
                continue
            visit = _visit(ctx, fetcher, item, last)
            fetched += 1
            unchanged += bool(visit.unchanged_since)
            row = check_page(item, visit, ctx.now, ctx.settings.currency)
            rows[item.sku + "\0" + item.url] = row
        requests = len(fetcher.requests)
        peak = fetcher.peak_per_minute()
    ordered = [rows[i.sku + "\0" + i.url] for i in items]  # sheet order on the tab
    _write(ctx, ordered)
    findings = listing_findings(ordered)
    publish(ctx.state, "listings", computed_from(findings, TABS), ctx.now)
    summary = summarise(ordered, ctx.now)
    if ctx.state is not None:
        ctx.state.put(SUMMARY_NAMESPACE, "latest", summary.as_state())
    problems = ", ".join(f"{n} {k.lower()}" for k, n in sorted(summary.by_result.items()))
    ctx.note(
        f"{len(ordered)} product page(s): {summary.ok} OK"
        + (f", {problems}" if problems else "")
        + f"; {requests} request(s), {unchanged} unchanged (304)"
    )
    ctx.counts.update(
        {
            "listing_pages": len(ordered),
            "listing_ok": summary.ok,
            "listing_problems": len(ordered) - summary.ok,
            "listing_requests": requests,
            "listing_unchanged": unchanged,
            "listing_peak_requests_per_minute_per_host": peak,
        }
    )


def _visit(
    ctx: JobContext, fetcher: Fetcher, item: ListedSku, last: dict[str, Any] | None
) -> PageVisit:
    known = last if last and last.get("products") is not None else None
    validators = (
        Validators(known.get("etag", ""), known.get("last_modified", "")) if known else None
    )
    f = fetcher.fetch(item.url, validators)
    products: tuple[PageProduct, ...] = ()
    since = ""
    if f.not_modified and known is not None:
        products = tuple(PageProduct.from_dict(p) for p in known["products"])
        since = known.get("read_at", "")
    elif f.status == 200 and not f.error:
        products = tuple(read_products(f.text, f.final_url)) if _html(f) else ()
    visit = PageVisit(
        url=item.url,
        status=f.status,
        error=f.error,
        message=f.message,
        final_url=f.final_url,
        redirects=tuple(f.redirects),
        products=products,
        unchanged_since=since,
    )
    _remember(ctx, item, f, visit, known)
    return visit


def _html(f: Fetched) -> bool:
    return f.content_type in ("", "text/html", "application/xhtml+xml") or "html" in f.content_type


def _remember(
    ctx: JobContext, item: ListedSku, f: Fetched, visit: PageVisit, known: dict[str, Any] | None
) -> None:
    if ctx.state is None:
        return
    record: dict[str, Any] = dict(known or {})
    record["checked_at"] = ctx.now.isoformat()
    record["status"] = f.status
    if f.status == 200 and not f.error and (f.validators.etag or f.validators.last_modified):
        record.update(
            etag=f.validators.etag,
            last_modified=f.validators.last_modified,
            products=[p.to_dict() for p in visit.products],
            read_at=ctx.now.date().isoformat(),
        )
    elif not f.not_modified:
        # no validators (or no good answer): nothing to ask "changed since?" with
        for k in ("etag", "last_modified", "products", "read_at"):
            record.pop(k, None)
    ctx.state.put(PAGES_NAMESPACE, item.url, record)


def _write(ctx: JobContext, rows: list[ListingRow]) -> None:
    _, title, headers = ctx._spec("listings")
    cells = [{headers[k]: to_cell(v) for k, v in r.values().items()} for r in rows]
    ctx.changes.replaces.append(Replace(title, cells))
