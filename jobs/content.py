"""`content`: the Content plan kept — Ops status per post, reminders, overdue posts.

Thin on purpose: the rules live in :mod:`ops_sheets.domain.content`. This module
reads the Content plan tab, writes each post's ``Ops status`` where it changed
(found by Date + Channel + Title at write time), queues one ``content_reminder``
per post to its Owner, publishes overdue posts as findings (the manager's
alert and the Today tab) and remembers what it saw of each post (state
``content.posts``) for "published n days late" and the weekly email.

A shop without a Content plan tab has nothing to do here; a tab that cannot be
read whole (a required column missing) is left alone, and the findings
published before stay.
"""

from __future__ import annotations

import re
from datetime import date

from ops_sheets.domain.content import (
    POSTS_NAMESPACE,
    ContentPlan,
    overdue_findings,
    plan_content,
    read_posts,
    reminder_context,
    reminder_key,
)
from ops_sheets.domain.findings import computed_from, publish
from ops_sheets.mail.message import Origin
from ops_sheets.mail.postman import OutgoingEmail
from ops_sheets.service.runner import JobContext
from ops_sheets.sheet.tables import Problem

KIND = "content_reminder"
READS = ("content_plan",)
TABS = ("content_plan",)


def run(ctx: JobContext) -> None:
    table = ctx.tables["content_plan"]
    if not table.exists:
        ctx.note(f"no {table.title} tab: nothing to do (add one to plan posts)")
        publish(ctx.state, "content", [], ctx.now)
        return
    if not ctx.requires("Content plan Ops status, reminders", *TABS):
        publish(ctx.state, "content", [], ctx.now, unavailable=ctx.unavailable(*TABS))
        return
    rules = ctx.settings.jobs.content
    today = ctx.now.astimezone(ctx.tz).date()
    posts = read_posts(table.frame)
    memory = ctx.state.items(POSTS_NAMESPACE) if ctx.state is not None else {}
    plan = plan_content(posts, today, rules.remind_days_before, memory)

    for r in plan.rows:
        if r.changed:
            ctx.set("content_plan", r.post.write_key(), {"ops_status": r.ops_status})
    sent = _remind(ctx, plan, today, table.title, table.header("owner"))
    _missing_owners(ctx, plan, today, rules.remind_days_before, table.title, table.header("owner"))
    findings = overdue_findings(plan)
    publish(ctx.state, "content", computed_from(findings, TABS), ctx.now)
    if ctx.state is not None:
        for key, record in plan.memory.items():
            ctx.state.put(POSTS_NAMESPACE, key, record)

    counts: dict[str, int] = {}
    for r in plan.rows:
        # "OVERDUE 3 DAYS" → "overdue", "PUBLISHED 2 DAYS LATE" → "published late"
        word = re.sub(r" \d+ DAYS", "", r.ops_status).lower()
        counts[word] = counts.get(word, 0) + 1
    ctx.note(
        f"{len(plan.rows)} planned post(s): "
        + ", ".join(f"{n} {w}" for w, n in sorted(counts.items()))
        + (f"; reminders queued: {len(sent)}" if sent else "")
    )
    ctx.counts.update(
        {
            "content_posts": len(plan.rows),
            "content_overdue": len(plan.overdue),
            "content_reminders": len(sent),
        }
    )


def _remind(
    ctx: JobContext, plan: ContentPlan, today: date, title: str, owner_header: str
) -> list[str]:
    rules = ctx.settings.jobs.content
    queued = []
    for r in plan.reminders:
        post = r.post
        key = reminder_key(post, today)
        if ctx.deliveries.delivered(key):
            continue
        ctx.send(
            OutgoingEmail(
                kind=KIND,
                key=key,
                to=post.owner,
                context=reminder_context(
                    r, today, ctx.settings.shop_name, rules.remind_days_before
                ),
                origin=Origin(title, post.row, owner_header, post.key),
                reference=f"{post.day.isoformat()} {post.channel}: {post.title}",
            )
        )
        record = dict(plan.memory.get(post.key) or _memory(ctx, post.key))
        record["reminded_on"] = today.isoformat()
        plan.memory[post.key] = record
        queued.append(key)
    return queued


def _memory(ctx: JobContext, key: str) -> dict[str, object]:
    if ctx.state is None:
        return {}
    return dict(ctx.state.get(POSTS_NAMESPACE, key) or {})


def _missing_owners(
    ctx: JobContext, plan: ContentPlan, today: date, days: int, title: str, owner_header: str
) -> None:
    """A post due for a reminder with no Owner: a Problems row says whom to name."""
    if days <= 0:
        return
    for r in plan.rows:
        p = r.post
        if p.owner or p.status in ("READY", "SCHEDULED", "PUBLISHED", "SKIPPED"):
            continue
        if 0 <= (p.day - today).days <= days:
            ctx.problem(
                Problem(
                    title,
                    p.row,
                    owner_header,
                    p.key,
                    "",
                    "no Owner to remind about this post",
                    "type the email address of whoever prepares it",
                )
            )
