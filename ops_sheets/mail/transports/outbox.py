"""The embedded default transport: write each message to a folder.

One ``<key>.eml`` per message (the key made filename-safe) and an
``index.html`` listing them, newest first, that opens in a browser. The real
key is read back from each file's ``X-Ops-Key`` header, so the files themselves
are the key-to-filename mapping and the index can always be rebuilt.

Each file is written to a temporary name, flushed to disk and renamed, so a
crash never leaves a half-written ``.eml``.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path

from ops_sheets.mail.message import message_bytes

from .base import HandoverCallback, TemporaryDeliveryError, Transport

INDEX_NAME = "index.html"
_HEADER_LIMIT = 64 * 1024


def safe_filename(key: str) -> str:
    """``po:PO-20261123-ACME`` → ``po_PO-20261123-ACME`` (letters, digits, . _ - only)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "message"
    if len(name) > 120:
        name = name[:100] + "-" + hashlib.sha256(key.encode()).hexdigest()[:12]
    return name


@dataclass(frozen=True)
class OutboxEntry:
    filename: str
    key: str
    subject: str
    to: str
    date: str
    mtime_ns: int


class OutboxTransport(Transport):
    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._dirty = False

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """The file for ``key``; a different key that slugs the same gets a hash suffix."""
        base = safe_filename(key)
        path = self.directory / f"{base}.eml"
        if path.exists() and _read_headers(path).get("X-Ops-Key", key) != key:
            digest = hashlib.sha256(key.encode()).hexdigest()[:10]
            path = self.directory / f"{base}-{digest}.eml"
        return path

    def send(self, msg: EmailMessage, on_handover: HandoverCallback | None = None) -> None:
        key = str(msg.get("X-Ops-Key") or msg["Message-ID"])
        data = message_bytes(msg)
        try:
            self.open()
            target = self.path_for(key)
        except OSError as exc:
            raise TemporaryDeliveryError(
                f"cannot use outbox folder {self.directory}: {exc}"
            ) from None
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        if on_handover is not None:
            on_handover()
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            # The rename is atomic: on failure the file is simply not there.
            raise TemporaryDeliveryError(f"cannot write {target}: {exc}") from None
        self._dirty = True

    def close(self) -> None:
        if self._dirty:
            self.write_index()
            self._dirty = False

    # ------------------------------------------------------------ index

    def entries(self) -> list[OutboxEntry]:
        found: list[OutboxEntry] = []
        if not self.directory.is_dir():
            return found
        for path in self.directory.glob("*.eml"):
            try:
                stat = path.stat()
                headers = _read_headers(path)
            except OSError:
                continue
            found.append(
                OutboxEntry(
                    filename=path.name,
                    key=headers.get("X-Ops-Key", path.stem),
                    subject=headers.get("Subject", ""),
                    to=headers.get("To", ""),
                    date=headers.get("Date", ""),
                    mtime_ns=stat.st_mtime_ns,
                )
            )
        found.sort(key=lambda e: (e.mtime_ns, e.filename), reverse=True)
        return found

    def write_index(self) -> Path:
        """Rebuild ``index.html`` from the files (newest first); atomic replace."""
        entries = self.entries()
        rows = "\n".join(
            "<tr>"
            f'<td style="{_TD}white-space:nowrap;">{html.escape(_short_date(e.date))}</td>'
            f'<td style="{_TD}"><a href="{html.escape(e.filename, quote=True)}">'
            f"{html.escape(e.subject or '(no subject)')}</a></td>"
            f'<td style="{_TD}">{html.escape(e.to)}</td>'
            f'<td style="{_TD}font-family:monospace;font-size:12px;">{html.escape(e.key)}</td>'
            "</tr>"
            for e in entries
        )
        page = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>Outbox</title></head>"
            '<body style="margin:20px;font-family:Arial,Helvetica,sans-serif;color:#111827;">'
            f'<h1 style="font-size:20px;">Outbox: {len(entries)} message'
            f"{'s' if len(entries) != 1 else ''}</h1>"
            '<p style="color:#6b7280;font-size:13px;">Newest first. Each link is an .eml '
            "file: open it with your mail program to see the message as it would arrive."
            '</p><table style="border-collapse:collapse;font-size:14px;"><tr>'
            f'<th style="{_TH}">Date</th><th style="{_TH}">Subject</th>'
            f'<th style="{_TH}">To</th><th style="{_TH}">Key</th></tr>\n'
            f"{rows}\n</table></body></html>\n"
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        index = self.directory / INDEX_NAME
        tmp = index.with_name(f".{INDEX_NAME}.{os.getpid()}.tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, index)
        return index


_TD = "padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top;"
_TH = "padding:6px 10px;border-bottom:2px solid #d1d5db;text-align:left;background:#f3f4f6;"


def _read_headers(path: Path) -> dict[str, str]:
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_LIMIT)
    end = head.find(b"\r\n\r\n")
    if end < 0:
        end = head.find(b"\n\n")
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(head[: end if end >= 0 else None])
    return {
        name: str(parsed[name]) for name in ("X-Ops-Key", "Subject", "To", "Date") if parsed[name]
    }


def _short_date(value: str) -> str:
    try:
        parsed: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return value
    return parsed.strftime("%Y-%m-%d %H:%M %z")
