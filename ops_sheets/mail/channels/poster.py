"""Posting to channels through the ledger: at most once per key, like email.

Every post is a ledger row in the same table and with the same states as an
email (planned → claimed → sending → sent | failed | failed-permanent |
unknown), so ``status`` lists a post whose outcome is unknown and
``ops-sheets review KEY --sent|--resend`` settles it. A row:

* ``key``: ``<message key>#<channel name>`` (``#2``, ``#3``… added for the
  further parts of a Telegram message split in several posts);
* ``job``: ``channel:<channel name>`` (so the postman never picks it up as an
  email, and KPIs do not count it as one);
* ``recipients``: ``<kind>:<channel name>`` (``slack:ops-alerts``);
* ``message``: the JSON body, exactly what is posted; the URL is *not* stored
  (it is a secret, read from its variable or file at each post);
* ``on_unknown = "review"``: a timeout after the body was written is never
  retried blindly, whatever the message kind.

A channel that fails never stops the email: the runner posts before it emails
and this module catches everything but BaseException, reporting it instead. A
failure to post (429/5xx after the in-run retries, no connection) leaves the
row failed, and the ledger's backoff tries it again at a later run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ops_sheets.config import Settings
from ops_sheets.errors import LedgerError, TemplateError
from ops_sheets.mail.message import Origin
from ops_sheets.mail.postman import ActivityEntry, MailProblem, recovered_activity
from ops_sheets.mail.templates import TemplateRenderer
from ops_sheets.mail.transports.base import (
    ConnectError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    UnknownOutcomeError,
)
from ops_sheets.store.ledger import (
    CHANNEL_JOB_PREFIX,
    FAILED,
    SENT,
    UNKNOWN,
    Ledger,
    LedgerRow,
    PlanEntry,
    RetryPolicy,
)

from . import channels_of, make_channel
from .base import Channel, Payload, host_of
from .compose import Composer
from .http import HttpPoster

log = logging.getLogger(__name__)

JOB_PREFIX = CHANNEL_JOB_PREFIX
#: ``status`` names of outcomes that make a run "not ok"
_BAD = frozenset({"rejected", "failed", "failed_permanent", "unknown"})


@dataclass(frozen=True)
class ChannelMessage:
    """A message a job produced that channels may carry (kind, key, context)."""

    kind: str
    key: str
    context: Mapping[str, Any]
    reference: str = ""


@dataclass(frozen=True)
class ChannelPost:
    """One request: the ledger key, the channel, the body."""

    key: str
    channel: Channel
    kind: str
    title: str
    reference: str
    body: Payload

    @property
    def data(self) -> bytes:
        return encode(self.body)


@dataclass(frozen=True)
class ChannelOutcome:
    key: str
    channel: str
    kind: str
    status: str  # sent, already_sent, conflict, rejected, failed, failed_permanent, unknown...
    detail: str = ""


@dataclass
class ChannelReport:
    outcomes: list[ChannelOutcome] = field(default_factory=list)
    activity: list[ActivityEntry] = field(default_factory=list)
    problems: list[MailProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(o.status in _BAD for o in self.outcomes)

    def keys(self, status: str) -> list[str]:
        return [o.key for o in self.outcomes if o.status == status]

    def outcome(self, key: str) -> ChannelOutcome | None:
        return next((o for o in self.outcomes if o.key == key), None)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items()) or "no posts"


def encode(body: Payload) -> bytes:
    """The exact bytes posted (and stored): compact, UTF-8, stable key order."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def post_key(message_key: str, channel: str, part: int = 1) -> str:
    return f"{message_key}#{channel}" + (f"#{part}" if part > 1 else "")


def is_channel_row(row: LedgerRow) -> bool:
    return row.job.startswith(JOB_PREFIX)


def _wall() -> datetime:
    return datetime.now(UTC)


HttpFactory = Callable[[Channel], HttpPoster]


