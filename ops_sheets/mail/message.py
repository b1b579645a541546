"""Addresses, header safety and MIME assembly of one outgoing email.

Everything here is pure: no I/O, no clock. The rules are deliberately strict
because addresses come from spreadsheet cells that anyone on the team can edit:

* a cell holds exactly one address (``a@x.com, b@y.com`` is an error, not two
  recipients: a purchase order copied to a stranger is worse than one not sent);
* no line breaks, control characters or *encoded* line breaks (RFC 2047
  encoded words, ``%0A``) anywhere in a header value, so a cell can never add a
  ``Bcc:`` header;
* the address itself is an ASCII dot-atom ``local@domain`` with a real domain;
  an internationalised domain is converted to its ``xn--`` form.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from ops_sheets.domain.addresses import check_header as check_header
from ops_sheets.domain.addresses import format_address as format_address
from ops_sheets.domain.addresses import header_problem as header_problem
from ops_sheets.domain.addresses import parse_address as parse_address

PARSE_POLICY = policy.default
#: Serialisation of every stored, sent and written message: CRLF line ends, lines
#: folded at 78 characters, which SMTP servers and .eml readers all accept.
WIRE_POLICY = policy.SMTP


@dataclass(frozen=True)
class Origin:
    """Where an address or value came from, so a problem can point at the cell."""

    tab: str
    row: int | None
    column: str
    key: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    mime: str = "text/csv"


@dataclass(frozen=True)
class MessageParts:
    """The rendered content of a message, independent of headers and dates."""

    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()
    inline_images: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- identifiers


def message_id_for(key: str, sender_domain: str) -> str:
    """A stable Message-ID: the same key always yields the same id.

    A readable slug of the key helps when searching a mailbox; the hash keeps two
    keys that slug alike (``po:a`` and ``po-a``) distinct.
    """
    return f"<{message_id_local(key)}@{sender_domain}>"


#: The longest part before the ``@`` of a Message-ID made now. With a sender
#: domain of up to 27 characters, ``Message-ID: <local@domain>`` then fits in 78
#: characters and is never folded onto a second line when sent (folding it is
#: legal, but some mail systems mangle a folded Message-ID).
LOCAL_MAX = 36


def message_id_local(key: str) -> str:
    """The part of a key's Message-ID before the ``@``: it depends on the key alone,
    so a Message-ID seen in the Activity log names its key whatever the sender.

    A key whose original id part fits in :data:`LOCAL_MAX` keeps it (``po:PO-1`` →
    ``po.PO-1.<hash>``), byte for byte as before. A longer key
    (``delayed:<order>:backorder:<date>``) gets its slug cut shorter; the hash of
    the whole key keeps it unique. Mail sent before this rule carries the original
    form: :func:`message_id_locals` lists both, for lookups.
    """
    original = _original_local(key)
    if len(original) <= LOCAL_MAX:
        return original
    digest = _digest(key)
    slug = _slug(key)[: LOCAL_MAX - len(digest) - 1].rstrip("._-") or "msg"
    return f"{slug}.{digest}"


def message_id_locals(key: str) -> tuple[str, ...]:
    """Every id part mail for ``key`` may carry: the current one first, then, for a
    long key, the one it had before :data:`LOCAL_MAX` (mail sent before then)."""
    return tuple(dict.fromkeys((message_id_local(key), _original_local(key))))


def _original_local(key: str) -> str:
    """The id part of every key until long ones were shortened (up to 77 characters)."""
    return f"{_slug(key)[:60] or 'msg'}.{_digest(key)}"


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", ".", key).strip(".")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def content_hash(kind: str, recipients: Sequence[str], parts: MessageParts) -> str:
    """Hash of everything that makes a message different for its reader.

    The Date header is left out on purpose: a re-run on a later minute must not
    look like a changed message.
    """
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)

    add("kind", kind.encode())
    for rcpt in recipients:
        add("to", rcpt.lower().encode())
    add("subject", parts.subject.encode())
    add("text", parts.text.encode())
    add("html", parts.html.encode())
    for att in parts.attachments:
        add("attachment", att.filename.encode() + b"\0" + att.mime.encode() + b"\0" + att.data)
    for cid, data in parts.inline_images:
        add("image", cid.encode() + b"\0" + data)
    return h.hexdigest()


# ---------------------------------------------------------------- CSV


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A ';' (the list separator of Excel in much of Europe) or a tab followed by a
# formula start would open a new cell inside this one for such a reader.
_HIDDEN_FORMULA = re.compile(r"[;\t][\s]*[=+\-@]")


def neutralise_cell(value: Any) -> Any:
    """Stop a spreadsheet from executing a text cell as a formula.

    Only text is touched: a real number (including a negative one) stays a number.
    """
    if isinstance(value, str) and (
        value.startswith(_FORMULA_START) or _HIDDEN_FORMULA.search(value)
    ):
        return "'" + value
    return value


def csv_attachment(filename: str, rows: Iterable[Sequence[Any]]) -> Attachment:
    """A CSV attachment (UTF-8 with BOM so Excel reads accents; CRLF rows).

    Text cells that start with = + - @ tab or CR are prefixed with ``'`` so that
    ``=HYPERLINK(...)`` in a product name stays literal text when opened.
    """
    check_header("attachment filename", filename)
    buf = io.StringIO(newline="")
    # every field quoted: a reader splitting on ';' or tabs still sees one cell
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow(["" if v is None else neutralise_cell(v) for v in row])
    return Attachment(filename=filename, data=buf.getvalue().encode("utf-8-sig"), mime="text/csv")


# ---------------------------------------------------------------- assembly


def build_message(
    *,
    sender: Address,
    to: Address,
    parts: MessageParts,
    key: str,
    date: datetime | None,
    reply_to: Address | None = None,
) -> EmailMessage:
    """Assemble multipart/alternative (text + HTML) with optional related images
    and attachments. Header values are checked here, the last gate before sending.
    """
    if date is not None and date.tzinfo is None:
        raise ValueError("build_message needs an aware date")
    subject = check_header("Subject", parts.subject)
    check_header("X-Ops-Key", key)
    msg = EmailMessage(policy=PARSE_POLICY)
    msg["From"] = sender
    msg["To"] = to
    if reply_to is not None:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    if date is not None:  # None for dry runs, which have no sending moment
        msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id_for(key, sender.domain)
    msg["X-Ops-Key"] = key
    # RFC 3834: stops out-of-office replies from looping back to the robot.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(parts.text, subtype="plain")
    msg.add_alternative(parts.html, subtype="html")
    if parts.inline_images:
        html_part = msg.get_payload()[1]
        for cid, data in parts.inline_images:
            check_header("image content id", cid)
            html_part.add_related(data, "image", "png", cid=f"<{cid}>", disposition="inline")
    for att in parts.attachments:
        check_header("attachment filename", att.filename)
        maintype, _, subtype = att.mime.partition("/")
        msg.add_attachment(
            att.data, maintype=maintype, subtype=subtype or "octet-stream", filename=att.filename
        )
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=WIRE_POLICY)


def parse_message(data: bytes) -> EmailMessage:
    from email import message_from_bytes

    parsed = message_from_bytes(data, policy=PARSE_POLICY)
    assert isinstance(parsed, EmailMessage)
    return parsed
