"""The content plan: Ops status per post, reminders to owners, overdue posts.

Pure: the Content plan tab's frame, ``today`` and what the service remembers in,
a plan out. ``Ops status`` (contract values, plus SKIPPED for a skipped post):

* ``PUBLISHED`` / ``PUBLISHED n DAYS LATE`` — Status PUBLISHED; late by the days
  between the post's Date and the day it went out: ``Published at`` when the team
  types it, else *at least* the days the service still saw the post unpublished
  after its Date (it cannot know the hour it went out between two runs, so it
  never calls a post late that may have gone out on time);
* ``SKIPPED`` — Status SKIPPED;
* ``ON TRACK`` (Date after today), ``DUE TODAY``, ``OVERDUE n DAYS`` (Date
  passed, not published), whatever the Status otherwise.

A reminder (``content_reminder``) goes to the post's Owner once, on the first
run within ``remind_days_before`` days of its Date (the Date itself included)
while the post is not READY, SCHEDULED, PUBLISHED or SKIPPED. Its key is
``content:<Date>|<Channel>|<Title>|<day sent>`` (DESIGN: Date + Channel + Title
+ day sent); the day it was sent is remembered per post, so a post is reminded
once, and a post moved to a new Date is a new post.

Memory (state ``content.posts``, by post key ``<Date>|<Channel>|<Title>``):
``{"unpublished_on": "YYYY-MM-DD", "published_seen": ..., "reminded_on": ...}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from ops_sheets.domain.findings import Finding

POSTS_NAMESPACE = "content.posts"
DONE = frozenset({"PUBLISHED", "SKIPPED"})
NO_REMINDER = frozenset({"READY", "SCHEDULED", "PUBLISHED", "SKIPPED"})


@dataclass(frozen=True)
class Post:
    row: int
    day: date
    raw_date: str  # the Date cell as typed: the write-time key
    channel: str
    title: str
    owner: str = ""
    status: str = ""
    link: str = ""
    published_at: date | None = None
    ops_status: str = ""  # what the sheet shows now

    @property
    def key(self) -> str:
        return f"{self.day.isoformat()}|{self.channel}|{self.title}"

    def write_key(self) -> dict[str, str]:
        return {"date": self.raw_date, "channel": self.channel, "title": self.title}


@dataclass(frozen=True)
class PostStatus:
    post: Post
    ops_status: str
    overdue_days: int = 0
    late_days: int | None = None  # None: not published, or lateness unknown
    remind: bool = False

    @property
    def changed(self) -> bool:
        return self.post.ops_status != self.ops_status


@dataclass
class ContentPlan:
    rows: list[PostStatus] = field(default_factory=list)
    #: post key → memory record to store
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def reminders(self) -> list[PostStatus]:
        return [r for r in self.rows if r.remind]

    @property
    def overdue(self) -> list[PostStatus]:
        return [r for r in self.rows if r.overdue_days > 0]


def read_posts(frame: pd.DataFrame) -> list[Post]:
    """The usable rows of the tab (a row without a Date was reported and skipped)."""
    out = []
    for r in frame.to_dict("records"):
        day = _day(r.get("date"))
        if day is None:
            continue
        out.append(
            Post(
                row=int(r["_row"]),
                day=day,
                raw_date=str(r.get("_raw_date") or day.isoformat()),
                channel=_text(r.get("channel")),
                title=_text(r.get("title")),
                owner=_text(r.get("owner")),
                status=_text(r.get("status")).upper(),
                link=_text(r.get("link")),
                published_at=_day(r.get("published_at")),
                ops_status=_text(r.get("ops_status")),
            )
        )
    return out


def plan_content(
    posts: Iterable[Post],
    today: date,
    remind_days_before: int,
    memory: Mapping[str, Mapping[str, Any]],
) -> ContentPlan:
    plan = ContentPlan()
    for post in posts:
        before = dict(memory.get(post.key) or {})
        record = dict(before)
        if post.status != "PUBLISHED":
            record["unpublished_on"] = max(today.isoformat(), before.get("unpublished_on") or "")
        elif not before.get("published_seen"):
            record["published_seen"] = today.isoformat()
        status = _status(post, today, record)
        remind = (
            remind_days_before > 0
            and post.status not in NO_REMINDER
            and 0 <= (post.day - today).days <= remind_days_before
            and not before.get("reminded_on")
            and bool(post.owner)
        )
        plan.rows.append(
            PostStatus(
                post,
                status[0],
                overdue_days=status[1],
                late_days=status[2],
                remind=remind,
            )
        )
        if record != before:
            plan.memory[post.key] = record
    return plan


def _status(post: Post, today: date, record: Mapping[str, Any]) -> tuple[str, int, int | None]:
    if post.status == "SKIPPED":
        return "SKIPPED", 0, None
    if post.status == "PUBLISHED":
        late = late_days(post, record)
        if late:
            return f"PUBLISHED {late} DAYS LATE", 0, late
        return "PUBLISHED", 0, late
    days = (post.day - today).days
    if days > 0:
        return "ON TRACK", 0, None
    if days == 0:
        return "DUE TODAY", 0, None
    return f"OVERDUE {-days} DAYS", -days, None


def late_days(post: Post, record: Mapping[str, Any]) -> int | None:
    """Days late (0 = on time), None when it cannot be known."""
    if post.published_at is not None:
        return max(0, (post.published_at - post.day).days)
    seen = record.get("unpublished_on")
    if not seen:
        return None  # first seen already published: when it went out is unknown
    return max(0, (date.fromisoformat(seen) - post.day).days)


def reminder_key(post: Post, day_sent: date) -> str:
    return f"content:{post.day.isoformat()}|{post.channel}|{post.title}|{day_sent.isoformat()}"


def reminder_context(
    row: PostStatus, today: date, shop_name: str, remind_days_before: int
) -> dict[str, Any]:
    post = row.post
    days = (post.day - today).days
    return {
        "shop_name": shop_name,
        "title": post.title,
        "channel": post.channel,
        "date": post.day,
        "days_left": days,
        "status": post.status or "no status",
        "link": post.link,
        "owner": post.owner,
        "remind_days_before": remind_days_before,
    }


def overdue_findings(plan: ContentPlan) -> list[Finding]:
    out = []
    for r in plan.overdue:
        p = r.post
        reference = f"{p.day.isoformat()} {p.channel} {p.title}".replace(":", " ")
        out.append(
            Finding(
                key=f"content-overdue:{reference}",
                source="content",
                severity="warning",
                title=f"Post overdue {r.overdue_days} day(s): {p.title} ({p.channel})",
                detail=f"planned for {p.day.isoformat()}, Status {p.status or 'blank'}"
                + (f", owner {p.owner}" if p.owner else ""),
                action="publish it and set Status to PUBLISHED, or set SKIPPED",
                metric=float(r.overdue_days),
            )
        )
    return out


def week_summary(
    posts: Iterable[Post],
    monday: date,
    sunday: date,
    today: date,
    memory: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The weekly email's "content plan" section: posts dated in the week."""
    planned = on_time = late = skipped = 0
    not_published: list[dict[str, Any]] = []
    late_posts: list[dict[str, Any]] = []
    for p in posts:
        if not monday <= p.day <= sunday:
            continue
        planned += 1
        if p.status == "SKIPPED":
            skipped += 1
        elif p.status == "PUBLISHED":
            days = late_days(p, memory.get(p.key) or {})
            if days:
                late += 1
                late_posts.append({"title": p.title, "channel": p.channel, "days": days})
            else:
                on_time += 1
        else:
            not_published.append(
                {"title": p.title, "channel": p.channel, "date": p.day,
                 "days": max(0, (today - p.day).days)}
            )  # fmt: skip
    return {
        "planned": planned,
        "published_on_time": on_time,
        "published_late": late,
        "skipped": skipped,
        "late_posts": late_posts,
        "not_published": not_published,
    }


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def _day(v: Any) -> date | None:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return None
