"""Address parsing, header safety, MIME assembly and the CSV attachment."""

from __future__ import annotations

import csv
import io
from email import message_from_bytes, policy

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mailfixtures import NOW

from ops_sheets.errors import AddressError
from ops_sheets.mail.message import (
    Attachment,
    MessageParts,
    build_message,
    content_hash,
    csv_attachment,
    header_problem,
    message_bytes,
    message_id_for,
    parse_address,
)
from ops_sheets.mail.samples import bar_chart_png

SENDER = parse_address("Ops <ops@shop.example.com>")
TO = parse_address("orders@acme.example.com")
PARTS = MessageParts(subject="Purchase order PO-1", text="Hello\n", html="<p>Hello</p>")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("orders@acme.example.com", ("", "orders@acme.example.com")),
        ("  orders@acme.example.com  ", ("", "orders@acme.example.com")),
        ("Acme Sales <sales@acme.example.com>", ("Acme Sales", "sales@acme.example.com")),
        ('"Smith, Jo" <jo@acme.example.com>', ("Smith, Jo", "jo@acme.example.com")),
        ("José García <jose@acme.example.com>", ("José García", "jose@acme.example.com")),
        ("first.last+po@Sub.Example.CO.UK", ("", "first.last+po@sub.example.co.uk")),
        ("info@exämple.com", ("", "info@xn--exmple-cua.com")),
    ],
)
def test_one_valid_address_per_cell_is_accepted(cell: str, expected: tuple[str, str]) -> None:
    address = parse_address(cell)
    assert (address.display_name, address.addr_spec) == expected


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("a@x.com, b@y.com", "more than one address"),
        ("a@x.com; b@y.com", "more than one address"),
        ("a@x.com b@y.com", "more than one address"),
        ("a@x.com\nBcc: evil@attacker.example", "line break"),
        ("a@x.com\r\n", "line break"),
        ("Jo\u2028 <a@x.com>", "line break"),
        ("=?utf-8?q?Jo=0ABcc=3A_e=40x.com?= <a@x.com>", "encoded line break"),
        ("a@x.com%0aBcc:e", "encoded line break"),
        ("a@x.com\x00", "control character"),
        ("", "empty"),
        ("   ", "empty"),
        ("a@x", "invalid domain"),
        ("a@-x.com", "invalid domain"),
        ("a..b@x.com", "invalid part before the @"),
        ("a b@x.com", "invalid part before the @"),
        ("<a@x.com", "not a valid email address"),
        ("Jo <a@x.com> extra", "not a valid email address"),
        ("Smith, Jo <a@x.com>", "more than one address"),
        ("Jo (sales) <a@x.com>", "special characters"),
        ("mailto:a@x.com", "invalid part before the @"),
    ],
)
def test_invalid_or_multiple_addresses_are_rejected_with_a_reason(cell: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason):
        parse_address(cell)


@given(st.text(max_size=60))
def test_any_text_either_parses_to_one_safe_address_or_raises_address_error(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError:
        return
    rendered = str(address)
    assert "\r" not in rendered and "\n" not in rendered
    assert address.addr_spec.count("@") == 1
    assert address.addr_spec.isascii()


@pytest.mark.parametrize(
    "value",
    [
        "Order 1\nBcc: x@y.com",
        "Order 1\r",
        "=?utf-8?b?T3JkZXIKQmNjOiB4QHkuY29t?=",  # "Order\nBcc: x@y.com" in base64
        "Order%0D%0ABcc",
        "Tab\there",
    ],
)
def test_header_values_with_raw_or_encoded_line_breaks_are_unsafe(value: str) -> None:
    assert header_problem(value) is not None


def test_plain_header_values_are_safe() -> None:
    assert header_problem("Purchase order PO-20261123-ACME – £434.10 ✓") is None


def test_message_is_multipart_text_and_html_with_stable_ids() -> None:
    msg = build_message(sender=SENDER, to=TO, parts=PARTS, key="po:PO-1", date=NOW)
    again = build_message(sender=SENDER, to=TO, parts=PARTS, key="po:PO-1", date=NOW)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"] == again["Message-ID"] == message_id_for("po:PO-1", "shop.example.com")
    assert msg["Message-ID"].endswith("@shop.example.com>")
    assert msg["X-Ops-Key"] == "po:PO-1"
    assert msg["Auto-Submitted"] == "auto-generated"
    parsed = message_from_bytes(message_bytes(msg), policy=policy.default)
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Hello\n"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hello</p>"


def test_message_ids_differ_for_keys_that_look_alike() -> None:
    assert message_id_for("po:a", "x.com") != message_id_for("po-a", "x.com")


def test_attachments_and_inline_images_are_carried() -> None:
    png = bar_chart_png([1, 2, 3], width=30, height=10)
    parts = MessageParts(
        subject="Weekly",
        text="See HTML\n",
        html='<img src="cid:chart-1">',
        attachments=(Attachment("po.csv", b"a,b\r\n"),),
        inline_images=(("chart-1", png),),
    )
    msg = build_message(sender=SENDER, to=TO, parts=parts, key="weekly:2026-W47", date=NOW)
    parsed = message_from_bytes(message_bytes(msg), policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    types = [p.get_content_type() for p in parsed.walk()]
    assert "multipart/related" in types and "image/png" in types and "text/csv" in types
    image = next(p for p in parsed.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<chart-1>"
    assert image.get_content() == png
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "po.csv"


def test_a_subject_with_a_line_break_is_refused_before_anything_is_built() -> None:
    parts = MessageParts(subject="Order 1\nBcc: evil@x.com", text="x", html="x")
    with pytest.raises(AddressError, match="Subject contains a line break"):
        build_message(sender=SENDER, to=TO, parts=parts, key="k", date=NOW)


def test_csv_attachment_neutralises_formula_cells_but_not_numbers() -> None:
    rows = [
        ["SKU", "Product", "Qty", "Note"],
        ['=HYPERLINK("http://x")', "+SUM(A1)", -5, "-rebate"],
        ["@cmd", "\tTab", 3.5, "\rCR"],
        ["plain", "a=b", None, ""],
    ]
    att = csv_attachment("PO-1.csv", rows)
    assert att.mime == "text/csv" and att.filename == "PO-1.csv"
    assert att.data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    parsed = list(csv.reader(io.StringIO(att.data.decode("utf-8-sig"), newline="")))
    assert parsed[1] == ['\'=HYPERLINK("http://x")', "'+SUM(A1)", "-5", "'-rebate"]
    assert parsed[2] == ["'@cmd", "'\tTab", "3.5", "'\rCR"]
    assert parsed[3] == ["plain", "a=b", "", ""]


def test_content_hash_ignores_the_date_but_not_the_recipient_or_body() -> None:
    base = content_hash("purchase_order", ["a@x.com"], PARTS)
    assert base == content_hash("purchase_order", ["A@x.com"], PARTS)
    assert base != content_hash("purchase_order", ["b@x.com"], PARTS)
    changed = MessageParts(subject=PARTS.subject, text="Hello!\n", html=PARTS.html)
    assert base != content_hash("purchase_order", ["a@x.com"], changed)


def test_csv_cells_hiding_a_formula_after_a_semicolon_are_neutralised_and_quoted() -> None:
    from ops_sheets.mail.message import csv_attachment

    att = csv_attachment("m.csv", [["Jo Smith;=cmd|' /C calc'!A0;", "12", 3]])
    text = att.data.decode("utf-8-sig")
    assert text == '"\'Jo Smith;=cmd|\' /C calc\'!A0;","12","3"\r\n'
