"""`ops-sheets run content`: Ops status per post, reminders to owners, overdue posts.

`now` is passed in every run; the state remembers what each run saw.
"""

from __future__ import annotations

from contextlib import closing
from datetime import date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from ops_sheets.config import Settings
from ops_sheets.domain.content import Post, plan_content, week_summary
from ops_sheets.domain.findings import current
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.store.state import State
from tests.conftest import LONDON, NOW

HEADER = ["Date", "Channel", "Title", "Owner", "Status", "Link", "Notes"]


def plan_tab(*rows: list[Any]) -> dict[str, list[list[Any]]]:
    return {"Content plan": [HEADER, *[list(r) for r in rows]]}


def posts() -> dict[str, list[list[Any]]]:
    # NOW is Mon 2026-11-23 09:00
    return plan_tab(
        ["2026-11-20", "Instagram", "Black Friday teaser", "sam@shop.example", "DRAFT", "", "a"],
        ["2026-11-23", "Blog", "Gift guide", "jo@shop.example", "READY", "", ""],
        ["2026-11-25", "Newsletter", "Advent <preview> & more", "kim@shop.example", "IDEA", "", ""],
        ["2026-11-24", "TikTok", "Packing video", "ali@shop.example", "SCHEDULED", "", ""],
        ["2026-12-10", "Blog", "Winter care", "jo@shop.example", "IDEA", "", ""],
        ["2026-11-18", "Instagram", "Mug restock", "sam@shop.example", "PUBLISHED", "", ""],
        ["2026-11-19", "Pinterest", "Board refresh", "", "SKIPPED", "", ""],
        ["2026-11-24", "Facebook", "Event", "", "DRAFT", "", ""],
    )


def outbox(settings: Settings) -> list[EmailMessage]:
    folder = settings.resolve(settings.mail.outbox_dir)
    files = sorted(folder.glob("content*.eml"))
    return [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in files]  # type: ignore[misc]


def statuses(wb: MemoryWorkbook) -> dict[str, str]:
    header, *rows = wb.values("Content plan")
    i, t = header.index("Ops status"), header.index("Title")
    return {r[t]: r[i] for r in rows}


def run(settings: Settings, wb: MemoryWorkbook, state: State, now: datetime = NOW):  # type: ignore[no-untyped-def]
    return run_job("content", settings, now, workbook=wb, state=state)


def test_each_post_gets_its_ops_status(settings: Settings, tmp_path: Path) -> None:
    wb = MemoryWorkbook(posts())
    with closing(State(tmp_path / "state.db")) as state:
        run(settings, wb, state)
    assert statuses(wb) == {
        "Black Friday teaser": "OVERDUE 3 DAYS",
        "Gift guide": "DUE TODAY",
        "Advent <preview> & more": "ON TRACK",
        "Packing video": "ON TRACK",
        "Winter care": "ON TRACK",
        "Mug restock": "PUBLISHED",  # first seen published: when it went out is unknown
        "Board refresh": "SKIPPED",
        "Event": "ON TRACK",
    }
    header = wb.values("Content plan")[0]
    assert header[-1] == "Ops status" and "Notes" in header  # added after the team's columns


def test_owners_are_reminded_once_within_the_days_before(
    settings: Settings, tmp_path: Path
) -> None:
    wb = MemoryWorkbook(posts())
    with closing(State(tmp_path / "state.db")) as state:
        first = run(settings, wb, state)
        run(settings, wb, state, NOW + timedelta(hours=3))
        run(settings, wb, state, NOW + timedelta(days=1))
        problems = [str(p) for p in first.problems]
    mails = outbox(settings)
    # Advent (2 days ahead, IDEA) only: Gift guide is READY, Packing video SCHEDULED,
    # Winter care too far ahead, Event has no Owner (a Problems row instead)
    assert [m["To"] for m in mails] == ["kim@shop.example"]
    [mail] = mails
    # (a subject this long is folded right after "Subject:"; unfolded it starts with a space)
    assert (
        mail["Subject"].strip()
        == "Content due in 2 days: Advent <preview> & more (Newsletter, Wed 25 Nov 2026)"
    )
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Advent &lt;preview&gt; &amp; more" in html and "<preview>" not in html
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "planned for Wed 25 Nov 2026, in 2 days" in text and "IDEA" in text
    assert any("no Owner to remind" in p and "Content plan" in p for p in problems)


