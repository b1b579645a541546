"""The delivery engine: render, validate, record, send, report.

Jobs describe each message as an ``OutgoingEmail``; the runner calls
``Postman.deliver`` once per job run, after the sheet writes succeeded. For
every message:

1. ``prepare``: render the templates, parse the recipient strictly, check every
   header, build the MIME message, hash its content. Anything wrong becomes a
   ``Rejected`` item with a problem pointing at the cell; nothing is sent.
2. ``Ledger.plan``: record the intention (or learn that the key was already
   sent, changed after sending, waits for review, or waits for a retry).
3. ``Ledger.claim`` → transport dialogue → ``mark_sending`` at the last moment
   before the data leaves → ``mark_sent`` / ``failed`` / ``failed-permanent``
   / ``unknown``. The bytes sent are the bytes stored in the ledger.

Keys of the same job that an earlier run left unsent (temporary failures, a
reviewed ``--resend``, a claim released after a crash) are sent from their
stored message even if this run did not produce them again.

A key the Activity log shows as sent (``sent_log``, read by the runner with the
sheet) is never sent: the ledger records it as sent instead, so a lost or
replaced state.db cannot send it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from ops_sheets.config import Settings
from ops_sheets.errors import AddressError, LedgerError, TemplateError
from ops_sheets.store.ledger import (
    CHANNEL_JOB_PREFIX,
    CLAIMED,
    FAILED,
    FAILED_PERMANENT,
    SENDING,
    SENT,
    UNKNOWN,
    Ledger,
    LedgerRow,
    OnUnknown,
    PlanEntry,
    RetryPolicy,
)

from .message import (
    Attachment,
    MessageParts,
    Origin,
    build_message,
    content_hash,
    header_problem,
    message_bytes,
    parse_address,
    parse_message,
)
from .sent_log import SentLog
from .templates import Rendered, TemplateRenderer, TemplateRenderError
from .transports import (
    ConnectError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    Transport,
    UnknownOutcomeError,
    make_transport,
)

log = logging.getLogger(__name__)

#: Kinds whose unknown outcome waits for a person: a duplicate purchase order
#: means goods ordered twice, a duplicate pickup a wasted collection. Other
#: kinds (customer acknowledgements, manager mail) are resent automatically.
REVIEW_KINDS: frozenset[str] = frozenset({"purchase_order", "po_reminder", "pickup_request"})

STATUSES: tuple[str, ...] = (
    "sent",
    "already_sent",
    "conflict",
    "rejected",
    "failed",
    "failed_permanent",
    "unknown",
    "awaiting_review",
    "in_progress",
)
#: Statuses that make a run "not ok" (CLI exit code 1).
_BAD = frozenset({"conflict", "rejected", "failed", "failed_permanent", "unknown"})


@dataclass
class OutgoingEmail:
    kind: str
    key: str
    to: str
    context: dict[str, Any]
    origin: Origin | None = None
    attachments: list[Attachment] = field(default_factory=list)
    inline_images: list[tuple[str, bytes]] = field(default_factory=list)
    reference: str = ""


@dataclass(frozen=True)
class MailProblem:
    """One row for the Problems tab: where, what value, what is wrong, how to fix it."""

    origin: Origin
    value: str
    problem: str
    fix: str


@dataclass(frozen=True)
class ActivityEntry:
    """One row for the Activity log tab (``time`` is the wall-clock moment, UTC)."""

    time: datetime
    job: str
    action: str
    subject: str
    to: str
    reference: str
    result: str


@dataclass(frozen=True)
class Prepared:
    email: OutgoingEmail
    rendered: Rendered
    recipient: str
    message: EmailMessage
    data: bytes
    message_id: str
    body_hash: str

    #: True: the message can be sent (Rejected has False), for quick filtering.
    ok = True

    @property
    def key(self) -> str:
        return self.email.key

    @property
    def subject(self) -> str:
        return self.rendered.subject

    def describe(self) -> str:
        """What a dry run prints for this message."""
        extras = [f"attachment {a.filename}" for a in self.email.attachments]
        extras += [f"inline image {cid}" for cid, _ in self.email.inline_images]
        lines = [
            f"--- would send {self.email.kind} [{self.key}]",
            f"To: {self.message['To']}",
            f"Subject: {self.subject}",
            f"Message-ID: {self.message_id}",
        ]
        if extras:
            lines.append("With: " + ", ".join(extras))
        return "\n".join([*lines, "", self.rendered.text.rstrip(), ""])


@dataclass(frozen=True)
class Rejected:
    """An email that cannot be sent as it is, with a problem for the Problems tab.

    ``origin`` is where to fix it: the cell of the address or value, the
    template file, or the config key.
    """

    email: OutgoingEmail
    origin: Origin
    value: str
    problem: str
    fix: str

    ok = False

    @property
    def key(self) -> str:
        return self.email.key

    def as_problem(self) -> MailProblem:
        return MailProblem(origin=self.origin, value=self.value, problem=self.problem, fix=self.fix)

    def describe(self) -> str:
        return f"--- cannot send {self.email.kind} [{self.key}]: {self.problem}"


@dataclass(frozen=True)
class Outcome:
    key: str
    kind: str
    status: str
    to: str = ""
    subject: str = ""
    reference: str = ""
    detail: str = ""
    origin: Origin | None = None
    retry_at: datetime | None = None


@dataclass
class DeliveryReport:
    outcomes: list[Outcome] = field(default_factory=list)
    activity: list[ActivityEntry] = field(default_factory=list)
    problems: list[MailProblem] = field(default_factory=list)

    def keys(self, status: str) -> list[str]:
        return [o.key for o in self.outcomes if o.status == status]

    def outcome(self, key: str) -> Outcome | None:
        for o in self.outcomes:
            if o.key == key:
                return o
        return None

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return counts

    @property
    def sent(self) -> list[str]:
        return self.keys("sent")

    @property
    def ok(self) -> bool:
        """No rejected, conflicting or failed message in this run.

        Messages still awaiting review from an earlier run do not count here;
        ``ops-sheets status`` and the manager's alert keep showing them.
        """
        return not any(o.status in _BAD for o in self.outcomes)

    def summary(self) -> str:
        parts = [f"{n} {s.replace('_', ' ')}" for s, n in self.counts.items() if n]
        return ", ".join(parts) if parts else "no emails"


@dataclass(frozen=True)
class _Target:
    """A key this run will try to send, with what the report needs to say about it."""

    key: str
    kind: str
    to: str
    subject: str
    reference: str
    origin: Origin | None

    @classmethod
    def of_row(cls, row: LedgerRow, origin: Origin | None = None) -> _Target:
        return cls(row.key, row.kind, row.to, row.subject, row.reference, origin)


def _now_wall() -> datetime:
    """The Activity log's Time: the wall-clock moment, by design (see DESIGN.md)."""
    return datetime.now(UTC)


