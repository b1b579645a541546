"""`ops-sheets run returns` end to end, on memory, xlsx and Google (through the emulator).

Each backend is driven the same way: a shop is laid out, the job runs through
`run_job`, and a person may edit a tab between the job's read and its write
(sorting, inserting, retyping). Rows are identified in assertions by the team's
own `Ref` column, which the service never touches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook as OpenpyxlBook
from openpyxl import load_workbook

from ops_sheets.config import Settings
from ops_sheets.domain.findings import current
from ops_sheets.emulator import SheetsEmulator
from ops_sheets.service.runner import run_job
from ops_sheets.sheet.tables import ACTIVITY_LOG, PROBLEMS, RETURNS, TODAY, layout_headers
from ops_sheets.sheet.workbook.base import ChangeSet, TabSnapshot, Workbook
from ops_sheets.sheet.workbook.google import GoogleWorkbook
from ops_sheets.sheet.workbook.memory import MemoryWorkbook
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook
from ops_sheets.store.state import State

Rows = list[list[Any]]
Change = Callable[[Rows], Rows]

RETURNS_HEADER = [
    "Return ID",
    "Order ID",
    "SKU",
    "Qty",
    "Requested at",
    "Reason",
    "Condition",
    "Status",
    "Refund amount",
    "Ref",
]


def at(day: str, hhmm: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"2026-{day} {hhmm}")


def shop_tabs(extra: int = 0) -> dict[str, Rows]:
    """A small shop whose Returns tab has every case; ``extra`` adds returns (and orders)."""
    orders: Rows = [
        [
            "Order ID",
            "Order date",
            "Customer",
            "Email",
            "SKU",
            "Qty",
            "Unit price",
            "Status",
            "Shipped at",
            "Delivered at",
        ],
        [
            "SO-1",
            at("11-18"),
            "Ann Lee",
            "ann@example.com",
            "A-1",
            2,
            12.5,
            "DELIVERED",
            at("11-19", "16:00"),
            at("11-20", "12:00"),
        ],
        [
            "SO-2",
            at("09-28"),
            "Bob Roe",
            "bob@example.com",
            "B-2",
            1,
            20,
            "DELIVERED",
            at("09-30", "16:00"),
            at("10-01", "12:00"),
        ],
        [
            "SO-3",
            at("11-15"),
            "Cat Poe",
            "cat@example.com",
            "A-1",
            1,
            12.5,
            "DELIVERED",
            at("11-17", "16:00"),
            at("11-18", "12:00"),
        ],
        [
            "SO-3",
            at("11-15"),
            "Cat Poe",
            "cat@example.com",
            "C-3",
            1,
            30,
            "DELIVERED",
            at("11-17", "16:00"),
            at("11-18", "12:00"),
        ],
    ]
    orders += [
        [
            f"F-{i:02d}",
            at("10-30"),
            "Dan Doe",
            "dan@example.com",
            "C-3",
            1,
            30,
            "DELIVERED",
            at("11-01", "16:00"),
            at("11-03", "12:00"),
        ]
        for i in range(25)
    ]
    orders += [
        [
            f"X-{i:04d}",
            at("11-10"),
            "Eve Moe",
            "eve@example.com",
            "B-2",
            1,
            20,
            "DELIVERED",
            at("11-11", "16:00"),
            at("11-12", "12:00"),
        ]
        for i in range(extra)
    ]
    returns: Rows = [
        RETURNS_HEADER,
        [None, "SO-1", "A-1", 1, at("11-22"), "chipped", None, "REQUESTED", None, "new"],
        [
            None,
            "SO-2",
            "B-2",
            1,
            at("11-22", "11:00"),
            "changed mind",
            None,
            "REQUESTED",
            None,
            "late",
        ],
        [
            "RMA-2026-0005",
            "SO-3",
            "A-1",
            1,
            at("11-21"),
            "wrong colour",
            None,
            "APPROVED",
            None,
            "typed",
        ],
        [
            "RMA-2026-0041",
            "SO-3",
            "C-3",
            1,
            at("11-19"),
            "changed mind",
            "As new",
            "RECEIVED",
            None,
            "restock",
        ],
    ]
    returns += [
        [
            f"RMA-2026-{10 + i:04d}",
            f"F-{i:02d}",
            "C-3",
            1,
            at("11-10"),
            "faulty",
            "opened",
            "REFUNDED",
            30,
            f"faulty-{i}",
        ]
        for i in range(4)
    ]
    # extra rows: half already numbered and done, half new requests (one per order line)
    returns += [
        [
            f"RMA-2025-{i:04d}" if i % 2 else None,
            f"X-{i:04d}",
            "B-2",
            1,
            at("11-20"),
            "changed mind",
            None,
            "REFUNDED" if i % 2 else "REQUESTED",
            None,
            f"extra-{i}",
        ]
        for i in range(extra)
    ]
    return {
        "Stock": [
            ["SKU", "Product", "Supplier", "On hand"],
            ["A-1", "Stoneware mug", "Acme", 10],
            ["B-2", "Serving bowl", "Acme", 5],
            ["C-3", "Milk frother", "Brewco", 4],
        ],
        "Suppliers": [
            ["Supplier", "Email"],
            ["Acme", "orders@acme.example"],
            ["Brewco", "sales@brewco.example"],
        ],
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Orders": orders,
        "Returns": returns,
        "Forwarders": [["Forwarder", "Email", "Pickup cutoff", "Pickup days"]],
    }


# ---------------------------------------------------------------- backends


@dataclass
class Backend:
    name: str
    workbook: Workbook
    values: Callable[[str], Rows]
    #: arrange for ``change`` to be applied to a tab between the job's read and its write
    edit_before_write: Callable[[str, Change], None]
    edit_now: Callable[[str, Change], None]
    #: (requests, writes) to the Sheets API so far; None where there is no API
    requests: Callable[[], tuple[int, int]] | None = None
    reset_requests: Callable[[], None] = lambda: None


class HookedXlsx(XlsxWorkbook):
    """The xlsx backend with a person editing the file just before the write's fresh look."""

    pending: Callable[[], None] | None = None

    def snapshot(self, changes: ChangeSet) -> dict[str, TabSnapshot]:
        if self.pending is not None:
            hook, self.pending = self.pending, None
            hook()
        return super().snapshot(changes)


