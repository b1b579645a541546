"""The weekly email's product pages and content plan sections (issue 19)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import ops_sheets.jobs.listings as listings_job
import pytest
from test_job_monitor import outbox, text
from test_kpis import NOW, small_shop
from test_listings_job import SkippingClock, make_settings, page

from ops_sheets.service.page_server import Page, PageServer
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.store.state import State


def test_the_weekly_email_has_product_pages_and_the_weeks_content_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listings_job, "CLOCK", SkippingClock())
    settings = make_settings(tmp_path)
    tabs = small_shop()
    pages = {"/robots.txt": Page(404), "/bowl": page("microdata.html"), "/gone": Page(410)}
    with PageServer(pages) as server:
        tabs["Stock"][0] += ["URL"]
        for r, path in zip(tabs["Stock"][1:], ["/bowl", "/gone"], strict=False):
            r += [server.url(path)]
        tabs["Content plan"] = [
            ["Date", "Channel", "Title", "Owner", "Status", "Link"],
            ["2026-11-16", "Blog", "Autumn range", "a@x.example", "PUBLISHED", ""],
            ["2026-11-18", "Instagram", "Behind the kiln", "a@x.example", "SKIPPED", ""],
            ["2026-11-20", "Newsletter", "Black Friday", "a@x.example", "DRAFT", ""],
            ["2026-11-27", "Blog", "Next week", "a@x.example", "IDEA", ""],
        ]
        wb = MemoryWorkbook(tabs)
        with closing(State(tmp_path / "state.db")) as state:
            run_job("listings", settings, NOW, workbook=wb, state=state)
            result = run_job("weekly", settings, NOW, workbook=wb, state=state)
    assert result.error == ""
    [message] = outbox(settings, "weekly_")
    body = text(message)
    assert "Product pages: 2 checked, 0 OK, 1 in stock but none available, 1 page gone." in body
    assert (
        "Content plan: 3 posts planned this week, 1 published on time, 0 late, 1 skipped." in body
    )
    assert (
        "- not published: Black Friday (Newsletter), planned Fri 20 Nov 2026, 3 days overdue"
        in body
    )
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Product pages" in html and "Content plan" in html