class Postman:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger | None,
        transport: Transport | None = None,
        renderer: TemplateRenderer | None = None,
    ) -> None:
        self.settings = settings
        # None is allowed for dry runs, which only call prepare(): opening the
        # ledger would create the state file.
        self._ledger = ledger
        self.transport = transport
        self.renderer = renderer or TemplateRenderer(settings)
        self.retry = RetryPolicy.from_settings(settings)
        # Test hooks (crash tests call os._exit in them); never set in production.
        self._after_claim_hook: Callable[[str], None] | None = None
        self._after_data_hook: Callable[[str], None] | None = None

    @property
    def ledger(self) -> Ledger | None:
        """The ledger, or None for a dry-run postman."""
        return self._ledger

    @property
    def _led(self) -> Ledger:
        """The ledger, for the methods that need one (all but prepare)."""
        if self._ledger is None:
            raise LedgerError("this Postman has no ledger (dry run): it can only prepare()")
        return self._ledger

    # ------------------------------------------------------------ preparing

    def prepare(
        self, emails: Sequence[OutgoingEmail], *, now: datetime | None = None
    ) -> list[Prepared | Rejected]:
        """Render and validate every email; no side effects (used by dry runs).

        ``now`` sets the Date header; without it the message has none.
        """
        results: list[Prepared | Rejected] = []
        seen: dict[str, str] = {}
        for email in emails:
            item = self._prepare_one(email, now)
            if isinstance(item, Prepared):
                earlier = seen.setdefault(item.key, item.body_hash)
                if earlier != item.body_hash:
                    item = _reject(
                        email,
                        _origin(email),
                        email.key,
                        f"two different emails with the key {email.key} in one run",
                        "give each message its own key (e.g. add a sequence number)",
                    )
            results.append(item)
        return results

    def _prepare_one(self, email: OutgoingEmail, now: datetime | None) -> Prepared | Rejected:
        mail = self.settings.mail
        key_problem = header_problem(email.key) if email.key else "is empty"
        if key_problem:
            return _reject(
                email,
                _origin(email),
                email.key,
                f"the message key {key_problem}",
                "this is a bug in the job that made the message; report it",
            )
        try:
            sender = parse_address(mail.sender, what="[mail] sender")
            reply_to = (
                parse_address(mail.reply_to, what="[mail] reply_to") if mail.reply_to else None
            )
        except AddressError as exc:
            return _reject(
                email,
                Origin("config", None, "mail.sender", email.key),
                mail.sender,
                str(exc),
                "fix [mail] sender / reply_to in the config file",
            )
        try:
            to = parse_address(email.to, what="the email address")
        except AddressError as exc:
            return _reject(
                email,
                _origin(email),
                email.to,
                str(exc),
                "put exactly one valid address in the cell, like orders@supplier.com",
            )
        try:
            rendered = self.renderer.render(email.kind, email.context)
        except TemplateError as exc:
            template = exc.template if isinstance(exc, TemplateRenderError) else email.kind
            return _reject(
                email,
                Origin("templates", None, template, email.key),
                template,
                str(exc),
                f"fix the template or the job's context; check with `ops-sheets preview "
                f"{email.kind}`",
            )
        parts = MessageParts(
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            attachments=tuple(email.attachments),
            inline_images=tuple(email.inline_images),
        )
        try:
            msg = build_message(
                sender=sender, to=to, parts=parts, key=email.key, date=now, reply_to=reply_to
            )
        except AddressError as exc:
            return _reject(
                email,
                _origin(email),
                rendered.subject,
                str(exc),
                "remove line breaks and control characters from the values used "
                "in the subject and file names",
            )
        recipient = to.addr_spec
        return Prepared(
            email=email,
            rendered=rendered,
            recipient=recipient,
            message=msg,
            data=message_bytes(msg),
            message_id=str(msg["Message-ID"]),
            body_hash=content_hash(email.kind, [recipient], parts),
        )

    # ------------------------------------------------------------ delivering

    def deliver(
        self,
        emails: Sequence[OutgoingEmail],
        *,
        job: str,
        now: datetime,
        sent_log: SentLog | None = None,
    ) -> DeliveryReport:
        """Send what has not been sent; report every key's outcome.

        ``sent_log``: what the Activity log shows as sent. Such a key is never
        sent again: an unsent or unknown key is recorded in the ledger as sent
        (the state that sent it was lost), and reported as already sent.
        """
        if now.tzinfo is None:
            raise ValueError("deliver() needs a timezone-aware now")
        report = DeliveryReport()
        token = self._led.start_run()
        try:
            for row in self._led.recover(now):
                self._recovered(report, row)
            prepared: dict[str, Prepared] = {}
            for item in self.prepare(emails, now=now):
                if isinstance(item, Rejected):
                    self._rejected(report, item, job)
                elif item.key not in prepared:
                    prepared[item.key] = item
            if sent_log is not None:
                for key in [k for k in prepared if sent_log.shows_sent(k)]:
                    item = prepared[key]
                    target = _Target(
                        key,
                        item.email.kind,
                        item.recipient,
                        item.subject,
                        item.email.reference,
                        item.email.origin,
                    )
                    entry = self._plan_entry(item, job)
                    if self._logged_as_sent(report, target, sent_log, job, now, entry):
                        del prepared[key]
            plans = self._led.plan([self._plan_entry(p, job) for p in prepared.values()], now)
            targets: list[_Target] = []
            for plan in plans:
                item = prepared[plan.key]
                target = _Target(
                    item.key,
                    item.email.kind,
                    item.recipient,
                    item.subject,
                    item.email.reference,
                    item.email.origin,
                )
                if plan.decision == "send":
                    targets.append(target)
                else:
                    self._not_sending(
                        report, target, plan.decision, plan.row, job, new_conflict=plan.new_conflict
                    )
            batch = {e.key for e in emails}
            for key in self._led.pending_keys(job, now):
                row = self._led.get(key)
                if key in batch or row is None:
                    continue
                target = _Target.of_row(row)
                if (
                    sent_log is not None
                    and sent_log.shows_sent(key)
                    and self._logged_as_sent(report, target, sent_log, job, now)
                ):
                    continue
                targets.append(target)
            self._send_all(targets, token, job, now, report)
        finally:
            self._led.finish_run(token)
        return report

    def _logged_as_sent(
        self,
        report: DeliveryReport,
        target: _Target,
        sent_log: SentLog,
        job: str,
        now: datetime,
        entry: PlanEntry | None = None,
    ) -> bool:
        """The Activity log shows ``target`` sent: record that in the ledger instead
        of sending. False when the ledger's own decision stands (it knows the key
        as sent already, or a live run holds it)."""
        when = sent_log.sent_at(target.key)
        shown = when.astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M") if when else "earlier"
        detail = f"the Activity log shows it sent ({shown}); not sent again"
        row = self._led.record_sent_elsewhere(
            target.key, now, entry=entry, sent_at=when, detail=detail
        )
        if row is None:
            return False
        log.warning("not sending %s: %s", target.key, detail)
        report.outcomes.append(_outcome(target, "already_sent", detail))
        report.activity.append(_activity(job, "Email not sent (logged as sent)", target, detail))
        return True

    def has_pending(self, job: str | None = None) -> bool:
        """Are there unsent messages (of ``job``) that a run could retry?

        Lets the runner call ``deliver`` with no new emails just to retry.
        """
        return self._ledger is not None and self._ledger.has_unsent(job)

    def resend(self, keys: Sequence[str], *, job: str, now: datetime) -> DeliveryReport:
        """Send stored messages now (after ``review --resend``), same Message-ID."""
        report = DeliveryReport()
        token = self._led.start_run()
        try:
            targets: list[_Target] = []
            for key in keys:
                row = self._led.get(key)
                if row is None:
                    raise LedgerError(f"no message with key {key!r} in the ledger")
                targets.append(_Target.of_row(row))
            self._send_all(targets, token, job, now, report)
        finally:
            self._led.finish_run(token)
        return report

    def _plan_entry(self, item: Prepared, job: str) -> PlanEntry:
        on_unknown: OnUnknown = "review" if item.email.kind in REVIEW_KINDS else "resend"
        return PlanEntry(
            key=item.key,
            kind=item.email.kind,
            job=job,
            recipients=(item.recipient,),
            subject=item.subject,
            reference=item.email.reference,
            message_id=item.message_id,
            body_hash=item.body_hash,
            message=item.data,
            on_unknown=on_unknown,
        )

    def _send_all(
        self, targets: list[_Target], token: str, job: str, now: datetime, report: DeliveryReport
    ) -> None:
        if not targets:
            return
        transport = self.transport or make_transport(self.settings)
        down: ConnectError | None = None
        try:
            for target in targets:
                if down is not None:
                    report.outcomes.append(_outcome(target, "failed", f"not attempted: {down}"))
                    continue
                down = self._send_one(transport, target, token, job, now, report)
        finally:
            try:
                transport.close()
            except Exception as exc:  # closing must not hide the outcomes
                log.warning("closing the %s transport failed: %s", transport.name, exc)

    def _send_one(
        self,
        transport: Transport,
        target: _Target,
        token: str,
        job: str,
        now: datetime,
        report: DeliveryReport,
    ) -> ConnectError | None:
        """Claim and send one key. Returns the ConnectError that stops the batch, if any."""
        key = target.key
        claim = self._led.claim(key, token, now)
        if not claim.granted:
            decision = _decision_for(claim.row)
            self._not_sending(report, target, decision, claim.row, job)
            return None
        row = claim.row
        assert row is not None
        try:
            if self._after_claim_hook is not None:
                self._after_claim_hook(key)
            msg = parse_message(row.message)
            transport.send(msg, on_handover=lambda: self._led.mark_sending(key, token, now))
        except ConnectError as exc:
            self._led.release(key, token, now, str(exc))
            log.warning("cannot send %s: %s", key, exc)
            report.outcomes.append(_outcome(target, "failed", str(exc)))
            report.activity.append(_activity(job, "Email not sent", target, f"failed: {exc}"))
            report.problems.append(
                MailProblem(
                    origin=Origin("config", None, "mail.smtp", ""),
                    value=f"{transport.name}",
                    problem=str(exc),
                    fix="fix the [mail.smtp] settings or the network; unsent messages are "
                    "retried at the next run",
                )
            )
            return exc
        except UnknownOutcomeError as exc:
            after = self._led.mark_unknown(key, token, now, str(exc), self.retry)
            self._after_failure(report, target, after, job, str(exc))
        except PermanentDeliveryError as exc:
            self._led.mark_failed_permanent(key, token, now, str(exc))
            after = self._led.get(key)
            assert after is not None
            self._after_failure(report, target, after, job, str(exc))
        except TemporaryDeliveryError as exc:
            after = self._led.mark_failed(key, token, now, str(exc), self.retry)
            self._after_failure(report, target, after, job, str(exc))
        except LedgerError as exc:
            # mark_sending failed, so the data was never handed over.
            self._led.abandon(key, token, now, f"ledger error before sending: {exc}")
            log.error("ledger error while sending %s: %s", key, exc)
            report.outcomes.append(_outcome(target, "failed", f"ledger error: {exc}"))
        except Exception as exc:  # a bug or a corrupt stored message: report it, go on
            log.exception("unexpected error while sending %s", key)
            self._led.abandon(key, token, now, f"unexpected error: {type(exc).__name__}: {exc}")
            after = self._led.get(key)
            status = "unknown" if after is not None and after.state == UNKNOWN else "failed"
            report.outcomes.append(_outcome(target, status, f"{type(exc).__name__}: {exc}"))
            report.activity.append(
                _activity(job, "Email failed", target, f"unexpected error: {exc}")
            )
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: settle the row, stop
            self._led.abandon(key, token, now, f"run stopped: {type(exc).__name__}: {exc}")
            raise
        else:
            try:
                if self._after_data_hook is not None:
                    self._after_data_hook(key)
                self._led.mark_sent(key, token, now, f"accepted by {transport.name}")
            except BaseException as exc:
                self._led.abandon(key, token, now, f"run stopped after sending: {exc}")
                raise
            log.info("sent %s (%s) to %s", key, target.kind, target.to)
            report.outcomes.append(_outcome(target, "sent", row.message_id))
            report.activity.append(
                _activity(job, "Email sent", target, f"sent, Message-ID {row.message_id}")
            )
        return None

    # ------------------------------------------------------------ reporting

    def _after_failure(
        self, report: DeliveryReport, target: _Target, row: LedgerRow, job: str, error: str
    ) -> None:
        key = target.key
        if row.state == FAILED:
            retry_at = row.next_attempt_at
            when = (
                retry_at.astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M")
                if retry_at
                else "next run"
            )
            log.warning("temporary failure sending %s: %s (retry after %s)", key, error, when)
            report.outcomes.append(_outcome(target, "failed", error, retry_at=retry_at))
            report.activity.append(
                _activity(
                    job,
                    "Email failed",
                    target,
                    f"{error}; attempt {row.attempts} of {self.retry.max_attempts}, "
                    f"retry after {when}",
                )
            )
        elif row.state == UNKNOWN:
            log.error("outcome unknown for %s: %s", key, error)
            report.outcomes.append(_outcome(target, "unknown", error))
            report.activity.append(
                _activity(
                    job,
                    "Email outcome unknown",
                    target,
                    f"{error}; not resent automatically: check with the recipient, then "
                    f"run `ops-sheets review {key} --sent` or `--resend`",
                )
            )
        else:  # failed-permanent (refused, or gave up after max attempts)
            log.error("permanent failure sending %s: %s", key, row.last_error)
            report.outcomes.append(_outcome(target, "failed_permanent", row.last_error))
            report.activity.append(
                _activity(job, "Email failed permanently", target, f"{row.last_error}; not retried")
            )
            report.problems.append(
                MailProblem(
                    origin=_origin_of(target),
                    value=target.to,
                    problem=f"email {key} was refused: {row.last_error}",
                    fix="correct the address: the next run sends the corrected message; or run "
                    f"`ops-sheets review {key} --resend` to send it unchanged once the cause "
                    "is fixed (--sent if you sent it yourself)",
                )
            )

    def _not_sending(
        self,
        report: DeliveryReport,
        target: _Target,
        decision: str,
        row: LedgerRow | None,
        job: str,
        *,
        new_conflict: bool = False,
    ) -> None:
        if decision == "already_sent":
            report.outcomes.append(_outcome(target, "already_sent"))
        elif decision == "conflict":
            detail = (
                "this key was already sent with a different content; the new version was not sent"
            )
            report.outcomes.append(_outcome(target, "conflict", detail))
            if new_conflict:
                log.warning("not sending %s: %s", target.key, detail)
                report.activity.append(_activity(job, "Email not sent (changed)", target, detail))
        elif decision == "awaiting_review":
            report.outcomes.append(
                _outcome(target, "awaiting_review", row.last_error if row else "")
            )
        elif decision == "failed_permanent":
            report.outcomes.append(
                _outcome(target, "failed_permanent", row.last_error if row else "")
            )
        elif decision == "waiting":
            retry_at = row.next_attempt_at if row else None
            report.outcomes.append(
                _outcome(
                    target,
                    "failed",
                    f"waiting to retry: {row.last_error if row else ''}",
                    retry_at=retry_at,
                )
            )
        else:
            report.outcomes.append(_outcome(target, "in_progress", "another run is sending it"))

    def _recovered(self, report: DeliveryReport, row: LedgerRow) -> None:
        """Log what an earlier, crashed run could not: its send has an unknown outcome."""
        entry = recovered_activity(row)
        if entry is not None:
            report.activity.append(entry)

    def _rejected(self, report: DeliveryReport, item: Rejected, job: str) -> None:
        email = item.email
        log.warning("rejected %s: %s", email.key, item.problem)
        target = _Target(email.key, email.kind, email.to, "", email.reference, email.origin)
        outcome = _outcome(target, "rejected", item.problem)
        report.outcomes.append(replace(outcome, origin=item.origin))
        report.problems.append(item.as_problem())
        report.activity.append(_activity(job, "Email not sent (invalid)", target, item.problem))