def test_the_reminder_key_is_date_channel_title_and_day_sent(
    settings: Settings, tmp_path: Path
) -> None:
    wb = MemoryWorkbook(posts())
    with closing(State(tmp_path / "state.db")) as state:
        run(settings, wb, state)
    folder = settings.resolve(settings.mail.outbox_dir)
    [eml] = list(folder.glob("content*.eml"))
    assert "2026-11-25" in eml.name and "Newsletter" in eml.name and "2026-11-23" in eml.name


def test_overdue_posts_reach_the_alert_and_the_today_tab(
    settings: Settings, tmp_path: Path
) -> None:
    wb = MemoryWorkbook(posts())
    with closing(State(tmp_path / "state.db")) as state:
        run(settings, wb, state)
        findings = [f for f in current(state) if f.source == "content"]
    [f] = findings
    assert f.title == "Post overdue 3 day(s): Black Friday teaser (Instagram)"
    today = [r[2] for r in wb.values("Today")[1:]]
    assert any("Black Friday teaser" in w for w in today)


def test_a_post_published_after_its_date_is_published_late(
    settings: Settings, tmp_path: Path
) -> None:
    wb = MemoryWorkbook(posts())
    with closing(State(tmp_path / "state.db")) as state:
        run(settings, wb, state)  # Mon: the teaser (Fri) still DRAFT
        rows = wb.values("Content plan")
        rows[1][4] = "PUBLISHED"
        wb2 = MemoryWorkbook({"Content plan": rows})
        run(settings, wb2, state, NOW + timedelta(days=1))
        assert statuses(wb2)["Black Friday teaser"] == "PUBLISHED 3 DAYS LATE"
        overdue = [f.title for f in current(state) if f.source == "content"]
        assert not [t for t in overdue if "Black Friday" in t]
        assert overdue == ["Post overdue 1 day(s): Gift guide (Blog)"]  # READY, not out


def test_published_at_typed_by_the_team_wins(settings: Settings, tmp_path: Path) -> None:
    tab = {
        "Content plan": [
            [*HEADER, "Published at"],
            ["2026-11-20", "Blog", "On time", "a@x.example", "PUBLISHED", "", "", "2026-11-20"],
            ["2026-11-20", "Blog", "Late", "a@x.example", "PUBLISHED", "", "", "2026-11-22"],
        ]
    }
    wb = MemoryWorkbook(tab)
    with closing(State(tmp_path / "state.db")) as state:
        run(settings, wb, state)
    assert statuses(wb) == {"On time": "PUBLISHED", "Late": "PUBLISHED 2 DAYS LATE"}


def test_a_shop_without_a_content_plan_tab_has_nothing_to_do(
    settings: Settings, tmp_path: Path
) -> None:
    wb = MemoryWorkbook({"Stock": [["SKU", "On hand"], ["A", 1]]})
    with closing(State(tmp_path / "state.db")) as state:
        result = run(settings, wb, state)
    assert any("no Content plan tab" in n for n in result.notes)
    assert "Content plan" not in wb.tab_titles()


def test_the_week_summary_counts_planned_on_time_late_and_skipped() -> None:
    def post(day: str, title: str, status: str, published: str | None = None) -> Post:
        d = date.fromisoformat(day)
        p = date.fromisoformat(published) if published else None
        return Post(2, d, day, "Blog", title, status=status, published_at=p)

    week = [
        post("2026-11-16", "a", "PUBLISHED", "2026-11-16"),
        post("2026-11-17", "b", "PUBLISHED", "2026-11-19"),
        post("2026-11-18", "c", "SKIPPED"),
        post("2026-11-20", "d", "DRAFT"),
        post("2026-11-24", "e", "IDEA"),  # next week
    ]
    s = week_summary(week, date(2026, 11, 16), date(2026, 11, 22), date(2026, 11, 23), {})
    assert (s["planned"], s["published_on_time"], s["published_late"], s["skipped"]) == (4, 1, 1, 1)
    assert s["not_published"] == [
        {"title": "d", "channel": "Blog", "date": date(2026, 11, 20), "days": 3}
    ]


def test_a_post_seen_unpublished_on_its_date_is_not_called_late() -> None:
    p = Post(2, date(2026, 11, 23), "2026-11-23", "Blog", "x", status="DRAFT")
    first = plan_content([p], date(2026, 11, 23), 2, {})
    published = Post(2, date(2026, 11, 23), "2026-11-23", "Blog", "x", status="PUBLISHED")
    second = plan_content([published], date(2026, 11, 24), 2, first.memory)
    assert second.rows[0].ops_status == "PUBLISHED"


_ = LONDON
