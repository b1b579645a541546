"""`ops-sheets run listings` against a real HTTP server on 127.0.0.1.

The server serves product pages in the shapes Shopify, WooCommerce, a
microdata theme and an RDFa theme emit, a page without product data, and the
hostile cases: 404, 500, a slow page, a redirect loop, a 20 MB page, a
redirect to the home page. 127.0.0.1 is allowed explicitly in the test config
(it is refused by default). The fetcher's clock skips its sleeps (the rate
limit's waits and the back-off) instead of sleeping, so tests run fast and the
run's time bound is checked on that clock, not on the wall.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import ops_sheets.jobs.listings as listings_job
import pytest

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.domain.findings import current
from ops_sheets.service.page_server import Page, PageServer
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.store.state import State
from ops_sheets.web.fetcher import Fetcher, FetchPolicy
from ops_sheets.web.guard import AddressGuard, parse_networks
from tests.conftest import NOW

PAGES = Path(__file__).parent / "data" / "pages"
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


class SkippingClock:
    """Real elapsed time plus every sleep asked for, which returns at once."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.skipped = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic() - self.start + self.skipped

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.skipped += seconds


def page(name: str, **kw: object) -> Page:
    return Page(body=(PAGES / name).read_bytes(), **kw)  # type: ignore[arg-type]


def shop_pages() -> dict[str, Page]:
    return {
        "/robots.txt": Page(body=ROBOTS, content_type="text/plain"),
        "/": Page(body=b"<html><body>Home</body></html>"),
        "/products/stoneware-mug": page("shopify_dawn.html"),
        "/product/linen-tea-towel/": page("woocommerce.html", etag='"tt-1"'),
        "/bowl": page("microdata.html"),
        "/plate": page("rdfa.html"),
        "/blog/glazing": page("no_product.html"),
        "/gone": Page(404, b"<html>Not found</html>"),
        "/broken": Page(500, b"oops"),
        "/slow": Page(delay=2.0, body=b"<html>late</html>"),
        "/loop-a": Page(302, headers={"Location": "/loop-b"}),
        "/loop-b": Page(302, headers={"Location": "/loop-a"}),
        "/huge": Page(size=20 * 1024 * 1024),
        "/old-product": Page(301, headers={"Location": "/"}),
        "/private/draft": page("microdata.html"),
    }


@pytest.fixture
def server() -> Iterator[PageServer]:
    with PageServer(shop_pages()) as s:
        yield s


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SkippingClock:
    c = SkippingClock()
    monkeypatch.setattr(listings_job, "CLOCK", c)
    return c


def make_settings(tmp_path: Path, **listings: object) -> Settings:
    return settings_from_dict(
        {
            "timezone": "Europe/London",
            "workbook": {"backend": "xlsx", "path": "workbook.xlsx"},
            "mail": {"transport": "outbox", "outbox_dir": "outbox"},
            "state": {"path": "state.db"},
            "jobs": {
                "listings": {
                    "allow_networks": ["127.0.0.1/32"],
                    "timeout_seconds": 0.5,
                    "requests_per_minute_per_host": 30,
                    **listings,
                }
            },
        },
        base_dir=tmp_path,
        source="test-config.toml",
    )


STOCK_HEADER = ["SKU", "Product", "On hand", "Reorder point", "Unit cost", "Price", "Active", "URL"]


def stock(server: PageServer, rows: list[list[object]]) -> dict[str, list[list[object]]]:
    out = [STOCK_HEADER]
    for r in rows:
        url = r[-1]
        if isinstance(url, str) and url.startswith("/"):
            url = server.url(url)
        out.append([*r[:-1], url])
    return {"Stock": out}


