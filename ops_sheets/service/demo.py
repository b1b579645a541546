"""``ops-sheets demo``: a sample shop in a folder, every job run once, a summary.

The demo is the embedded default end to end: an .xlsx workbook and an outbox
folder, no network. It runs at a fixed "now" (Monday 2026-11-23 09:00 London) so
that what it shows is the same on every machine and every day.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ops_sheets.config import Settings, load_settings
from ops_sheets.errors import UsageError
from ops_sheets.service.init_sheet import init_workbook
from ops_sheets.service.page_server import Page, PageServer
from ops_sheets.service.runner import jobs_for, parse_now, print_result, run_job

if TYPE_CHECKING:
    from ops_sheets.service.demo_data import DemoFacts

DEMO_TZ = ZoneInfo("Europe/London")
DEMO_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=DEMO_TZ)

# Only what the demo itself makes is removed when it is run again, and only from
# a folder the demo made (it leaves this marker): a real workbook is never lost.
_DEMO_FILES = ("config.toml", "workbook.xlsx", "state.db", "state.db-wal", "state.db-shm")
_MARKER = ".ops-sheets-demo"


def reset_demo_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    made_by_demo = (directory / _MARKER).is_file()
    if not made_by_demo and any(directory.iterdir()):
        raise UsageError(
            f"{directory} is not empty and was not made by `ops-sheets demo`; the demo "
            "would replace files there. Give it a new or empty folder: --dir ops-demo"
        )
    for name in _DEMO_FILES:
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / "outbox", ignore_errors=True)
    shutil.rmtree(directory / "slips", ignore_errors=True)  # packing slips (issue 22)
    (directory / _MARKER).write_text("made by ops-sheets demo; safe to delete\n")


def run_demo(directory: Path, now_text: str | None = None) -> int:
    from ops_sheets.service.demo_data import build_demo_workbook, write_demo_config

    now = parse_now(now_text, DEMO_TZ) if now_text else DEMO_NOW
    reset_demo_dir(directory)
    config_path = write_demo_config(directory)
    settings = load_settings(config_path)
    # issue 19: the shop's product pages, served by the demo itself on 127.0.0.1
    with demo_page_server() as pages:
        facts = build_demo_workbook(
            settings.resolve(settings.workbook.path), now, shop_url=pages.url("")
        )
        pages.pages.update({p: Page(body=b) for p, b in facts.listing_pages.items()})
        return _run_demo(directory, now, config_path, settings, facts, pages.port)


def demo_page_server() -> PageServer:
    """The demo shop's website: robots.txt and the product pages (added once built)."""
    return PageServer({"/robots.txt": Page(body=b"User-agent: *\nDisallow: /checkout\n")})


def _run_demo(
    directory: Path,
    now: datetime,
    config_path: Path,
    settings: Settings,
    facts: DemoFacts,
    port: int,
) -> int:
    print(f"ops-sheets demo: a sample shop in {directory}/, as of {now:%A %Y-%m-%d %H:%M %Z}")
    print(
        f"  {facts.skus} SKUs, {facts.suppliers} suppliers, {facts.forwarders} forwarders, "
        f"{facts.order_lines} order lines, {facts.returns} returns, "
        f"{len(facts.mistakes)} deliberate data mistakes"
    )
    for line in init_workbook(settings):
        print(f"  init: {line}")
    print(
        f"  {len(facts.listed_skus)} product pages served by the demo on 127.0.0.1:{port} "
        "while it runs; a Content plan tab"
    )
    result = None
    for name in jobs_for(["all"], settings):
        result = run_job(name, settings, now)
        print_result(result, out=lambda s: print("  " + s), problems=False)
    _approve_and_rerun_stock(settings, now)
    found = result.problems if result is not None else []
    print()
    print(f"The sheet has {len(found)} problem(s) (every job lists them on the Problems tab):")
    for p in found:
        print(f"  - {p}")
    problems = len(found)
    outbox = settings.resolve(settings.mail.outbox_dir)
    emails = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
    print()
    print("Where to look:")
    print(
        f"  {settings.resolve(settings.workbook.path)}  "
        f"(open it; the Problems tab lists {problems} rows)"
    )
    print(f"  {outbox}/  ({len(emails)} emails; open index.html in a browser)")
    print(f"  {settings.resolve(settings.state.path)}  (the ledger and job history)")
    slips_dir = settings.jobs.orders.packing_slips_dir
    if slips_dir:
        slips = sorted(settings.resolve(slips_dir).glob("*.pdf"))
        print(
            f"  {settings.resolve(slips_dir)}/  ({len(slips)} packing slips; the Pick list "
            "tab says what to take from which shelf)"
        )
    print("Try next:")
    print(f"  ops-sheets run check --config {config_path} --dry-run")
    print(f"  ops-sheets status --config {config_path}")
    return 0


def _approve_and_rerun_stock(settings: Settings, now: datetime) -> None:
    """What the team does next: approve some DRAFT PO lines in the sheet, then the
    stock job emails them (their Status turns SENT once the email is out)."""
    if settings.workbook.backend != "xlsx":
        return
    path = settings.resolve(settings.workbook.path)
    lines, pos = approve_demo_drafts(path, now)
    if not lines:
        return
    print(f"  the team approves {lines} DRAFT line(s) of {', '.join(pos)}; stock runs again:")
    result = run_job("stock", settings, now)
    for line in result.notes:
        if "emailing" in line:
            print(f"    {line}")
    if result.delivery is not None:
        print(f"    mail: {result.delivery.summary()}")


def approve_demo_drafts(path: Path, now: datetime, pos: int = 2) -> tuple[int, list[str]]:
    """Set Status APPROVED on every DRAFT line of the first ``pos`` POs created today,
    as a person would in the sheet; returns how many lines, and those PO numbers."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    ws = book["Purchase orders"]
    header = [str(c.value or "").strip().casefold() for c in ws[1]]
    number_col, status_col = header.index("po number"), header.index("status")
    prefix = f"PO-{now:%Y%m%d}-"
    chosen: list[str] = []
    lines = 0
    for row in ws.iter_rows(min_row=2):
        number, status = row[number_col].value, row[status_col].value
        if not (isinstance(number, str) and number.startswith(prefix) and status == "DRAFT"):
            continue
        if number not in chosen:
            if len(chosen) == pos:
                continue
            chosen.append(number)
        row[status_col].value = "APPROVED"
        lines += 1
    if chosen:
        book.save(path)
    return lines, chosen
