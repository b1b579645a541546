"""The listings rules (pure: page facts in, row out) and the address guard."""

from __future__ import annotations

import pandas as pd
import pytest

from ops_sheets.domain.listings import (
    ListedSku,
    PageProduct,
    PageVisit,
    check_page,
    listed_skus,
    listing_findings,
)
from ops_sheets.web.guard import AddressGuard, Refused, parse_networks
from tests.conftest import NOW

FULL = {"name": "Mug", "image": "https://x/m.jpg", "description": "A mug", "gtin": "5060123450017"}


def item(**kw: object) -> ListedSku:
    base = {"sku": "MUG-1", "url": "https://shop.example/products/mug", "price": 14.0,
            "unit_cost": 5.0, "available": 10.0, "reorder_point": 3.0}  # fmt: skip
    return ListedSku(**{**base, **kw})  # type: ignore[arg-type]


def visit(**kw: object) -> PageVisit:
    product = PageProduct(
        **{**FULL, "sku": "MUG-1", "price": 14.0, "currency": "GBP", "availability": "InStock"} | kw  # type: ignore[operator]
    )
    return PageVisit("https://shop.example/products/mug", 200, products=(product,))


def result(i: ListedSku, v: PageVisit) -> tuple[str, ...]:
    return check_page(i, v, NOW, "GBP").results


def test_a_page_that_matches_the_sheet_is_ok() -> None:
    row = check_page(item(), visit(), NOW, "GBP")
    assert (row.result, row.details) == ("OK", "page matches the sheet")


def test_prices_equal_after_rounding_to_the_cent_are_not_a_difference() -> None:
    assert result(item(price=14.0), visit(price=14.001)) == ()
    assert result(item(price=14.0), visit(price=14.01)) == ("PRICE DIFFERS",)


def test_a_price_below_unit_cost_comes_before_the_difference() -> None:
    assert result(item(price=14.0, unit_cost=5.0), visit(price=4.5)) == (
        "PRICE BELOW COST",
        "PRICE DIFFERS",
    )


def test_a_price_in_another_currency_is_not_compared() -> None:
    row = check_page(item(), visit(price=20.0, currency="USD"), NOW, "GBP")
    assert row.results == ()
    assert "in USD" in row.details


def test_backorder_and_preorder_are_honest_when_nothing_is_available() -> None:
    for term in ("BackOrder", "PreOrder"):
        assert result(item(available=0.0), visit(availability=term)) == ()
    assert result(item(available=0.0), visit(availability="InStock")) == (
        "IN STOCK BUT NONE AVAILABLE",
    )


def test_out_of_stock_is_a_problem_only_above_the_reorder_point() -> None:
    assert result(item(available=3.0, reorder_point=3.0), visit(availability="OutOfStock")) == ()
    assert result(item(available=4.0, reorder_point=3.0), visit(availability="SoldOut")) == (
        "OUT OF STOCK BUT AVAILABLE",
    )
    assert result(item(available=1.0, reorder_point=None), visit(availability="OutOfStock")) == (
        "OUT OF STOCK BUT AVAILABLE",
    )


def test_missing_details_are_named() -> None:
    row = check_page(item(), visit(gtin="", image=""), NOW, "GBP")
    assert row.results == ("MISSING DETAILS",)
    assert "no image, GTIN" in row.details


def test_the_offer_for_the_sheets_sku_is_the_one_compared() -> None:
    sage = PageProduct(**FULL, sku="MUG-SAGE", price=14.0, currency="GBP", availability="InStock")
    sand = PageProduct(
        **FULL, sku="MUG-SAND", price=16.0, currency="GBP", availability="OutOfStock"
    )
    v = PageVisit("https://shop.example/products/mug", 200, products=(sage, sand))
    row = check_page(item(sku="MUG-SAND", price=16.0, available=0.0), v, NOW, "GBP")
    assert (row.result, row.page_price, row.page_availability) == ("OK", 16.0, "OutOfStock")


def test_redirect_to_the_home_page_is_reported_with_the_hops() -> None:
    v = PageVisit(
        "https://shop.example/products/old",
        200,
        final_url="https://shop.example/",
        redirects=((301, "https://shop.example/"),),
    )
    row = check_page(item(), v, NOW, "GBP")
    assert row.results[0] == "REDIRECTED TO HOME PAGE"
    assert "redirected: 301 https://shop.example/" in row.details


def test_findings_carry_the_worst_problem_and_skip_pages_not_reached() -> None:
    gone = check_page(item(sku="A"), PageVisit("https://s.example/a", 410), NOW, "GBP")
    late = check_page(
        item(sku="B"),
        PageVisit("https://s.example/b", error="out_of_time", message="not fetched: the run's "
                  "time limit was reached"),
        NOW,
        "GBP",
    )  # fmt: skip
    [f] = listing_findings([gone, late])
    assert (f.key, f.severity) == ("listing-page-gone:A", "critical")


def test_only_active_skus_with_a_url_are_listed_and_available_falls_back_to_on_hand() -> None:
    stock = pd.DataFrame(
        {
            "sku": ["A", "B", "C", "D"],
            "url": ["https://s.example/a", None, "https://s.example/c", "https://s.example/d"],
            "active": [True, True, False, True],
            "on_hand": [5.0, 1.0, 1.0, 7.0],
            "available": [2.0, None, None, float("nan")],
            "_row": [2, 3, 4, 5],
        }
    )
    listed = listed_skus(stock)
    assert [(i.sku, i.available, i.row) for i in listed] == [("A", 2.0, 2), ("D", 7.0, 5)]


# ---------------------------------------------------------------- the guard


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


def test_a_name_resolving_to_any_private_address_is_refused() -> None:
    guard = AddressGuard((), resolver("93.184.215.14", "10.0.0.7"))
    with pytest.raises(Refused, match="10.0.0.7"):
        guard.check("https://shop.example/products/mug")


def test_the_connection_goes_to_the_address_checked() -> None:
    guard = AddressGuard((), resolver("93.184.215.14"))
    target = guard.check("https://shop.example/products/mug?variant=2")
    assert target.connect_url() == "https://93.184.215.14:443/products/mug?variant=2"
    assert (target.host_header, target.host) == ("shop.example", "shop.example")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "::1", "fc00::1", "fe80::1", "::ffff:192.168.1.1", "224.0.0.1"],
)  # fmt: skip
def test_private_and_reserved_addresses_are_refused_by_default(address: str) -> None:
    with pytest.raises(Refused, match="allow_networks"):
        AddressGuard((), resolver(address)).check("http://staging.shop.example/p")


def test_an_allowed_network_is_fetched() -> None:
    guard = AddressGuard(parse_networks(["10.20.0.0/16"]), resolver("10.20.3.4"))
    assert guard.check("http://staging.shop.example/p").ip == "10.20.3.4"
    with pytest.raises(Refused):
        AddressGuard(parse_networks(["10.20.0.0/16"]), resolver("10.21.0.1")).check(
            "http://staging.shop.example/p"
        )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("https://user:pw@shop.example/p", "user name or password"),
        ("http:///nohost", "no host"),
    ],
)
def test_urls_that_are_not_plain_web_pages_are_refused(url: str, why: str) -> None:
    with pytest.raises(Refused, match=why):
        AddressGuard((), resolver("93.184.215.14")).check(url)