def every_case(server: PageServer) -> dict[str, list[list[object]]]:
    return stock(
        server,
        [
            # Shopify variant MUG-350-SAGE: in stock on the page, none available
            ["MUG-350-SAGE", "Mug sage", 0, 2, 5, 14, True, "/products/stoneware-mug"],
            # WooCommerce: price 9.50 on the page, 11.00 on the sheet
            ["TT-LIN-01", "Tea towel", 30, 5, 3, 11, True, "/product/linen-tea-towel/"],
            # microdata: all matches
            ["BOWL-L", "Bowl", 4, 2, 10, 32, True, "/bowl"],
            # RDFa: out of stock on the page while 40 are available
            ["PLATE-S", "Side plate", 40, 5, 2, 8, True, "/plate"],
            ["NOTE-1", "Notebook", 5, 1, 2, 6, True, "/blog/glazing"],
            ["GONE-1", "Gone", 5, 1, 2, 6, True, "/gone"],
            ["ERR-1", "Broken", 5, 1, 2, 6, True, "/broken"],
            ["SLOW-1", "Slow", 5, 1, 2, 6, True, "/slow"],
            ["LOOP-1", "Loop", 5, 1, 2, 6, True, "/loop-a"],
            ["HUGE-1", "Huge", 5, 1, 2, 6, True, "/huge"],
            ["HOME-1", "Moved", 5, 1, 2, 6, True, "/old-product"],
            ["ROBO-1", "Draft", 5, 1, 2, 6, True, "/private/draft"],
            ["FTP-1", "Ftp", 5, 1, 2, 6, True, "ftp://files.example/x"],
            ["OFF-1", "Inactive", 5, 1, 2, 6, False, "/bowl"],
            ["NOURL-1", "No URL", 5, 1, 2, 6, True, ""],
        ],
    )


def listings_rows(wb: MemoryWorkbook) -> dict[str, dict[str, object]]:
    header, *rows = wb.values("Listings")
    return {r[0]: dict(zip(header, r, strict=False)) for r in rows}


def run(settings: Settings, wb: MemoryWorkbook, state: State, now=NOW):  # type: ignore[no-untyped-def]
    return run_job("listings", settings, now, workbook=wb, state=state)


def test_every_page_gets_its_row_with_the_first_problem_as_result(
    tmp_path: Path, server: PageServer, clock: SkippingClock
) -> None:
    settings = make_settings(tmp_path)
    wb = MemoryWorkbook(every_case(server))
    with closing(State(tmp_path / "state.db")) as state:
        result = run(settings, wb, state)
        rows = listings_rows(wb)
        findings = {f.key: f for f in current(state)}
    assert result.error == ""
    assert set(rows) == {
        "MUG-350-SAGE", "TT-LIN-01", "BOWL-L", "PLATE-S", "NOTE-1", "GONE-1", "ERR-1",
        "SLOW-1", "LOOP-1", "HUGE-1", "HOME-1", "ROBO-1", "FTP-1",
    }  # fmt: skip
    got = {sku: r["Result"] for sku, r in rows.items()}
    assert got == {
        "MUG-350-SAGE": "IN STOCK BUT NONE AVAILABLE",
        "TT-LIN-01": "PRICE DIFFERS",
        "BOWL-L": "OK",
        "PLATE-S": "OUT OF STOCK BUT AVAILABLE",
        "NOTE-1": "NO PRODUCT DATA",
        "GONE-1": "PAGE GONE",
        "ERR-1": "SERVER ERROR",
        "SLOW-1": "UNREACHABLE",
        "LOOP-1": "UNREACHABLE",
        "HUGE-1": "UNREACHABLE",
        "HOME-1": "REDIRECTED TO HOME PAGE",
        "ROBO-1": "NOT CHECKED",
        "FTP-1": "NOT CHECKED",
    }
    mug = rows["MUG-350-SAGE"]
    assert (mug["HTTP status"], mug["Page price"], mug["Sheet price"]) == (200, 14.0, 14.0)
    assert (mug["Page availability"], mug["Available"]) == ("InStock", 0.0)
    assert mug["Checked at"] == NOW
    towel = rows["TT-LIN-01"]
    assert "page price 9.50, sheet Price 11.00" in towel["Details"]
    assert "no GTIN" in towel["Details"]  # WooCommerce gives no GTIN by default
    assert rows["ERR-1"]["HTTP status"] == 500
    assert server.hits["/broken"] == 3  # two retries after the first 500
    assert "redirect loop" in rows["LOOP-1"]["Details"]
    assert "larger than" in rows["HUGE-1"]["Details"]
    assert "no answer within" in rows["SLOW-1"]["Details"]
    assert server.hits["/slow"] == 1  # a slow page is not asked again
    assert "robots.txt" in rows["ROBO-1"]["Details"]
    assert server.hits["/private/draft"] == 0
    assert "only http and https" in rows["FTP-1"]["Details"]
    assert server.hits["/robots.txt"] == 1  # once per host
    # the worst problems reach the manager's alert and the Today tab
    assert findings["listing-in-stock-but-none-available:MUG-350-SAGE"].severity == "critical"
    assert findings["listing-page-gone:GONE-1"].severity == "critical"
    assert "listing-ok:BOWL-L" not in findings
    today = [r[2] for r in wb.values("Today")[1:]]
    assert any("MUG-350-SAGE" in w and "out of stock on the website" in w for w in today)


