"""listings: 500 product pages from a local server, and whether the per-host rate held.

The pages (a Shopify-shaped JSON-LD product each, with an ETag) are served by
ops_sheets.service.page_server on 127.0.0.1, one host, so every request is
under the same rate limit. The fetcher's clock skips its waits instead of
sleeping (a real run at 30 requests a minute would take 500 × 2 s ≈ 17 minutes
of waiting): the wall time measured is the work (HTTP, parsing, comparing,
writing the tab); the time a real run takes is the fetcher's clock, printed too.
The rate is measured on that clock: the most requests any 60 s window saw.

A second run finds every page unchanged (304, no body, no parsing).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import ops_sheets.jobs.listings as listings_job

from ops_sheets.config import settings_from_dict
from ops_sheets.service.page_server import Page, PageServer
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.store.state import State

PAGES = 500
RATE = 30
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/London"))


class SkippingClock:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() - self.start + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)


def product_page(i: int) -> bytes:
    data = {
        "@context": "http://schema.org/",
        "@type": "Product",
        "name": f"Product {i}",
        "description": f"Description of product {i}.",
        "image": f"https://shop.example/cdn/p{i}.jpg",
        "offers": [
            {
                "@type": "Offer",
                "sku": f"SKU-{i:04d}",
                "gtin": f"50601234{i:05d}",
                "price": f"{10 + i % 7}.00",
                "priceCurrency": "GBP",
                "availability": "http://schema.org/InStock",
            }
        ],
    }
    filler = "<p>Lorem ipsum dolor sit amet.</p>" * 300  # ~10 KB, like a real theme
    return (
        f"<!doctype html><html><head><title>Product {i}</title>"
        f'<script type="application/ld+json">{json.dumps(data)}</script></head>'
        f"<body><h1>Product {i}</h1>{filler}</body></html>"
    ).encode()


def main() -> None:
    pages = {"/robots.txt": Page(body=b"User-agent: *\nDisallow:\n", content_type="text/plain")}
    pages |= {f"/products/p{i}": Page(body=product_page(i), etag=f'"v{i}"') for i in range(PAGES)}
    with tempfile.TemporaryDirectory() as tmp, PageServer(pages) as server:
        settings = settings_from_dict(
            {
                "workbook": {"backend": "xlsx", "path": "workbook.xlsx"},
                "state": {"path": "state.db"},
                "jobs": {
                    "listings": {
                        "allow_networks": ["127.0.0.1/32"],
                        "requests_per_minute_per_host": RATE,
                        "run_minutes": 60,
                    }
                },
            },
            base_dir=Path(tmp),
        )
        header = ["SKU", "Product", "On hand", "Unit cost", "Price", "URL"]
        rows = [
            [f"SKU-{i:04d}", f"Product {i}", 5, 4, 10 + i % 7, server.url(f"/products/p{i}")]
            for i in range(PAGES)
        ]
        wb = MemoryWorkbook({"Stock": [header, *rows]})
        with closing(State(Path(tmp) / "state.db")) as state:
            for label in ("first run (every page fetched)", "second run (every page 304)"):
                clock = SkippingClock()
                listings_job.CLOCK = clock
                t0 = time.perf_counter()
                result = run_job("listings", settings, NOW, workbook=wb, state=state)
                wall = time.perf_counter() - t0
                c = result.counts
                print(f"{label}: {c['listing_pages']} pages, {c['listing_requests']} requests")
                print(f"  wall time (the work)        {wall:8.1f} s   goal: < 60 s")
                print(f"  with the rate's waits       {clock.monotonic() / 60:8.1f} min")
                peak = c["listing_peak_requests_per_minute_per_host"]
                print(f"  peak requests/min per host  {peak:8d}     goal: ≤ {RATE}")
                print(f"  unchanged (304)             {c['listing_unchanged']:8d}")
                ok = c["listing_peak_requests_per_minute_per_host"] <= RATE
                if not ok or c["listing_pages"] != PAGES:
                    print("  FAILED")
                    sys.exit(1)
        listings_job.CLOCK = None


if __name__ == "__main__":
    main()