class ChannelPoster:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger | None,
        *,
        http: HttpFactory | None = None,
        renderer: TemplateRenderer | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.composer = Composer(settings, renderer)
        self._http = http or default_http
        self.retry = RetryPolicy.from_settings(settings)

    # ------------------------------------------------------------ composing

    def compose(self, channel: Channel, message: ChannelMessage) -> list[ChannelPost]:
        """The posts ``channel`` makes for ``message`` ([] when nothing to post).

        Raises TemplateError when its template fails.
        """
        if message.kind not in channel.config.send:
            return []
        text = self.composer.text(channel, message.kind, message.key, message.context)
        if text is None:
            return []
        bodies = channel.payloads(text)
        return [
            ChannelPost(
                key=post_key(message.key, channel.name, i),
                channel=channel,
                kind=message.kind,
                title=text.title,
                reference=message.reference or message.key,
                body=body,
            )
            for i, body in enumerate(bodies, start=1)
        ]

    # ------------------------------------------------------------ delivering

    def deliver(
        self, messages: Sequence[ChannelMessage], *, job: str, now: datetime
    ) -> ChannelReport:
        """Post what the channels carry of ``messages``, and what earlier runs left
        to retry. Never raises an Exception: everything becomes the report."""
        report = ChannelReport()
        channels = channels_of(self.settings)
        if not channels or self.ledger is None:
            return report
        token = self.ledger.start_run()
        try:
            for recovered in self.ledger.recover(now):
                # what a crashed run left 'sending' (a post, or an email the postman
                # will now not see): logged here, or nobody would log it
                entry = recovered_activity(recovered)
                if entry is not None:
                    report.activity.append(entry)
            for channel in channels:
                try:
                    self._deliver_channel(channel, messages, job, now, token, report)
                except Exception as exc:  # a bug must not stop the other channels or the email
                    log.exception("posting to %s failed", channel.where)
                    report.outcomes.append(
                        ChannelOutcome("", channel.name, "", "failed", f"{type(exc).__name__}")
                    )
        finally:
            self.ledger.finish_run(token)
        return report

    def _deliver_channel(
        self,
        channel: Channel,
        messages: Sequence[ChannelMessage],
        job: str,
        now: datetime,
        token: str,
        report: ChannelReport,
    ) -> None:
        assert self.ledger is not None
        posts: list[ChannelPost] = []
        for message in messages:
            try:
                posts += self.compose(channel, message)
            except TemplateError as exc:
                self._rejected(report, channel, message, str(exc), job)
        entries = [self._entry(p) for p in posts]
        plans = self.ledger.plan(entries, now) if entries else []
        targets: list[str] = []
        for plan in plans:
            if plan.decision == "send":
                targets.append(plan.key)
            else:
                status = {"waiting": "failed", "awaiting_review": "awaiting_review"}.get(
                    plan.decision, plan.decision
                )
                report.outcomes.append(
                    ChannelOutcome(
                        plan.key, channel.name, plan.row.kind, status, plan.row.last_error
                    )
                )
        batch = {p.key for p in posts}
        targets += [
            k for k in self.ledger.pending_keys(JOB_PREFIX + channel.name, now) if k not in batch
        ]
        targets = self._parts_in_order(channel, targets)
        if targets:
            self._send(channel, targets, job, now, token, report)

    def _parts_in_order(self, channel: Channel, keys: list[str]) -> list[str]:
        """Part n of a split message waits until part n-1 went (or goes first now),
        so a Telegram message never arrives with its middle before its start."""
        assert self.ledger is not None
        marker = f"#{channel.name}#"
        out: list[str] = []
        for key in dict.fromkeys(keys):
            head, found, part = key.rpartition(marker)
            if found and part.isdigit() and int(part) > 1:
                previous = post_key(head, channel.name, int(part) - 1)
                row = self.ledger.get(previous)
                if previous not in out and (row is None or row.state != SENT):
                    continue
            out.append(key)
        return out

    def _entry(self, post: ChannelPost) -> PlanEntry:
        data = post.data
        return PlanEntry(
            key=post.key,
            kind=post.kind,
            job=JOB_PREFIX + post.channel.name,
            recipients=(f"{post.channel.kind}:{post.channel.name}",),
            subject=post.title[:200],
            reference=post.reference,
            message_id=post.key,
            body_hash=hashlib.sha256(data).hexdigest(),
            message=data,
            on_unknown="review",
        )

    def resend(self, keys: Sequence[str], *, now: datetime) -> ChannelReport:
        """Post stored bodies now (after ``review --resend``)."""
        report = ChannelReport()
        if self.ledger is None:
            return report
        token = self.ledger.start_run()
        try:
            for key in keys:
                row = self.ledger.get(key)
                if row is None or not is_channel_row(row):
                    raise LedgerError(f"no channel post with key {key!r} in the ledger")
                name = row.job[len(JOB_PREFIX) :]
                config = self.settings.channels.get(name)
                if config is None:
                    raise LedgerError(
                        f"{key}: the channel {name!r} is no longer in the config; add "
                        f"[channels.{name}] back, or settle it with --sent"
                    )
                channel = make_channel(name, config, self.settings)
                self._send(channel, [key], "review", now, token, report)
        finally:
            self.ledger.finish_run(token)
        return report

    def _send(
        self,
        channel: Channel,
        keys: list[str],
        job: str,
        now: datetime,
        token: str,
        report: ChannelReport,
    ) -> None:
        assert self.ledger is not None
        try:
            url = channel.endpoint(channel.read_secret())
            http = self._http(channel)  # a ca_file that cannot be loaded fails here
        except ConnectError as exc:
            # nothing claimed: the posts wait, planned, until the config is fixed
            for key in keys:
                report.outcomes.append(ChannelOutcome(key, channel.name, "", "failed", str(exc)))
            report.problems.append(
                MailProblem(
                    origin=Origin("config", None, f"channels.{channel.name}", ""),
                    value=channel.name,
                    problem=str(exc),
                    fix=f"fix {channel.where} or its variable/file; `ops-sheets check` tells "
                    "when it is right, and the waiting posts go out at the next run",
                )
            )
            log.warning("not posting to %s: %s", channel.where, exc)
            return
        host = host_of(url)
        try:
            for i, key in enumerate(keys):
                stop = self._send_one(channel, http, url, host, key, job, now, token, report)
                if stop:
                    for rest in keys[i + 1 :]:
                        report.outcomes.append(
                            ChannelOutcome(
                                rest, channel.name, "", "failed", f"not attempted: {stop}"
                            )
                        )
                    break
        finally:
            http.close()

    def _send_one(
        self,
        channel: Channel,
        http: HttpPoster,
        url: str,
        host: str,
        key: str,
        job: str,
        now: datetime,
        token: str,
        report: ChannelReport,
    ) -> str:
        """Claim and post one key; returns why the channel's other posts should wait
        ("" to go on)."""
        assert self.ledger is not None
        led = self.ledger
        claim = led.claim(key, token, now)
        if not claim.granted:
            row = claim.row
            state = row.state if row else "missing"
            status = {SENT: "already_sent", UNKNOWN: "awaiting_review", FAILED: "failed"}.get(
                state, "in_progress"
            )
            report.outcomes.append(
                ChannelOutcome(key, channel.name, row.kind if row else "", status)
            )
            return ""
        row = claim.row
        assert row is not None
        label = channel.label
        try:
            detail = http.post(
                url,
                row.message,
                on_handover=lambda: led.mark_sending(key, token, now),
                accepted=channel.accepted,
            )
        except UnknownOutcomeError as exc:
            after = led.mark_unknown(key, token, now, str(exc), self.retry)
            log.error("outcome unknown for %s on %s (%s): %s", key, channel.where, host, exc)
            self._outcome(report, channel, row, after.state, str(exc), job, label)
            return str(exc)
        except PermanentDeliveryError as exc:
            led.mark_failed_permanent(key, token, now, str(exc))
            log.error("%s refused %s (%s): %s", channel.where, key, host, exc)
            self._outcome(report, channel, row, "failed-permanent", str(exc), job, label)
            return ""
        except TemporaryDeliveryError as exc:
            after = led.mark_failed(key, token, now, str(exc), self.retry)
            log.warning("could not post %s to %s (%s): %s", key, channel.where, host, exc)
            self._outcome(report, channel, row, after.state, str(exc), job, label, after)
            return str(exc)
        except LedgerError as exc:
            led.abandon(key, token, now, f"ledger error before posting: {exc}")
            report.outcomes.append(ChannelOutcome(key, channel.name, row.kind, "failed", str(exc)))
            return str(exc)
        except Exception as exc:
            log.exception("unexpected error posting %s to %s", key, channel.where)
            led.abandon(key, token, now, f"unexpected error: {type(exc).__name__}")
            after_row = led.get(key)
            state = after_row.state if after_row else FAILED
            self._outcome(report, channel, row, state, type(exc).__name__, job, label)
            return type(exc).__name__
        except BaseException as exc:
            led.abandon(key, token, now, f"run stopped: {type(exc).__name__}")
            raise
        led.mark_sent(key, token, now, f"posted: {detail}")
        log.info("posted %s (%s) to %s via %s", key, row.kind, channel.where, host)
        self._outcome(report, channel, row, SENT, detail, job, label)
        return ""

    # ------------------------------------------------------------ reporting

    def _outcome(
        self,
        report: ChannelReport,
        channel: Channel,
        row: LedgerRow,
        state: str,
        detail: str,
        job: str,
        label: str,
        after: LedgerRow | None = None,
    ) -> None:
        status = {
            SENT: "sent",
            UNKNOWN: "unknown",
            FAILED: "failed",
            "failed-permanent": "failed_permanent",
        }.get(state, "failed")
        report.outcomes.append(ChannelOutcome(row.key, channel.name, row.kind, status, detail))
        if status == "sent":
            action, result = f"{label} post sent", f"posted ({detail}), key {row.key}"
        elif status == "unknown":
            action = f"{label} post outcome unknown"
            result = (
                f"{detail}; not posted again automatically: look in the channel, then run "
                f"`ops-sheets review {row.key} --sent` or `--resend`"
            )
        elif status == "failed" and after is not None and after.next_attempt_at is not None:
            when = after.next_attempt_at.astimezone(self.settings.tz).strftime("%Y-%m-%d %H:%M")
            action, result = f"{label} post failed", f"{detail}; retry after {when}"
        else:
            action, result = f"{label} post failed", detail
            if status == "failed_permanent":
                report.problems.append(
                    MailProblem(
                        origin=Origin("config", None, f"channels.{channel.name}", row.key),
                        value=channel.name,
                        problem=f"{label} refused the post {row.key}: {detail}",
                        fix=f"check {channel.where} (is the webhook still there?), then run "
                        f"`ops-sheets review {row.key} --resend`",
                    )
                )
        report.activity.append(
            ActivityEntry(
                time=_wall(),
                job=job,
                action=action,
                subject=row.subject,
                to=row.to,
                reference=row.reference or row.key,
                result=result,
            )
        )

    def _rejected(
        self,
        report: ChannelReport,
        channel: Channel,
        message: ChannelMessage,
        problem: str,
        job: str,
    ) -> None:
        key = post_key(message.key, channel.name)
        log.warning("not posting %s: %s", key, problem)
        report.outcomes.append(ChannelOutcome(key, channel.name, message.kind, "rejected", problem))
        report.problems.append(
            MailProblem(
                origin=Origin("templates", None, f"{message.kind}/channel.txt", key),
                value=message.kind,
                problem=problem,
                fix=f"fix the template; check with `ops-sheets preview {message.kind} "
                f"--channel {channel.name}`",
            )
        )