def _memory(tabs: Mapping[str, Rows]) -> Backend:
    wb = MemoryWorkbook(tabs)

    def edit_now(tab: str, change: Change) -> None:
        wb.tabs[tab] = change(wb.values(tab))

    def later(tab: str, change: Change) -> None:
        wb.before_write = lambda _wb: edit_now(tab, change)

    return Backend(
        "memory",
        wb,
        wb.values,
        later,
        edit_now,
        requests=lambda: (wb.reads + wb.writes, wb.writes),
    )


def _xlsx(tabs: Mapping[str, Rows], path: Path) -> Backend:
    book = OpenpyxlBook()
    book.remove(book.active)
    for title, rows in tabs.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    book.save(path)
    wb = HookedXlsx(path)

    def values(tab: str) -> Rows:
        return [list(r) for r in load_workbook(path)[tab].iter_rows(values_only=True)]

    def edit_now(tab: str, change: Change) -> None:
        book = load_workbook(path)
        ws = book[tab]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        ws.delete_rows(1, ws.max_row)
        for row in change(rows):
            ws.append(row)
        book.save(path)

    def later(tab: str, change: Change) -> None:
        wb.pending = lambda: edit_now(tab, change)

    return Backend("xlsx", wb, values, later, edit_now)


def _google(tabs: Mapping[str, Rows], emulator: SheetsEmulator, settings: Settings) -> Backend:
    sid = emulator.create_spreadsheet(sheets=tabs)
    ss = emulator.spreadsheet(sid)
    google = dataclasses.replace(settings.workbook, backend="google", spreadsheet_id=sid)
    wb = GoogleWorkbook.from_settings(
        dataclasses.replace(settings, workbook=google), emulator=emulator.host_port
    )

    def values(tab: str) -> Rows:
        return ss.get_values(tab)

    def edit_now(tab: str, change: Change) -> None:
        old = ss.get_values(tab)
        new = change([list(r) for r in old])
        width = max(len(r) for r in [*old, *new])
        padded = [[*r, *[""] * (width - len(r))] for r in new]
        padded += [[""] * width for _ in range(len(old) - len(new))]
        ss.set_values(tab, "A1", padded)

    def later(tab: str, change: Change) -> None:
        def key_reread(info: Any) -> bool:
            # the write's look at header rows and key columns ('Tab'!1:1 first), not the
            # job's read (which takes two batchGets when a tab it asks for is missing)
            ranges = info.query.get("ranges", []) if info.is_batch_get else []
            return any(r.endswith("!1:1") for r in ranges)

        emulator.before_request(key_reread, lambda _info: edit_now(tab, change))

    return Backend(
        "google",
        wb,
        values,
        later,
        edit_now,
        requests=lambda: (emulator.count(), emulator.count("write")),
        reset_requests=emulator.reset_counts,
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[SheetsEmulator]:
    with SheetsEmulator() as emu:
        yield emu


MakeBackend = Callable[[Mapping[str, Rows]], Backend]


@pytest.fixture(params=["memory", "xlsx", "google"])
def make_backend(
    request: pytest.FixtureRequest, tmp_path: Path, settings: Settings
) -> Iterator[MakeBackend]:
    made: list[Backend] = []

    def make(tabs: Mapping[str, Rows]) -> Backend:
        if request.param == "memory":
            b = _memory(tabs)
        elif request.param == "xlsx":
            b = _xlsx(tabs, tmp_path / f"shop{len(made)}.xlsx")
        else:
            emu = request.getfixturevalue("emulator")
            emu.clear_hooks()
            b = _google(tabs, emu, settings)
        made.append(b)
        return b

    yield make
    for b in made:
        b.workbook.close()


@pytest.fixture
def state(settings: Settings) -> Iterator[State]:
    s = State(settings.resolve(settings.state.path))
    yield s
    s.close()


def with_returns(settings: Settings, **values: Any) -> Settings:
    jobs = dataclasses.replace(
        settings.jobs, returns=dataclasses.replace(settings.jobs.returns, **values)
    )
    return dataclasses.replace(settings, jobs=jobs)


def quiet(settings: Settings) -> Settings:
    return with_returns(settings, notify_customer=False)


# ---------------------------------------------------------------- reading results


def _blank(v: Any) -> Any:
    return None if v == "" else v


def by_ref(b: Backend) -> dict[str, dict[str, Any]]:
    """Returns rows by the team's Ref column: {header: value}, blanks as None."""
    header, *rows = b.values("Returns")
    ref = header.index("Ref")
    out = {}
    for r in rows:
        cells = [*r, *[None] * (len(header) - len(r))]
        if _blank(cells[ref]) is not None:
            out[str(cells[ref])] = {
                str(h): _blank(v) for h, v in zip(header, cells, strict=False) if h
            }
    return out


def outbox(settings: Settings) -> dict[str, Any]:
    folder = settings.resolve(settings.mail.outbox_dir)
    if not folder.is_dir():
        return {}
    return {
        p.name: BytesParser(policy=policy.default).parsebytes(p.read_bytes())
        for p in sorted(folder.glob("*.eml"))
    }


def sort_by_ref_desc(rows: Rows) -> Rows:
    header, *data = rows
    ref = header.index("Ref")
    return [header, *sorted(data, key=lambda r: str(r[ref]), reverse=True)]


# ---------------------------------------------------------------- tests


def test_blank_return_ids_get_numbers_on_their_own_rows_after_a_sort(
    make_backend: MakeBackend, settings: Settings, now: datetime, state: State
) -> None:
    b = make_backend(shop_tabs())

    def sort_and_insert(rows: Rows) -> Rows:
        header, *data = sort_by_ref_desc(rows)
        # a person types a new request at the top while the job runs: not seen, not touched
        return [
            header,
            [
                None,
                "SO-3",
                "C-3",
                1,
                at("11-23", "08:55"),
                "leaks",
                None,
                "REQUESTED",
                None,
                "typed-in",
            ],
            *data,
        ]

    b.edit_before_write("Returns", sort_and_insert)
    result = run_job("returns", quiet(settings), now, workbook=b.workbook, state=state)
    rows = by_ref(b)
    # numbers continue above the highest of the year already in the sheet (0041)
    assert rows["new"]["Return ID"] == "RMA-2026-0042"
    assert rows["late"]["Return ID"] == "RMA-2026-0043"
    assert rows["typed-in"]["Return ID"] is None and rows["typed-in"].get("Ops status") is None
    assert rows["new"]["Ops status"] == "IN WINDOW (day 2 of 30)"
    assert rows["late"]["Ops status"] == "OUTSIDE WINDOW by 22 days — decision needed"
    assert rows["typed"]["Return ID"] == "RMA-2026-0005"
    assert rows["typed"]["Ops status"] == "IN WINDOW (day 3 of 30)"
    assert rows["restock"]["Ops status"] == "RESTOCK +1 — update On hand"
    assert rows["faulty-0"]["Ops status"] == "DONE (refunded)"
    # team columns as they were
    assert [
        (r["Order ID"], r["SKU"], r["Reason"], r["Status"]) for r in (rows["new"], rows["late"])
    ] == [
        ("SO-1", "A-1", "chipped", "REQUESTED"),
        ("SO-2", "B-2", "changed mind", "REQUESTED"),
    ]
    assert result.write is not None and result.write.skipped == []
    assert "RMA numbers: RMA-2026-0042, RMA-2026-0043" in result.notes
    log = b.values("Activity log")
    assert [r[3] for r in log[1:] if r[2] == "RMA number"] == [
        "order SO-1 A-1 (row 2)",
        "order SO-2 B-2 (row 3)",
    ]


def test_rerunning_issues_no_new_numbers_and_sends_each_acknowledgement_once(
    make_backend: MakeBackend, settings: Settings, now: datetime, state: State
) -> None:
    b = make_backend(shop_tabs())
    first = run_job("returns", settings, now, workbook=b.workbook, state=state)
    b.edit_now("Returns", sort_by_ref_desc)
    second = run_job(
        "returns", settings, now + timedelta(hours=1), workbook=b.workbook, state=state
    )
    rows = by_ref(b)
    assert (rows["new"]["Return ID"], rows["late"]["Return ID"]) == (
        "RMA-2026-0042",
        "RMA-2026-0043",
    )
    assert second.counts["rma_assigned"] == 0
    assert state.next_in_sequence("rma-2026") == 44  # nothing taken by the second run
    mail = outbox(settings)
    # the new request and the team's APPROVED one; not the one outside the window
    assert sorted(mail) == ["rma_RMA-2026-0005.eml", "rma_RMA-2026-0042.eml"]
    ack = mail["rma_RMA-2026-0042.eml"]
    assert ack["To"] == "ann@example.com"
    assert "RMA-2026-0042" in ack["Subject"] and "SO-1" in ack["Subject"]
    text = ack.get_body(("plain",)).get_content()
    assert "Dear Ann Lee" in text and "1 x Stoneware mug" in text
    assert settings.jobs.returns.next_steps in text
    assert first.counts["acknowledgements"] == 2 and second.counts["acknowledgements"] == 0
    assert first.delivery is not None and sorted(first.delivery.sent) == [
        "rma:RMA-2026-0005",
        "rma:RMA-2026-0042",
    ]


def test_a_number_whose_write_was_skipped_is_reused_not_reissued(
    make_backend: MakeBackend, settings: Settings, now: datetime, state: State
) -> None:
    b = make_backend(shop_tabs())

    def retype_sku(rows: Rows) -> Rows:
        header, *data = rows
        sku, ref = header.index("SKU"), header.index("Ref")
        return [header, *[[*r[:sku], "A-9", *r[sku + 1 :]] if r[ref] == "new" else r for r in data]]

    b.edit_before_write("Returns", retype_sku)  # the row no longer matches its key at write time
    first = run_job("returns", quiet(settings), now, workbook=b.workbook, state=state)
    assert first.write is not None and [s.tab for s in first.write.skipped] == ["Returns"]
    assert by_ref(b)["new"]["Return ID"] is None

    b.edit_now("Returns", lambda rows: [[("A-1" if v == "A-9" else v) for v in r] for r in rows])
    second = run_job("returns", quiet(settings), now, workbook=b.workbook, state=state)
    rows = by_ref(b)
    assert rows["new"]["Return ID"] == "RMA-2026-0042"  # the number it was given the first time
    assert rows["late"]["Return ID"] == "RMA-2026-0043"
    assert second.counts["rma_assigned"] == 1
    assert state.next_in_sequence("rma-2026") == 44


def test_requests_per_run_stay_constant_in_the_number_of_rows(
    make_backend: MakeBackend, settings: Settings, now: datetime, tmp_path: Path
) -> None:
    counts = []
    for extra in (2, 150):
        b = make_backend(shop_tabs(extra))
        if b.requests is None:
            pytest.skip(f"{b.name} makes no API requests")
        # steady state: the service's tabs and columns exist already
        returns_headers = [*RETURNS_HEADER, *[c.header for c in RETURNS.service_columns]]
        b.workbook.ensure_layout(
            {
                "Returns": returns_headers,
                "Problems": layout_headers(PROBLEMS, settings),
                "Activity log": layout_headers(ACTIVITY_LOG, settings),
                "Today": layout_headers(TODAY, settings),
            }
        )
        b.reset_requests()
        before = b.requests()
        st = State(tmp_path / f"state{extra}.db")
        try:
            result = run_job("returns", quiet(settings), now, workbook=b.workbook, state=st)
        finally:
            st.close()
        after = b.requests()
        assert result.counts["rma_assigned"] == 2 + extra // 2
        counts.append((after[0] - before[0], after[1] - before[1]))
    assert counts[0] == counts[1]
    total, writes = counts[0]
    assert total <= 4 and writes <= 2


# ---------------------------------------------------------------- memory only


def test_possible_faulty_product_is_handed_to_monitor_through_the_state(
    settings: Settings, now: datetime, state: State
) -> None:
    wb = MemoryWorkbook(shop_tabs())
    result = run_job("returns", quiet(settings), now, workbook=wb, state=state)
    (f,) = [f for f in current(state) if f.source == "returns"]
    # 26 units of C-3 shipped in 90 days, 5 came back (4 faulty, 1 changed mind)
    assert f.key == "returns:faulty:C-3" and f.metric == 19.0
    assert f.title == "Possible faulty product: C-3 Milk frother, 19.2% returned in 90 days"
    assert "5 of 26 units" in f.detail and "faulty (4)" in f.detail
    assert any(n.startswith("possible faulty product: C-3") for n in result.notes)
    assert result.counts["faulty_products"] == 1
    rates = state.get("returns.rates", "latest")
    assert rates["alerts"] == ["C-3"] and rates["window_days"] == 90

    later = now + timedelta(days=120)  # the shipments have left the 90-day window
    run_job("returns", quiet(settings), later, workbook=wb, state=state)
    assert [f for f in current(state) if f.source == "returns"] == []


def test_rows_that_cannot_be_told_apart_are_reported_and_left_alone(
    settings: Settings, now: datetime, state: State
) -> None:
    tabs = shop_tabs()
    tabs["Returns"].append(
        # same order line, same Requested at: nothing tells the two rows apart
        [None, "SO-1", "A-1", 1, at("11-22"), "chipped", None, "REQUESTED", None, "twin"]
    )
    wb = MemoryWorkbook(tabs)
    result = run_job("returns", quiet(settings), now, workbook=wb, state=state)
    rows = by_ref(_memory_view(wb))
    assert rows["new"]["Return ID"] is None and rows["twin"]["Return ID"] is None
    assert rows["late"]["Return ID"] == "RMA-2026-0042"
    ambiguous = [p for p in result.problems if "cannot tell them apart" in p.problem]
    assert [(p.row, p.column) for p in ambiguous] == [(2, "Return ID"), (10, "Return ID")]


def test_dry_run_changes_nothing_and_takes_no_numbers(settings: Settings, now: datetime) -> None:
    wb = MemoryWorkbook(shop_tabs())
    before = wb.values("Returns")
    result = run_job("returns", settings, now, workbook=wb, dry_run=True)
    assert wb.values("Returns") == before and wb.writes == 0
    assert "'Returns'!A2: (blank) → 'RMA-2026-0042'" in result.dry_run_lines
    assert any("provisional" in n for n in result.notes)
    assert not settings.resolve(settings.state.path).exists()
    assert outbox(settings) == {}


def _memory_view(wb: MemoryWorkbook) -> Backend:
    return Backend("memory", wb, wb.values, lambda *_: None, lambda *_: None)
