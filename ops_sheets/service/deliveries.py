"""What a job may ask about its earlier messages: was this key delivered?

Jobs decide from the sheet, and from what happened to the mail they queued
before: a PO is SENT once its email went out, a pickup is booked once its request
was delivered, an acknowledgement is never queued twice. The ledger knows; jobs
ask it through this one small interface, which the runner gives them as
``ctx.deliveries``, so no job touches the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ops_sheets.store.ledger import (
    CLAIMED,
    FAILED,
    FAILED_PERMANENT,
    PLANNED,
    SENDING,
    SENT,
    UNKNOWN,
    LedgerCounts,
    LedgerRow,
)

if TYPE_CHECKING:
    from ops_sheets.config import Settings
    from ops_sheets.store.ledger import Ledger

__all__ = [
    "CLAIMED",
    "FAILED",
    "FAILED_PERMANENT",
    "PLANNED",
    "SENDING",
    "SENT",
    "UNKNOWN",
    "Deliveries",
]


class Deliveries:
    """The ledger as a job sees it: read-only, cached for the run.

    ``known`` is False when there is no ledger to ask (a dry run on a new folder,
    a unit test): nobody can then say whether a message went out, and each job
    decides what that means for it (orders holds the parcels, for example).
    """

    def __init__(self, ledger: Ledger | None) -> None:
        self._ledger = ledger
        self._rows: dict[str, LedgerRow | None] = {}

    @property
    def ledger(self) -> Ledger | None:
        return self._ledger

    @property
    def known(self) -> bool:
        return self._ledger is not None

    def state(self, key: str) -> str | None:
        """The ledger state of ``key`` (PLANNED … SENT, UNKNOWN), None when never queued."""
        row = self.row(key)
        return None if row is None else row.state

    def row(self, key: str) -> LedgerRow | None:
        if self._ledger is None or not key:
            return None
        if key not in self._rows:
            self._rows[key] = self._ledger.get(key)
        return self._rows[key]

    def delivered(self, key: str) -> bool:
        """The message went out (the server accepted it)."""
        return self.state(key) == SENT

    def recorded(self, key: str) -> bool:
        """The ledger has the key, in any state (so it was not rejected before queueing)."""
        return self.state(key) is not None

    def reached_ledger(self, key: str) -> bool:
        """Queued and not refused for good: sent, on its way, or waiting for review."""
        state = self.state(key)
        return state is not None and state != FAILED_PERMANENT

    def counts(self, since: datetime, until: datetime | None = None) -> LedgerCounts | None:
        """Messages sent and awaiting review in a period; None without a ledger."""
        if self._ledger is None:
            return None
        return self._ledger.counts_since(since, until)

    def sent_by_kind(self, since: datetime, until: datetime) -> dict[str, int] | None:
        """Messages sent in [since, until) by kind; None without a ledger."""
        if self._ledger is None:
            return None
        return self._ledger.sent_by_kind(since, until)

    def awaiting_review(self) -> list[LedgerRow]:
        return [] if self._ledger is None else self._ledger.awaiting_review()

    def review_findings(
        self, since: datetime, settings: Settings
    ) -> list[tuple[str, dict[str, Any]]]:
        """(finding key, manager-alert shape) for every message awaiting review, and
        every message a later run wanted to change after it was sent since ``since``."""
        if self._ledger is None:
            return []
        from ops_sheets.mail.review import delivery_findings

        waiting = self._ledger.awaiting_review()
        changed = self._ledger.conflicts_since(since)
        shapes = delivery_findings(self._ledger, since=since, settings=settings)
        keys = [f"email:{r.key}" for r in waiting] + [f"email-changed:{r.key}" for r in changed]
        if len(keys) != len(shapes):  # the ledger moved between the two reads: name by title
            keys = [f"email:{s['title']}" for s in shapes]
        return list(zip(keys, shapes, strict=True))