def default_http(channel: Channel, sleep: Callable[[float], None] = time.sleep) -> HttpPoster:
    """The channel's HTTP client as its config sets it (``sleep``: tests' hook)."""
    c = channel.config
    return HttpPoster(
        timeout=c.timeout_seconds,
        ca_file=channel.settings.resolve(c.ca_file) if c.ca_file else None,
        max_retries=c.max_retries,
        max_wait=c.max_retry_wait_seconds,
        sleep=sleep,
        where=channel.where,
    )


def post_to_channels(
    settings: Settings,
    ledger: Ledger,
    emails: Sequence[Any],
    *,
    job: str,
    now: datetime,
    http: HttpFactory | None = None,
) -> ChannelReport:
    """What the runner calls: the channels' share of a run's emails (``OutgoingEmail``),
    plus retries of earlier posts. Never raises an Exception."""
    messages = [ChannelMessage(e.kind, e.key, e.context, e.reference) for e in emails]
    return ChannelPoster(settings, ledger, http=http).deliver(messages, job=job, now=now)


def report_notes(report: ChannelReport) -> list[str]:
    """Lines for the run's printed summary: one per post that did not go out."""
    notes = [f"channels: {report.summary()}"] if report.outcomes else []
    for o in report.outcomes:
        if o.status in _BAD:
            notes.append(f"  {o.key or o.channel}: {o.status.replace('_', ' ')}: {o.detail}")
    return notes