def test_requests_to_one_host_keep_the_configured_rate(
    server: PageServer, clock: SkippingClock
) -> None:
    guard = AddressGuard(parse_networks(["127.0.0.1/32"]))
    with Fetcher(FetchPolicy(requests_per_minute_per_host=30), guard, clock) as fetcher:
        for path in ["/bowl", "/plate", "/gone", "/blog/glazing", "/bowl"]:
            fetcher.fetch(server.url(path))
        starts = [t for _, t in fetcher.requests]
    # robots.txt and five pages, each >= 2 s (60 / 30) after the one before, on the
    # fetcher's clock; the waits were asked of the clock, not slept for real
    assert len(starts) == 6
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 2.0 - 1e-9
    assert sum(clock.sleeps) >= 2.0 * 5 - 1.0


def test_a_crawl_delay_in_robots_txt_slows_the_rate(clock: SkippingClock) -> None:
    pages = {
        "/robots.txt": Page(body=b"User-agent: *\nCrawl-delay: 7\n", content_type="text/plain"),
        "/a": page("microdata.html"),
    }
    guard = AddressGuard(parse_networks(["127.0.0.1/32"]))
    with PageServer(pages) as s, Fetcher(FetchPolicy(), guard, clock) as fetcher:
        for _ in range(3):
            fetcher.fetch(s.url("/a"))
        starts = [t for _, t in fetcher.requests]
    assert min(b - a for a, b in itertools.pairwise(starts[1:])) >= 7.0 - 1e-9


def test_the_run_stops_at_its_time_bound_and_every_page_still_gets_a_row(
    tmp_path: Path, server: PageServer, clock: SkippingClock
) -> None:
    # 1 request a minute per host and 3 minutes: robots.txt + two pages fit, no more
    settings = make_settings(tmp_path, requests_per_minute_per_host=1, run_minutes=3)
    wb = MemoryWorkbook(every_case(server))
    with closing(State(tmp_path / "state.db")) as state:
        result = run(settings, wb, state)
        rows = listings_rows(wb)
    checked = [s for s, r in rows.items() if "time limit" not in str(r["Details"])]
    waiting = [s for s, r in rows.items() if "time limit" in str(r["Details"])]
    assert len(rows) == 13
    assert len(waiting) >= 9 and all(rows[s]["Result"] == "NOT CHECKED" for s in waiting)
    assert checked  # the first pages were checked
    assert clock.monotonic() <= 3 * 60 + 5  # the bound, on the fetcher's clock
    assert "13 product page(s)" in " ".join(result.notes)


def test_an_unchanged_page_is_a_304_and_keeps_what_it_said(
    tmp_path: Path, server: PageServer, clock: SkippingClock
) -> None:
    settings = make_settings(tmp_path)
    tabs = stock(
        server, [["TT-LIN-01", "Tea towel", 30, 5, 3, 11, True, "/product/linen-tea-towel/"]]
    )
    wb = MemoryWorkbook(tabs)
    with closing(State(tmp_path / "state.db")) as state:
        run(settings, wb, state)
        second = run(settings, wb, state, now=NOW + timedelta(days=1))
        rows = listings_rows(wb)
    assert server.hits["/product/linen-tea-towel/"] == 2
    assert second.counts["listing_unchanged"] == 1
    row = rows["TT-LIN-01"]
    assert row["HTTP status"] == 304
    assert row["Result"] == "PRICE DIFFERS"  # what the page said, remembered
    assert row["Page price"] == 9.5
    assert "unchanged since 2026-11-23" in row["Details"]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/products/x",
        "http://192.168.0.10/products/x",
        "http://localhost:{port}/bowl",
        "http://127.0.0.1:{port}/bowl",
        "http://[::1]:{port}/bowl",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_private_network_urls_are_refused_unless_allowed(
    tmp_path: Path, server: PageServer, clock: SkippingClock, url: str
) -> None:
    settings = make_settings(tmp_path, allow_networks=[])
    tabs = stock(server, [["BOWL-L", "Bowl", 4, 2, 10, 32, True, url.format(port=server.port)]])
    wb = MemoryWorkbook(tabs)
    with closing(State(tmp_path / "state.db")) as state:
        run(settings, wb, state)
    row = listings_rows(wb)["BOWL-L"]
    assert row["Result"] == "NOT CHECKED"
    assert "private or reserved address" in str(row["Details"])
    assert "allow_networks" in str(row["Details"])
    assert server.hits["/bowl"] == 0 and server.hits["/robots.txt"] == 0


