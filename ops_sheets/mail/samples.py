"""Sample context for every message kind: used by ``ops-sheets preview`` and tests.

The samples are the executable form of the context contract in
``templates/README.md``: every variable a bundled template uses appears here,
with the type a job must pass. The values are deliberately awkward (an
``&`` in a name, a multi-line address, an additional pickup) so a preview shows
how templates cope.
"""

from __future__ import annotations

import html
import struct
import zlib
from base64 import b64encode
from datetime import date, datetime
from email.headerregistry import Address
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ops_sheets.config import Settings
from ops_sheets.errors import TemplateError

from .message import MessageParts, build_message, message_bytes, parse_address
from .templates import KINDS, TemplateRenderer

_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/London"))
_SHOP = "Harbour & Pine Homeware"


def _po_lines() -> list[dict[str, Any]]:
    lines = [
        ("HP-MUG-01", "Stoneware mug, sea green", 48, 3.20),
        ("HP-BWL-02", "Serving bowl 28 cm", 12, 11.50),
        ("HP-TWL-07", 'Linen tea towel "Harbour" (pack of 2)', 30, 4.75),
    ]
    return [
        {"sku": sku, "product": product, "qty": qty, "unit_cost": cost, "line_value": qty * cost}
        for sku, product, qty, cost in lines
    ]