# ---------------------------------------------------------------- helpers


def recovered_activity(row: LedgerRow) -> ActivityEntry | None:
    """The Activity-log entry a crashed run could not write for ``row``, which
    ``Ledger.recover()`` just settled; None for a released claim (nothing had left,
    the key is simply sent again).

    Labelled by what the row is: an email, or a post to a chat channel (job
    ``channel:<name>``, issue 23), whichever of the postman and the channel poster
    happened to recover it.
    """
    if row.last_error.startswith("claim released"):
        return None
    target = _Target.of_row(row)
    if not row.job.startswith(CHANNEL_JOB_PREFIX):
        action, again, check = "Email outcome unknown", "resent", "check with the recipient"
    else:
        action, again = f"{_channel_label(row)} post outcome unknown", "posted again"
        check = "look in the channel"
    result = row.last_error
    if row.state == UNKNOWN:
        result = (
            f"{row.last_error}; not {again} automatically: {check}, then "
            f"run `ops-sheets review {row.key} --sent` or `--resend`"
        )
    return _activity(row.job, action, target, result)


def _channel_label(row: LedgerRow) -> str:
    """ "Slack", "Microsoft Teams"…: the service of a channel row (recipient
    ``<kind>:<name>``), as the channel poster names it in the Activity log."""
    from ops_sheets.mail.channels import CHANNEL_CLASSES  # the channels import this module

    kind = row.recipients[0].partition(":")[0] if row.recipients else ""
    channel = CHANNEL_CLASSES.get(kind)
    return channel.label if channel is not None else "Channel"