def test_a_redirect_to_a_private_address_is_refused_at_that_hop(
    tmp_path: Path, clock: SkippingClock
) -> None:
    pages = {
        "/robots.txt": Page(404),
        "/away": Page(302, headers={"Location": "http://10.0.0.5/admin"}),
    }
    with PageServer(pages) as s:
        settings = make_settings(tmp_path)  # 127.0.0.1 allowed, 10/8 not
        wb = MemoryWorkbook(stock(s, [["A-1", "Mug", 4, 2, 1, 3, True, "/away"]]))
        with closing(State(tmp_path / "state.db")) as state:
            run(settings, wb, state)
    row = listings_rows(wb)["A-1"]
    assert row["Result"] == "NOT CHECKED"
    assert "10.0.0.5" in str(row["Details"]) and "302 http://10.0.0.5/admin" in str(row["Details"])


def test_an_unreadable_stock_tab_fetches_nothing_and_keeps_the_findings(
    tmp_path: Path, server: PageServer, clock: SkippingClock
) -> None:
    settings = make_settings(tmp_path)
    with closing(State(tmp_path / "state.db")) as state:
        wb = MemoryWorkbook(every_case(server))
        run(settings, wb, state)
        before = {f.key for f in current(state)}
        hits = sum(server.hits.values())
        broken = MemoryWorkbook({"Stock": [["Product", "URL"], ["Mug", server.url("/bowl")]]})
        result = run(settings, broken, state)
        after = {f.key for f in current(state)}
    assert sum(server.hits.values()) == hits
    assert before == after and before
    assert any("Listings: not updated" in n for n in result.notes)


def test_https_pages_are_fetched_from_the_checked_address_with_the_name_verified(
    clock: SkippingClock,
) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("shop.test")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    guard = AddressGuard(parse_networks(["127.0.0.1/32"]), resolver)
    pages = {"/robots.txt": Page(404), "/bowl": page("microdata.html")}
    with PageServer(pages, tls=server_tls) as s:
        with Fetcher(FetchPolicy(), guard, clock, verify=client_tls) as fetcher:
            ok = fetcher.fetch(f"https://shop.test:{s.port}/bowl")
        other = AddressGuard(parse_networks(["127.0.0.1/32"]), lambda h, p: ["127.0.0.1"])
        with Fetcher(FetchPolicy(retries=0), other, clock, verify=client_tls) as fetcher:
            wrong_name = fetcher.fetch(f"https://other.test:{s.port}/bowl")
    assert (ok.status, ok.error) == (200, "")
    assert b"Serving Bowl" in ok.body
    assert resolved == ["shop.test", "shop.test"]  # robots.txt and the page, each checked
    # the certificate is checked against the name, not the address connected to
    assert wrong_name.status is None and "CERTIFICATE_VERIFY_FAILED" in wrong_name.message


def test_a_shop_without_urls_gets_no_listings_tab(tmp_path: Path, clock: SkippingClock) -> None:
    wb = MemoryWorkbook({"Stock": [["SKU", "On hand"], ["A-1", 3]]})
    with closing(State(tmp_path / "state.db")) as state:
        result = run(make_settings(tmp_path), wb, state)
    assert "Listings" not in wb.tab_titles()
    assert any("no product page to check" in n for n in result.notes)
