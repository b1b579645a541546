"""``is_plain_address``: a quick yes for the plainest valid addresses, never a yes
for one that ``parse_address`` refuses (the sheet checks trust it to skip the parse)."""

from __future__ import annotations

import random

import pytest

from ops_sheets.domain.addresses import is_plain_address, parse_address
from ops_sheets.domain.validation import _address_error
from ops_sheets.errors import AddressError

ALPHABET = "ab.Z9@-_+%=?'!#{}~ <>\",;\\\t\nxn-é"


def _accepted(text: str) -> bool:
    try:
        parse_address(text)
    except AddressError:
        return False
    return True


@pytest.mark.parametrize(
    "text",
    ["ann@example.com", "O.Smith+orders@mail.example.co.uk", "a@b.io", "x_y@xn--p1ai.example"],
)
def test_common_addresses_are_plain(text: str) -> None:
    assert is_plain_address(text) and _accepted(text)


@pytest.mark.parametrize(
    "text",
    [
        "a..b@x.com",  # double dot
        "a@x",  # no top-level domain
        "a@-x.com",  # label starts with a dash
        "a%0a@x.com",  # an encoded line break
        "=?utf-8?q?x?=@x.com",  # an encoded word
        " a@x.com",  # spaces: the full parse decides
        "Ann <a@x.com>",  # a display name: the full parse decides
        f"{'a' * 65}@x.com",  # local part too long
    ],
)
def test_anything_unusual_goes_to_the_full_parse(text: str) -> None:
    assert not is_plain_address(text)


def test_no_random_text_is_plain_that_the_full_parse_refuses() -> None:
    rng = random.Random(7)
    plain = 0
    for _ in range(30_000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 14)))
        if rng.random() < 0.5:
            text += rng.choice(["@example.com", "@x.co", ".b@c.de", "@a-b.xn--p1ai"])
        if is_plain_address(text):
            plain += 1
            assert _accepted(text), text
    assert plain > 500  # the comparison covered many plain ones


def test_the_sheet_check_says_the_same_with_the_quick_look() -> None:
    for text in ["ann@example.com", "a..b@x.com", "Ann <a@x.com>", "a@x"]:
        parsed_error = None
        try:
            parse_address(text, what="Email")
        except AddressError as err:
            parsed_error = str(err)
        assert _address_error(text, "Email") == parsed_error
