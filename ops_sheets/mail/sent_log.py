"""What the Activity log says was sent: the record of mail that outlives state.db.

The ledger in state.db is the service's own record of what it sent; the
Activity log tab is the second one, kept in the sheet. Every message the postman
delivers leaves a row there with Action ``Email sent`` and a Result of
``sent, Message-ID <…>``; a person's ``ops-sheets review KEY --sent`` leaves
``Email reviewed`` with ``… confirmed sent by a person, Message-ID <…>``.

The Reference column is *not* the idempotency key: it holds the message's
business reference (PO number, pickup reference, RMA number, or "3 finding(s)"
for the manager's alert), and a purchase order and its reminders share one. The
Message-ID is made from the key alone (:func:`message_id_local`, the part before
the ``@``, which also survives a change of sender), so that is what names the
key here; for a long key, either of its two forms (:func:`message_id_locals`).
Rows of other actions (failures, unknown outcomes, RMA numbers) are not
evidence that anything arrived.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ops_sheets.config import Settings
from ops_sheets.sheet.tables import ACTIVITY_LOG, CellError, layout_for, parse_datetime
from ops_sheets.sheet.workbook.base import Cell, Grid, normalise_header

from .message import message_id_locals

#: Actions (normalised) whose row says the message went out.
SENT_ACTION = normalise_header("Email sent")
REVIEWED_ACTION = normalise_header("Email reviewed")
#: What a review row says when a person confirmed delivery (see mail.review).
CONFIRMED = "confirmed sent"
_MESSAGE_ID = re.compile(r"Message-ID:?\s*<([^<>@\s]+)@", re.IGNORECASE)


@dataclass(frozen=True)
class SentLog:
    """The keys the Activity log shows as sent, looked up by Message-ID."""

    #: Message-ID local part -> when the first row showing it sent was logged
    #: (None when its Time cell cannot be read)
    sent: dict[str, datetime | None]
    #: data rows in the Activity log, whatever their action
    rows: int = 0

    @classmethod
    def empty(cls) -> SentLog:
        return cls({}, 0)

    @classmethod
    def from_grid(cls, grid: Grid | None, settings: Settings) -> SentLog:
        """Read the tab once; every later lookup is a set lookup (the log only grows)."""
        if grid is None or not grid.rows:
            return cls.empty()
        header, *body = grid.rows
        headers = layout_for(ACTIVITY_LOG, settings).headers
        where = {normalise_header(h): i for i, h in reversed(list(enumerate(header)))}
        action = where.get(normalise_header(headers["action"]))
        result = where.get(normalise_header(headers["result"]))
        time = where.get(normalise_header(headers["time"]))
        rows = sum(1 for r in body if any(c not in (None, "") for c in r))
        if action is None or result is None:
            return cls({}, rows)
        sent: dict[str, datetime | None] = {}
        for row in body:
            did = normalise_header(_cell(row, action))
            outcome = str(_cell(row, result) or "")
            if did != SENT_ACTION and not (did == REVIEWED_ACTION and CONFIRMED in outcome):
                continue
            found = _MESSAGE_ID.search(outcome)
            if found is None or found.group(1) in sent:
                continue
            sent[found.group(1)] = _time(_cell(row, time), settings) if time is not None else None
        return cls(sent, rows)

    def shows_sent(self, key: str) -> bool:
        # a long key's mail sent before its id was shortened carries the older form
        return any(local in self.sent for local in message_id_locals(key))

    def sent_at(self, key: str) -> datetime | None:
        for local in message_id_locals(key):
            if local in self.sent:
                return self.sent[local]
        return None

    def __len__(self) -> int:
        return len(self.sent)


def _cell(row: Sequence[Cell], index: int) -> Cell:
    return row[index] if index < len(row) else None


def _time(value: Cell, settings: Settings) -> datetime | None:
    try:
        return parse_datetime(value, settings.tz, day_first=settings.day_first)
    except CellError:
        return None