def sample_context(kind: str) -> dict[str, Any]:
    """A complete context for ``kind`` (a fresh dict each call)."""
    lines = _po_lines()
    total = round(sum(line["line_value"] for line in lines), 2)
    supplier = {"name": "Acme Ceramics Ltd", "contact": "Jo Baker"}
    contexts: dict[str, dict[str, Any]] = {
        "purchase_order": {
            "shop_name": _SHOP,
            "po_number": "PO-20261123-ACME",
            "order_date": date(2026, 11, 23),
            "supplier": supplier,
            "lines": lines,
            "total": total,
            "currency": "GBP",
            "expected_by": date(2026, 12, 7),
            "delivery_address": "Harbour & Pine Homeware\nUnit 4, Quay Street\nBristol BS1 4DJ",
            "notes": "Please pack mugs in dividers; last delivery had two breakages.",
            "attachment_name": "PO-20261123-ACME.csv",
        },
        "po_reminder": {
            "shop_name": _SHOP,
            "po_number": "PO-20261102-ACME",
            "order_date": date(2026, 11, 2),
            "expected_by": date(2026, 11, 16),
            "days_overdue": 7,
            "reminder_number": 2,
            "supplier": supplier,
            "lines": lines[:2],
            "total": round(sum(line["line_value"] for line in lines[:2]), 2),
            "currency": "GBP",
        },
        "pickup_request": {
            "shop_name": _SHOP,
            "forwarder": {"name": "SwiftFreight", "contact": "Collections team"},
            "account": "SF-20931",
            "pickup_date": date(2026, 11, 23),
            "cutoff": "15:00",
            "collection_address": "Harbour & Pine Homeware\nUnit 4, Quay Street\nBristol BS1 4DJ",
            "parcels": [
                {
                    "order_id": "1042",
                    "city": "Leeds",
                    "postcode": "LS1 4AP",
                    "country": "GB",
                    "lines": 2,
                    "units": 3,
                },
                {
                    "order_id": "1043",
                    "city": "Cardiff",
                    "postcode": "CF10 1EP",
                    "country": "GB",
                    "lines": 1,
                    "units": 1,
                },
                {
                    "order_id": "1047",
                    "city": "Lyon",
                    "postcode": "69002",
                    "country": "FR",
                    "lines": 3,
                    "units": 6,
                },
            ],
            "total_parcels": 3,
            "total_units": 10,
            "additional": False,
        },
        "return_acknowledgement": {
            "shop_name": _SHOP,
            "customer_name": "Sam O'Neill",
            "rma": "RMA-2026-0042",
            "order_id": "1031",
            "items": [
                {
                    "sku": "HP-MUG-01",
                    "product": "Stoneware mug, sea green",
                    "qty": 2,
                    "reason": "Arrived chipped",
                },
            ],
            "return_by": date(2026, 12, 7),
            "next_steps": (
                "Pack the items securely, write the RMA number on the parcel and send it to us."
            ),
            "return_address": (
                "Returns, Harbour & Pine Homeware\nUnit 4, Quay Street\nBristol BS1 4DJ"
            ),
        },
        "manager_alert": {
            "shop_name": _SHOP,
            "generated_at": _NOW,
            "findings": [
                {
                    "severity": "high",
                    "title": "Purchase order PO-20261120-ACME: delivery unknown",
                    "detail": "The mail server connection broke after the message was handed "
                    "over; it may or may not have arrived.",
                    "action": "Ask Acme whether it arrived, then run "
                    "`ops-sheets review po:PO-20261120-ACME --sent` or `--resend`.",
                    "resolved": False,
                },
                {
                    "severity": "medium",
                    "title": "7 order lines are late",
                    "detail": "Oldest: order 1019, due Thu 19 Nov.",
                    "action": "Ship them or set Status to ON HOLD with a note.",
                    "resolved": False,
                    "note": "worse: 5 yesterday",
                },
                {
                    "severity": "low",
                    "title": "Return rate of HP-BWL-02 is 14 % (90 days)",
                    "detail": "6 of 43 units returned; 4 say 'arrived chipped'.",
                    "action": "Check the packaging with the supplier.",
                    "resolved": False,
                },
                {
                    "severity": "medium",
                    "title": "No orders for 5 hours",
                    "detail": "Orders resumed at 14:10.",
                    "action": "",
                    "resolved": True,
                },
            ],
            "counts": {"high": 1, "medium": 1, "low": 1, "resolved": 1},
            "still_open": 2,
        },
        "weekly_summary": {
            "shop_name": _SHOP,
            "week": "2026-W47",
            "date_from": date(2026, 11, 16),
            "date_to": date(2026, 11, 22),
            "currency": "GBP",
            "metrics": [
                _metric("Revenue", "£12,480.00", "£11,020.50", "+13.2%", "up", True),
                _metric("Orders", "312", "298", "+4.7%", "up", True),
                _metric("Average order value", "£40.00", "£36.98", "+8.2%", "up", True),
                _metric("Shipped on time", "94.1%", "97.3%", "-3.2 pts", "down", False),
                _metric("Return rate 30d", "4.2%", "4.2%", "0.0 pts", "flat", None),
                _metric("SKUs out of stock", "3", "1", "+2", "up", False),
            ],
            "top_skus": [
                {
                    "sku": "HP-MUG-01",
                    "product": "Stoneware mug, sea green",
                    "units": 182,
                    "revenue": 2184.0,
                },
                {
                    "sku": "HP-TWL-07",
                    "product": "Linen tea towel (pack of 2)",
                    "units": 95,
                    "revenue": 1520.0,
                },
                {
                    "sku": "HP-BWL-02",
                    "product": "Serving bowl 28 cm",
                    "units": 41,
                    "revenue": 1189.0,
                },
            ],
            "watch_list": [
                {
                    "sku": "HP-BWL-02",
                    "product": "Serving bowl 28 cm",
                    "reason": "return rate 14 % over 90 days",
                },
                {
                    "sku": "HP-VAS-03",
                    "product": "Bud vase, white",
                    "reason": "240 days of cover: excess stock",
                },
            ],
            "late_total": 2,
            "late_orders": [
                {
                    "order_id": "1019",
                    "sku": "HP-MUG-01",
                    "ship_by": date(2026, 11, 19),
                    "days_late": 2,
                },
                {
                    "order_id": "1024",
                    "sku": "HP-TWL-07",
                    "ship_by": date(2026, 11, 20),
                    "days_late": 1,
                },
            ],
            "return_reasons": [
                {"reason": "arrived chipped", "units": 4, "share": "57%"},
                {"reason": "changed mind", "units": 3, "share": "43%"},
            ],
            "health": {
                "runs": 212,
                "failed": 1,
                "emails_sent": 38,
                "reviews_pending": 0,
                "jobs": [
                    {"job": "stock", "runs": 7, "problems": 7, "failed": 0},
                    {"job": "orders", "runs": 140, "problems": 140, "failed": 1},
                ],
            },
            "charts": [
                {
                    "cid": "revenue-chart",
                    "title": "Revenue per day",
                    "alt": "Bar chart of revenue per day, Monday to Sunday",
                },
                {
                    "cid": "orders-chart",
                    "title": "Orders per day",
                    "alt": "Bar chart of orders per day, Monday to Sunday",
                },
            ],
        },
    }
    contexts["content_reminder"] = {  # issue 19
        "shop_name": _SHOP,
        "title": 'Gift guide: "Under £20" & stocking fillers',
        "channel": "Instagram",
        "date": date(2026, 11, 25),
        "days_left": 2,
        "status": "DRAFT",
        "link": "https://docs.example/gift-guide",
        "owner": "sam@harbourandpine.example",
        "remind_days_before": 2,
    }
    contexts.update(_customer_samples())
    if kind not in contexts:
        raise KeyError(f"no sample for kind {kind!r}; kinds: {', '.join(KINDS)}")
    return contexts[kind]


def _customer_samples() -> dict[str, dict[str, Any]]:
    """Issue 18's kinds: customer mail about orders and complaints."""
    customer = {"shop_name": _SHOP, "customer_name": "Zoë O'Brien & family", "order_id": "1042"}
    mug = {"sku": "HP-MUG-01", "product": "Stoneware mug, sea green", "qty": "2"}
    towel = {"sku": "HP-TWL-07", "product": 'Linen tea towel "Harbour" (pack of 2)', "qty": "1"}
    return {
        "shipping_confirmation": {
            **customer,
            "courier": "Parcel & Co",
            "tracking": "JD014600003828",
            "tracking_url": "https://track.parcel.example/?n=JD014600003828",
            "shipped_at": _NOW,
            "items": [mug],
            "to_follow": [towel],
        },
        "order_delayed": {
            **customer,
            "cause": "backorder",
            "new_date": date(2026, 12, 2),
            "previous_date": date(2026, 11, 26),
            "again": True,
            "items": [towel],
        },
        "review_request": {
            **customer,
            "delivered_at": _NOW,
            "review_url": "https://shop.example/reviews/1042",
            "items": [mug, towel],
        },
        "complaint_acknowledgement": {
            **customer,
            "complaint_id": "CMP-2026-0007",
            "sku": "HP-MUG-01",
            "category": "Damaged",
            "description": 'One mug arrived chipped & the box was "soaked".\nPlease advise.',
            "received_at": _NOW,
            "respond_by": datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/London")),
            "resolve_by": date(2026, 11, 30),
        },
    }


