"""Outgoing email: templates, message building, transports and the delivery engine.

Jobs build ``OutgoingEmail`` values; the runner hands them to ``Postman.deliver``
after the sheet writes, which records every key in the ledger
(``ops_sheets.store.ledger``) so that no key is ever sent twice.
"""

from __future__ import annotations

from .message import Attachment, Origin, csv_attachment, parse_address
from .postman import (
    REVIEW_KINDS,
    ActivityEntry,
    DeliveryReport,
    MailProblem,
    Outcome,
    OutgoingEmail,
    Postman,
    Prepared,
    Rejected,
)
from .review import delivery_findings, preview, review, review_message, review_status_lines
from .samples import sample_context, write_preview
from .templates import KINDS, Rendered, TemplateRenderer
from .transports import Transport, make_transport

__all__ = [
    "KINDS",
    "REVIEW_KINDS",
    "ActivityEntry",
    "Attachment",
    "DeliveryReport",
    "MailProblem",
    "Origin",
    "Outcome",
    "OutgoingEmail",
    "Postman",
    "Prepared",
    "Rejected",
    "Rendered",
    "TemplateRenderer",
    "Transport",
    "csv_attachment",
    "delivery_findings",
    "make_transport",
    "parse_address",
    "preview",
    "review",
    "review_message",
    "review_status_lines",
    "sample_context",
    "write_preview",
]
