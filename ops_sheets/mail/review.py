"""What ``ops-sheets status`` and ``ops-sheets review`` need from the mail side,
and the findings the manager's alert shows about deliveries.

The CLI owns printing and exit codes; these functions return text and data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ops_sheets.config import Settings
from ops_sheets.errors import LedgerError
from ops_sheets.store.ledger import (
    CHANNEL_JOB_PREFIX,
    FAILED_PERMANENT,
    SENT,
    UNKNOWN,
    Ledger,
    LedgerRow,
)

from .postman import ActivityEntry, DeliveryReport, Postman
from .samples import write_preview
from .transports import Transport

if TYPE_CHECKING:
    from .channels.poster import ChannelReport

_KIND_NAMES = {
    "purchase_order": "Purchase order",
    "po_reminder": "PO reminder",
    "pickup_request": "Pickup request",
    "return_acknowledgement": "Return acknowledgement",
    "manager_alert": "Manager alert",
    "weekly_summary": "Weekly summary",
    "content_reminder": "Content reminder",  # issue 19
}


def _kind_name(kind: str) -> str:
    return _KIND_NAMES.get(kind, kind.replace("_", " ").capitalize())


def _local(value: datetime | None, settings: Settings | None) -> str:
    if value is None:
        return "-"
    if settings is not None:
        value = value.astimezone(settings.tz)
    return value.strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------- status


def review_status_lines(ledger: Ledger, settings: Settings | None = None) -> list[str]:
    """The mail part of ``ops-sheets status``: what waits for review, what retries."""
    lines: list[str] = []
    waiting = ledger.awaiting_review()
    if waiting:
        lines.append(f"Messages awaiting review ({len(waiting)}):")
        for row in waiting:
            what = "delivery unknown" if row.state == UNKNOWN else "refused"
            lines.append(
                f"  {row.key}  {_kind_name(row.kind)} to {row.to}: {what} since "
                f"{_local(row.updated_at, settings)}"
            )
            if row.last_error:
                lines.append(f"      {row.last_error}")
        lines.append(
            "  Settle each with `ops-sheets review KEY --sent` (it arrived) or "
            "`ops-sheets review KEY --resend` (send again, same Message-ID)."
        )
    else:
        lines.append("Messages awaiting review: none")
    retrying = ledger.retrying()
    if retrying:
        lines.append(f"Messages to retry ({len(retrying)}):")
        for row in retrying:
            lines.append(
                f"  {row.key}  {_kind_name(row.kind)} to {row.to}: attempt {row.attempts}, "
                f"next after {_local(row.next_attempt_at, settings)} ({row.last_error})"
            )
    return lines


# ---------------------------------------------------------------- review


@dataclass
class ReviewResult:
    row: LedgerRow
    activity: list[ActivityEntry] = field(default_factory=list)
    #: the resend's report: a ChannelReport for a post (same ``outcome``/``ok``)
    delivery: DeliveryReport | ChannelReport | None = None
    note: str = ""

    @property
    def message(self) -> str:
        if self.note:
            return f"{self.row.key}: {self.note}"
        if self.delivery is None:
            return f"{self.row.key}: recorded as sent"
        outcome = self.delivery.outcome(self.row.key)
        status = outcome.status if outcome else "not sent"
        detail = f" ({outcome.detail})" if outcome and outcome.detail else ""
        return f"{self.row.key}: resend {status.replace('_', ' ')}{detail}"

    @property
    def ok(self) -> bool:
        return self.delivery is None or self.delivery.ok

    def __str__(self) -> str:
        return self.message


def review_message(
    settings: Settings,
    ledger: Ledger,
    key: str,
    decision: Literal["sent", "resend"],
    *,
    now: datetime,
    transport: Transport | None = None,
) -> ReviewResult:
    """Settle ``key`` (unknown or failed-permanent).

    ``sent`` records that a person confirmed it arrived. ``resend`` sends the
    stored message again now, with the same Message-ID; if that fails
    temporarily, the job's next run retries it. The returned activity entries
    go to the Activity log tab.
    """
    before = ledger.get(key)
    if before is None:
        guess = key.replace("_", ":", 1)  # outbox file names write the ':' as '_'
        if guess != key and ledger.get(guess) is not None:
            raise LedgerError(f"no message with key {key!r}; did you mean {guess!r}?")
        waiting = ", ".join(r.key for r in ledger.awaiting_review()) or "none"
        raise LedgerError(f"no message with key {key!r}; messages awaiting review: {waiting}")
    if before.state == SENT and decision == "sent":
        return ReviewResult(row=before, note="already recorded as sent; nothing to do")
    row = ledger.review(key, decision, now)
    was = "delivery unknown" if before.state == UNKNOWN else before.state
    entry = ActivityEntry(
        time=_wall(),
        job="review",
        action="Post reviewed" if row.job.startswith(CHANNEL_JOB_PREFIX) else "Email reviewed",
        subject=row.subject,
        to=row.to,
        reference=row.reference or key,
        result=(
            # the Message-ID names the key: the Activity log is evidence of it (sent_log)
            f"{was} → confirmed sent by a person, Message-ID {row.message_id}"
            if decision == "sent"
            else f"{was} → resend requested (same Message-ID)"
        ),
    )
    result = ReviewResult(row=row, activity=[entry])
    if decision == "resend" and row.job.startswith(CHANNEL_JOB_PREFIX):
        # a post to Slack, Teams...: posted again from the stored body
        from .channels.poster import ChannelPoster

        posted = ChannelPoster(settings, ledger).resend([key], now=now)
        result.delivery = posted
        result.activity.extend(posted.activity)
        after = ledger.get(key)
        if after is not None:
            result.row = after
    elif decision == "resend":
        postman = Postman(settings, ledger, transport=transport)
        report = postman.resend([key], job=row.job or "review", now=now)
        result.delivery = report
        result.activity.extend(report.activity)
        after = ledger.get(key)
        if after is not None:
            result.row = after
    return result


def review(
    settings: Settings,
    key: str,
    decision: Literal["sent", "resend"],
    *,
    now: datetime | None = None,
    transport: Transport | None = None,
) -> ReviewResult:
    """``ops-sheets review KEY --sent|--resend``: open the ledger, settle, close.

    ``now`` defaults to the wall clock: a review happens when a person runs it.
    ``str(result)`` is the line to print; ``result.activity`` holds the rows for
    the Activity log tab.
    """
    when = now or datetime.now(settings.tz)
    with Ledger.from_settings(settings) as ledger:
        return review_message(settings, ledger, key, decision, now=when, transport=transport)


def preview(kind: str, settings: Settings, out_dir: Path | None = None) -> Path:
    """``ops-sheets preview KIND``: render with sample data; the path of the page to open."""
    return write_preview(settings, kind, out_dir)


def _wall() -> datetime:
    """Activity log times are wall-clock moments by design."""
    return datetime.now(UTC)


# ---------------------------------------------------------------- manager alert


def delivery_findings(
    ledger: Ledger, *, since: datetime | None = None, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Findings for the manager_alert context (same shape as its ``findings``).

    Every message awaiting review is a high-severity finding; messages that were
    not sent because they changed after sending are listed when ``since`` is given.
    """
    findings: list[dict[str, Any]] = []
    for row in ledger.awaiting_review():
        what = _kind_name(row.kind)
        ref = row.reference or row.key
        if row.state == UNKNOWN:
            findings.append(
                {
                    "severity": "high",
                    "title": f"{what} {ref} to {row.to}: delivery unknown",
                    "detail": f"{row.last_error} (since {_local(row.updated_at, settings)}).",
                    "action": (
                        "Look in the channel whether it was posted"
                        if row.job.startswith(CHANNEL_JOB_PREFIX)
                        else "Ask the recipient whether it arrived"
                    )
                    + f", then run `ops-sheets review {row.key} --sent` or `--resend`.",
                    "resolved": False,
                }
            )
        elif row.state == FAILED_PERMANENT:
            findings.append(
                {
                    "severity": "high",
                    "title": f"{what} {ref} to {row.to} was not delivered",
                    "detail": f"{row.last_error}.",
                    "action": "Correct the address in the sheet or config (the next run "
                    "then sends the corrected message), or run "
                    f"`ops-sheets review {row.key} --resend` to send it unchanged (`--sent` "
                    "if you sent it another way).",
                    "resolved": False,
                }
            )
    if since is not None:
        for row in ledger.conflicts_since(since):
            findings.append(
                {
                    "severity": "medium",
                    "title": f"{_kind_name(row.kind)} {row.reference or row.key} changed after "
                    "it was sent",
                    "detail": f"A later run produced a different version for {row.to}; it was "
                    "not sent, so the recipient has the first version.",
                    "action": "If the change matters, tell the recipient yourself.",
                    "resolved": False,
                }
            )
    return findings