def post_job_failure(settings: Settings, job: str, at: datetime, error: str) -> ChannelReport:
    """``serve``: one line to the channels that carry ``heartbeat_failure`` when a job
    run fails (key: job + minute, so a retried run posts once). Never raises."""
    from .compose import HEARTBEAT_FAILURE, heartbeat_context

    report = ChannelReport()
    if not any(HEARTBEAT_FAILURE in c.send for c in settings.channels.values()):
        return report
    key = f"job-failed:{job}:{at.astimezone(UTC):%Y%m%dT%H%MZ}"
    message = ChannelMessage(
        HEARTBEAT_FAILURE, key, heartbeat_context(settings.shop_name, job, at, error), job
    )
    try:
        with Ledger.from_settings(settings) as ledger:
            return ChannelPoster(settings, ledger).deliver([message], job=job, now=at)
    except Exception as exc:  # the service loop must go on
        log.error("could not post the failure of %s to the channels: %s", job, exc)
        return report


def describe_posts(settings: Settings, emails: Sequence[Any]) -> list[str]:
    """What a dry run prints: the posts each channel would make (nothing is posted)."""
    poster = ChannelPoster(settings, None)
    lines: list[str] = []
    for channel in channels_of(settings):
        for e in emails:
            message = ChannelMessage(e.kind, e.key, e.context, e.reference)
            try:
                posts = poster.compose(channel, message)
            except TemplateError as exc:
                lines.append(f"--- cannot post {e.kind} to {channel.where}: {exc}")
                continue
            if posts:
                lines.append(
                    f"--- would post {e.kind} [{posts[0].key}] to {channel.where} "
                    f"({channel.kind}, {len(posts)} request(s)): {posts[0].title}"
                )
    return lines