def _origin(email: OutgoingEmail) -> Origin:
    return email.origin or Origin("config", None, "mail", email.key)


def _origin_of(target: _Target) -> Origin:
    return target.origin or Origin("config", None, "mail", target.key)


def _reject(email: OutgoingEmail, origin: Origin, value: str, problem: str, fix: str) -> Rejected:
    return Rejected(email, origin=origin, value=str(value), problem=problem, fix=fix)


def _outcome(
    target: _Target, status: str, detail: str = "", *, retry_at: datetime | None = None
) -> Outcome:
    return Outcome(
        key=target.key,
        kind=target.kind,
        status=status,
        to=target.to,
        subject=target.subject,
        reference=target.reference,
        detail=detail,
        origin=target.origin,
        retry_at=retry_at,
    )


def _activity(job: str, action: str, target: _Target, result: str) -> ActivityEntry:
    return ActivityEntry(
        time=_now_wall(),
        job=job,
        action=action,
        subject=target.subject,
        to=target.to,
        reference=target.reference or target.key,
        result=result,
    )


def _decision_for(row: LedgerRow | None) -> str:
    """Why a claim was refused, in plan-decision terms."""
    if row is None:
        return "in_progress"
    return {
        SENT: "already_sent",
        CLAIMED: "in_progress",
        SENDING: "in_progress",
        FAILED: "waiting",
        UNKNOWN: "awaiting_review",
        FAILED_PERMANENT: "failed_permanent",
    }.get(row.state, "in_progress")