def _metric(
    name: str, value: str, previous: str, change: str, direction: str, good: bool | None
) -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "previous": previous,
        "change": change,
        "direction": direction,
        "good": good,
    }


def sample_inline_images(kind: str) -> list[tuple[str, bytes]]:
    """PNG charts for the kinds whose sample references ``cid:`` images."""
    if kind != "weekly_summary":
        return []
    return [
        ("revenue-chart", bar_chart_png([1520, 1730, 1610, 1980, 2250, 1890, 1500])),
        ("orders-chart", bar_chart_png([38, 44, 41, 49, 55, 47, 38], colour=(0x04, 0x78, 0x57))),
    ]


def bar_chart_png(
    values: list[float],
    *,
    width: int = 584,
    height: int = 180,
    colour: tuple[int, int, int] = (0x1F, 0x4E, 0x79),
) -> bytes:
    """A minimal bar chart PNG, drawn pixel by pixel (no plotting library needed)."""
    top = max(values) or 1
    n = len(values)
    slot = width // max(n, 1)
    rows: list[bytes] = []
    for y in range(height):
        row = bytearray(b"\x00")  # PNG filter type 0 for this scanline
        for x in range(width):
            index = min(x // slot, n - 1)
            bar_height = int(values[index] / top * (height - 10))
            inside = slot * 0.15 < x % slot < slot * 0.85
            if y == height - 1:
                pixel = (0x9C, 0xA3, 0xAF)
            elif inside and y >= height - 1 - bar_height:
                pixel = colour
            else:
                pixel = (0xFF, 0xFF, 0xFF)
            row += bytes(pixel)
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def write_preview(settings: Settings, kind: str, out_dir: Path | None = None) -> Path:
    """Render ``kind`` with sample data; write ``<kind>.html`` (and ``<kind>.eml``).

    The HTML file opens in any browser: the subject, the HTML body (with ``cid:``
    images swapped for inline data so charts show) and the plain-text part. The
    .eml next to it is the real message as it would be sent. Returns the .html path.
    """
    if kind not in KINDS:
        raise TemplateError(f"no sample data for kind {kind!r}; kinds: {', '.join(KINDS)}")
    renderer = TemplateRenderer(settings)
    rendered = renderer.render(kind, sample_context(kind))
    images = sample_inline_images(kind)
    target = out_dir or settings.resolve(settings.mail.outbox_dir) / "preview"
    target.mkdir(parents=True, exist_ok=True)

    body = rendered.html
    for cid, data in images:
        body = body.replace(f"cid:{cid}", "data:image/png;base64," + b64encode(data).decode())
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Preview: {html.escape(kind)}</title></head>"
        '<body style="margin:0;font-family:Arial,Helvetica,sans-serif;background:#e5e7eb;">'
        '<div style="padding:12px 20px;background:#111827;color:#f9fafb;font-size:14px;">'
        f'<div style="color:#9ca3af;">Preview of <b>{html.escape(kind)}</b> with sample data'
        f" &middot; templates: {html.escape(str(renderer.user_dir))} then bundled</div>"
        f'<div style="font-size:16px;margin-top:4px;">Subject: {html.escape(rendered.subject)}'
        "</div></div>"
        f'<iframe title="HTML part" style="width:100%;height:70vh;border:0;background:#fff;"'
        f' srcdoc="{html.escape(body, quote=True)}"></iframe>'
        '<h3 style="margin:16px 20px 4px 20px;">Plain-text part</h3>'
        '<pre style="margin:0 20px 20px 20px;padding:12px;background:#fff;white-space:pre-wrap;'
        f'font-size:13px;">{html.escape(rendered.text)}</pre></body></html>\n'
    )
    html_path = target / f"{kind}.html"
    html_path.write_text(page, encoding="utf-8")

    sender = parse_address(settings.mail.sender, what="[mail] sender")
    to = _preview_recipient(settings)
    msg = build_message(
        sender=sender,
        to=to,
        parts=MessageParts(
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            inline_images=tuple(images),
        ),
        key=f"preview:{kind}",
        date=_NOW,
    )
    (target / f"{kind}.eml").write_bytes(message_bytes(msg))
    return html_path


def _preview_recipient(settings: Settings) -> Address:
    try:
        return parse_address(settings.mail.manager, what="[mail] manager")
    except Exception:  # a preview must not fail on an unrelated setting
        return Address(username="preview", domain="example.com")
