"""A full cycle at scale (issue 14): one job and ``run all`` on 10k, 100k and 500k Orders lines.

Run: ``python -m benchmarks.bench_cycle`` (``--sizes 10000,100000``,
``--backends google,xlsx``, ``--jobs orders,stock``, ``--json FILE`` to keep the
figures, ``--cache-dir DIR`` for the generated workbooks).

The workbook is a shop with 365 days of orders over 5,000 SKUs (50 suppliers,
3 forwarders; purchase orders and returns in proportion, and one bad cell in
about a thousand Orders lines so the Problems path runs too). It is generated
here with numpy rather than by ``ops_sheets.service.demo_data``, whose story-driven
generator is built around a fixed 60-SKU catalogue and does not scale. Generated
files are cached between runs, keyed by size, so generation is never measured.
Before measuring, ``ops-sheets init`` adds the service tabs and columns: every
run below is the steady state of DESIGN.md's API-economy rule.

Every measured run is ``ops-sheets run JOB`` in a fresh child process on a fresh
copy of the workbook, with a fresh state, so its CPU time and peak RSS are its own:

* google: the sheet lives in the in-repo Sheets API emulator (in this process,
  so its work is not counted in the child). The job's first ``values:batchGet``
  is replayed on a fresh copy of the sheet to get the payload size and the CPU
  time of ``json.loads`` of it (best of 3): the floor a job's CPU is held to.
  Requests are counted by the emulator.
* xlsx: the reference is one ``openpyxl`` read-only load that reads every cell
  of the same file (a read-only load alone parses nothing). The child counts
  what it does to the file: reads (opens for reading, whatever the reader),
  loads (``openpyxl.load_workbook`` calls: each parses the workbook, from the
  file or from bytes already read) and writes (the file replaced or opened
  for writing, however the bytes were made).

Each job is measured twice: its first run on the prepared sheet (every Orders
row gets its service cells, so the write is as large as it gets), then the same
job again on the sheet as it left it (``<job> again``: the steady state of a
sheet the service has processed before, where few cells change).

Each ratio is printed next to its goal from issue 14, then the growth from one
size to the next. The CPU and RSS goals are set for 100k lines and more: at 10k
the interpreter's own start-up and imports (shown) still dominate. With all three
sizes a run takes well over an hour on 2 cores today; ``--sizes 10000`` takes minutes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import openpyxl

from ops_sheets.emulator import RequestInfo, SheetsEmulator

# -- the project's public entry points, in one place (update here when modules move)
from ops_sheets.service.cli import (
    main as ops_sheets_cli,  # `ops-sheets ...`, exactly as a user runs it
)

CellValue = str | int | float | bool | datetime | date | clock_time | None
Tabs = dict[str, list[list[CellValue]]]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (10_000, 100_000, 500_000)
DEFAULT_JOBS = ("orders", "stock")
NOW = datetime(2026, 11, 23, 9, 0)  # the demo's fixed "now", London wall clock
NOW_TEXT = NOW.isoformat(timespec="minutes")
TIMEZONE = "Europe/London"
HISTORY_DAYS = 365
SKUS = 5_000
SUPPLIERS = 50
BAD_CELL_EVERY = 4_000  # per kind of mistake, four kinds: ~1 bad line in 1,000
GENERATOR_VERSION = 2  # bump when the generated data changes, to refresh the cache

# Goals of issue 14
GOAL_JOB_CPU_PER_DECODE = 3.0
GOAL_RSS_PER_PAYLOAD = 4.0
GOAL_ALL_PER_JOB = 2.0
GOAL_XLSX_ALL_PER_LOAD = 3.0
GOAL_LOADS = 1
GOAL_SAVES = 1
GOAL_REQUESTS = 4
GOAL_WRITES = 2
GOALS_FROM_LINES = 100_000  # the CPU and RSS goals hold from this size up

TEAM_HEADERS: dict[str, tuple[str, ...]] = {  # DESIGN.md's team columns (contract)
    "Stock": (
        "SKU", "Product", "Supplier", "On hand", "Reorder point", "Max stock", "Safety stock",
        "Lead time days", "Pack size", "Min order qty", "Unit cost", "Price", "Active",
    ),
    "Suppliers": ("Supplier", "Email", "Contact", "Lead time days", "Min order value", "Notes"),
    "Purchase orders": (
        "PO number", "Supplier", "SKU", "Qty", "Unit cost", "Created at", "Expected by",
        "Status", "Received at",
    ),
    "Orders": (
        "Order ID", "Order date", "Customer", "Email", "Address", "City", "Postcode", "Country",
        "SKU", "Qty", "Unit price", "Forwarder", "Status", "Tracking", "Shipped at",
        "Delivered at",
    ),
    "Returns": (
        "Return ID", "Order ID", "SKU", "Qty", "Requested at", "Reason", "Condition", "Status",
        "Refund amount",
    ),
    "Forwarders": ("Forwarder", "Email", "Pickup cutoff", "Pickup days", "Account"),
}  # fmt: skip

# fmt: off
FORWARDERS = (  # name, email, cutoff, pickup days, account, tracking prefix
    ("Swiftpost Parcels", "collections@swiftpost.example", clock_time(15, 0), "Mon-Fri",
     "SWP-448120", "SP"),
    ("Northline Couriers", "pickups@northline.example", clock_time(16, 30), "Mon, Wed, Fri",
     "NLC/20931", "NL"),
    ("Channel Express Freight", "bookings@channelexpress.example", clock_time(12, 0), "Tue, Thu",
     "CXF-7781-EU", "CXF"),
)
FIRST_NAMES = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Sophie", "Grace", "Freya",
    "Oliver", "George", "Noah", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Theo", "Priya",
)
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Davies", "Patel", "Evans",
    "Walker", "Wright", "Khan", "Green", "Hall", "Clarke", "Wood", "Turner", "Hill",
)
UK_CITIES = (("London", "SE1"), ("Manchester", "M14"), ("Leeds", "LS6"), ("Bristol", "BS6"),
             ("Glasgow", "G12"), ("Cardiff", "CF10"), ("York", "YO10"), ("Bath", "BA1"))
EU_PLACES = (("France", "Paris", "75019"), ("Germany", "Berlin", "10999"),
             ("Ireland", "Dublin", "D06 A9A9"), ("Netherlands", "Amsterdam", "1016 AA"))
REASONS = ("damaged", "wrong size", "not as described", "changed mind", "faulty")
CONDITIONS = ("as new", "opened", "damaged")
# fmt: on


# ---------------------------------------------------------------- the generated shop


def _datetimes(seconds_since_start: np.ndarray) -> list[datetime | None]:
    """Seconds after the start of the history (NaN for blank) as naive London datetimes."""
    start = np.datetime64(NOW - timedelta(days=HISTORY_DAYS), "s")
    blank = np.isnan(seconds_since_start)
    stamps = start + np.where(blank, 0, seconds_since_start).astype("timedelta64[s]")
    stamps[blank] = np.datetime64("NaT")
    return stamps.astype("datetime64[s]").tolist()


def generate_tabs(lines: int, seed: int = 14) -> Tabs:
    """The six team tabs (header row first) of a shop with ``lines`` Orders lines."""
    rng = np.random.default_rng(seed)
    history_s = HISTORY_DAYS * 86_400

    # catalogue: SKU i belongs to supplier i % SUPPLIERS; a few SKUs sell most
    sku_names = np.array([f"SKU-{i:05d}" for i in range(1, SKUS + 1)], dtype=object)
    supplier_names = [f"Supplier {k:02d}" for k in range(1, SUPPLIERS + 1)]
    popularity = 1 / rng.permutation(np.arange(1, SKUS + 1)) ** 0.8  # Zipf-like: top SKU ~4 %
    popularity /= popularity.sum()
    pack = rng.choice(np.array([1, 6, 12, 24]), SKUS, p=[0.3, 0.3, 0.3, 0.1])
    cost = np.round(rng.uniform(1.0, 30.0, SKUS), 2)
    price = np.round(cost * rng.uniform(2.0, 3.5, SKUS), 2)
    supplier_lead = rng.integers(7, 29, SUPPLIERS)

    # orders: 1-4 lines each, oldest first, as a team appends them
    per_order = rng.integers(1, 5, size=lines // 2 + 2)
    order_of = np.repeat(np.arange(per_order.size), per_order)[:lines]
    orders = int(order_of[-1]) + 1
    placed_s = np.sort(rng.integers(0, history_s, orders)).astype(float)
    age_s = history_s - placed_s
    customers = max(100, orders // 3)
    customer = rng.integers(0, customers, orders)
    r = rng.random(orders)
    old, recent = age_s > 7 * 86_400, age_s > 2 * 86_400
    status_o = np.where(
        old,
        np.where(r < 0.02, "CANCELLED", np.where(r < 0.025, "SHIPPED", "DELIVERED")),
        np.where(
            recent,
            np.where(r < 0.05, "READY", np.where(r < 0.65, "SHIPPED", "DELIVERED")),
            np.where(
                r < 0.4,
                "NEW",
                np.where(
                    r < 0.65,
                    "PACKED",
                    np.where(r < 0.9, "READY", np.where(r < 0.92, "ON HOLD", "SHIPPED")),
                ),
            ),
        ),
    ).astype(object)
    shipped_o = np.isin(status_o, ("SHIPPED", "DELIVERED"))
    ship_after = np.minimum(rng.uniform(0.05, 0.5, orders) * age_s, 2 * 86_400)
    deliver_after = np.minimum(rng.uniform(0.2, 0.9, orders) * (age_s - ship_after), 4 * 86_400)
    shipped_s = np.where(shipped_o, placed_s + ship_after, np.nan)
    delivered_s = np.where(status_o == "DELIVERED", shipped_s + deliver_after, np.nan)

    in_eu = rng.random(customers) < 0.1
    first = np.array(FIRST_NAMES, dtype=object)[np.arange(customers) % len(FIRST_NAMES)]
    last = np.array(LAST_NAMES, dtype=object)[
        (np.arange(customers) // len(FIRST_NAMES)) % len(LAST_NAMES)
    ]
    uk = [UK_CITIES[c % len(UK_CITIES)] for c in range(customers)]
    eu = [EU_PLACES[c % len(EU_PLACES)] for c in range(customers)]
    c_name = [f"{f} {la}" for f, la in zip(first, last, strict=True)]
    c_email = [
        f"{f.lower()}.{la.lower()}{c}@mail.example"
        for c, (f, la) in enumerate(zip(first, last, strict=True))
    ]
    c_address = [
        f"{1 + c % 180} {('High Street', 'Station Road', 'Mill Lane')[c % 3]}"
        for c in range(customers)
    ]
    c_city = [eu[c][1] if in_eu[c] else uk[c][0] for c in range(customers)]
    c_post = [eu[c][2] if in_eu[c] else f"{uk[c][1]} {c % 10}AB" for c in range(customers)]
    c_country = [eu[c][0] if in_eu[c] else "United Kingdom" for c in range(customers)]
    forwarder_o = np.where(
        in_eu[customer], 2, np.where(rng.random(orders) < 0.7, 0, 1)
    )  # EU orders go by the groupage forwarder

    sku = rng.choice(SKUS, lines, p=popularity)
    while True:  # a SKU twice in one order would be a duplicate key: take the next SKU
        _, first_seen = np.unique(order_of * SKUS + sku, return_index=True)
        repeated = np.setdiff1d(np.arange(lines), first_seen)
        if not repeated.size:
            break
        sku[repeated] = (sku[repeated] + 1) % SKUS
    qty = (1 + rng.poisson(0.4, lines)).astype(object)
    cust_l = customer[order_of]
    fwd_l = forwarder_o[order_of]
    tracking = [
        f"{FORWARDERS[f][5]}{o + 100_000_000:09d}" if s else None
        for f, o, s in zip(
            fwd_l.tolist(), order_of.tolist(), shipped_o[order_of].tolist(), strict=True
        )
    ]
    order_cols: list[list[CellValue]] = [
        [f"SO-{o + 100_000}" for o in order_of.tolist()],
        _datetimes(placed_s[order_of]),
        [c_name[c] for c in cust_l.tolist()],
        [c_email[c] for c in cust_l.tolist()],
        [c_address[c] for c in cust_l.tolist()],
        [c_city[c] for c in cust_l.tolist()],
        [c_post[c] for c in cust_l.tolist()],
        [c_country[c] for c in cust_l.tolist()],
        sku_names[sku].tolist(),
        qty.tolist(),
        price[sku].tolist(),
        [FORWARDERS[f][0] for f in fwd_l.tolist()],
        status_o[order_of].tolist(),
        tracking,
        _datetimes(shipped_s[order_of]),
        _datetimes(delivered_s[order_of]),
    ]
    # Mistakes people make, so every run has Problems rows to write: an impossible
    # date, a quantity in words, an email without "@", a SKU that is not on Stock.
    for column, bad in (
        (1, "31/02/2026"),
        (9, "two"),
        (3, "no-at-sign.mail.example"),
        (8, "SKU-99999"),
    ):
        for row in rng.choice(lines, max(1, lines // BAD_CELL_EVERY), replace=False).tolist():
            order_cols[column][row] = bad
    order_rows = [list(row) for row in zip(*order_cols, strict=True)]

    # stock sized on the last 56 days of sales: some run low, some have plenty
    sold = np.isin(status_o[order_of], ("CANCELLED",), invert=True) & (
        age_s[order_of] <= 56 * 86_400
    )
    daily = np.bincount(sku[sold], weights=qty[sold].astype(float), minlength=SKUS) / 56
    on_hand = np.maximum(np.floor(daily * rng.uniform(5, 60, SKUS)), rng.integers(0, 12, SKUS))
    on_hand[rng.random(SKUS) < 0.03] = 0
    active = np.where(rng.random(SKUS) < 0.02, "no", "yes")
    stock_rows: list[list[CellValue]] = [
        [
            sku_names[i],
            f"Product {i + 1}",
            supplier_names[i % SUPPLIERS],
            int(on_hand[i]),
            None,
            None,
            None,
            None,
            int(pack[i]),
            None,
            float(cost[i]),
            float(price[i]),
            str(active[i]),
        ]
        for i in range(SKUS)
    ]
    stock_rows[17][3] = "twelve"

    supplier_rows: list[list[CellValue]] = [
        [
            name,
            f"orders@supplier{k + 1:02d}.example",
            f"Contact {k + 1}",
            int(supplier_lead[k]),
            (None, 100.0, 250.0)[k % 3],
            "",
        ]
        for k, name in enumerate(supplier_names)
    ]

    # purchase orders: 5 lines each, one line per 10 Orders lines
    po_lines = max(500, lines // 10)
    pos = po_lines // 5
    po_supplier = rng.integers(0, SUPPLIERS, pos)
    po_created_s = np.sort(rng.integers(0, history_s, pos)).astype(float)
    po_age_days = (history_s - po_created_s) / 86_400
    lead = supplier_lead[po_supplier]
    pr = rng.random(pos)
    po_status = np.where(
        po_age_days > lead + 7,
        np.where(pr < 0.05, "CANCELLED", "RECEIVED"),
        np.where(
            po_age_days <= 3,
            np.where(pr < 0.5, "DRAFT", "APPROVED"),
            np.where(pr < 0.4, "SENT", "CONFIRMED"),
        ),
    )
    po_received_s = np.where(
        po_status == "RECEIVED", po_created_s + (lead + rng.integers(-2, 5, pos)) * 86_400.0, np.nan
    )
    po_created = _datetimes(po_created_s)
    po_received = _datetimes(po_received_s)
    po_rows: list[list[CellValue]] = []
    for p in range(pos):
        offset = int(rng.integers(0, SKUS // SUPPLIERS))
        created = po_created[p]
        assert created is not None
        for t in range(5):
            i = int(po_supplier[p]) + SUPPLIERS * ((offset + 7 * t) % (SKUS // SUPPLIERS))
            po_rows.append(
                [
                    f"PO-{p + 1:06d}",
                    supplier_names[po_supplier[p]],
                    sku_names[i],
                    int(pack[i]) * int(rng.integers(1, 6)),
                    float(cost[i]),
                    created,
                    (created + timedelta(days=int(lead[p]))).date(),
                    str(po_status[p]),
                    po_received[p],
                ]
            )

    # returns: about 3 % of delivered lines, asked for within 25 days of delivery
    delivered_l = np.flatnonzero(np.asarray(order_cols[12], dtype=object) == "DELIVERED")
    returned = np.sort(rng.choice(delivered_l, int(len(delivered_l) * 0.03), replace=False))
    requested_s = delivered_s[order_of[returned]] + rng.uniform(1, 25, len(returned)) * 86_400
    keep = requested_s < history_s
    returned, requested_s = returned[keep], requested_s[keep]
    by_time = np.argsort(requested_s, kind="stable")
    returned, requested_s = returned[by_time], requested_s[by_time]
    request_age = (history_s - requested_s) / 86_400
    rr = rng.random(len(returned))
    return_status = np.where(
        request_age > 10,
        np.where(rr < 0.15, "REJECTED", "REFUNDED"),
        np.where(request_age > 2, np.where(rr < 0.5, "APPROVED", "RECEIVED"), "REQUESTED"),
    )
    requested = _datetimes(requested_s)
    return_rows: list[list[CellValue]] = []
    new_requests = 0
    for k, line in enumerate(returned.tolist()):
        status = str(return_status[k])
        new_requests += status == "REQUESTED"
        reason = REASONS[int(rr[k] * 1000) % len(REASONS)]
        unit_price = float(price[sku[line]])
        return_rows.append(
            [
                # every other new request is still unnumbered: the returns job numbers it
                None if status == "REQUESTED" and new_requests % 2 else f"RMA-{k + 1:06d}",
                order_cols[0][line],
                order_cols[8][line],
                1,
                requested[k],
                reason,
                "damaged" if reason == "damaged" else CONDITIONS[k % 2],
                status,
                unit_price if status == "REFUNDED" else None,
            ]
        )

    forwarder_rows: list[list[CellValue]] = [list(f[:5]) for f in FORWARDERS]
    bodies = {
        "Stock": stock_rows,
        "Suppliers": supplier_rows,
        "Purchase orders": po_rows,
        "Orders": order_rows,
        "Returns": return_rows,
        "Forwarders": forwarder_rows,
    }
    return {title: [list(TEAM_HEADERS[title]), *rows] for title, rows in bodies.items()}


def write_xlsx(path: Path, tabs: Tabs) -> None:
    book = openpyxl.Workbook(write_only=True)  # streams rows: fast enough for 500k lines
    for title, rows in tabs.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)


@dataclass
class Shop:
    """One size, ready to measure: the workbook after ``init`` and its grids for the emulator."""

    lines: int
    xlsx: Path  # after `ops-sheets init`: service tabs and columns are there
    tabs: Tabs  # the same workbook as rows of values
    cells: int  # rows × used columns, summed over the tabs
    xlsx_mb: float  # file size


def cached_team_workbook(lines: int, cache_dir: Path) -> tuple[Path, Path]:
    """The generated xlsx and a pickle of its rows, made once per size and generator version."""
    stem = cache_dir / f"shop-{lines}-v{GENERATOR_VERSION}"
    xlsx, rows = stem.with_suffix(".xlsx"), stem.with_suffix(".pickle")
    if xlsx.exists() and rows.exists():
        return xlsx, rows
    cache_dir.mkdir(parents=True, exist_ok=True)
    progress(f"generating {lines:,} Orders lines into {cache_dir} (once; not measured)")
    tabs = generate_tabs(lines)
    write_xlsx(xlsx.with_suffix(".tmp.xlsx"), tabs)
    with rows.with_suffix(".tmp").open("wb") as fh:
        pickle.dump(tabs, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(rows.with_suffix(".tmp"), rows)
    os.replace(xlsx.with_suffix(".tmp.xlsx"), xlsx)
    return xlsx, rows


def prepare_shop(lines: int, cache_dir: Path, work: Path) -> Shop:
    """Copy the cached workbook, run ``init`` on it, and build the same grids for the emulator.

    ``init`` only adds tabs and header cells, so the emulator's grids are the
    generated rows under the headers ``init`` left in the file.
    """
    team_xlsx, team_rows = cached_team_workbook(lines, cache_dir)
    folder = work / f"prepared-{lines}"
    folder.mkdir()
    xlsx = folder / "workbook.xlsx"
    shutil.copyfile(team_xlsx, xlsx)
    config = write_config(folder, backend="xlsx")
    run_child("init", config)
    with team_rows.open("rb") as fh:
        team: Tabs = pickle.load(fh)  # our own cache file
    book = openpyxl.load_workbook(xlsx, read_only=True)
    tabs: Tabs = {}
    for sheet in book.worksheets:
        header = list(next(sheet.iter_rows(max_row=1, values_only=True), ()))
        while header and header[-1] is None:
            header.pop()
        body = team.get(sheet.title, [[]])[1:]
        generated = team.get(sheet.title, [[]])[0]
        if header[: len(generated)] != generated:
            raise SystemExit(f"init changed the team headers of {sheet.title!r}: {header}")
        tabs[sheet.title] = [header, *body]
    book.close()
    cells = sum(len(rows) * max(len(r) for r in rows) for rows in tabs.values())
    return Shop(lines, xlsx, tabs, cells, xlsx.stat().st_size / 1e6)


def write_config(folder: Path, *, backend: str, spreadsheet_id: str = "") -> Path:
    workbook = (
        # The emulator is pure Python and shares the cores with the job: a big write
        # may take it minutes, which must not turn into a retried or failed job.
        f'backend = "google"\nspreadsheet_id = "{spreadsheet_id}"\n'
        "request_timeout_seconds = 600\ndeadline_seconds = 3600"
        if backend == "google"
        else 'backend = "xlsx"\npath = "workbook.xlsx"'
    )
    path = folder / "config.toml"
    path.write_text(
        f"""shop_name = "Bench & Co"
timezone = "{TIMEZONE}"
currency = "GBP"

[workbook]
{workbook}

[mail]
transport = "outbox"
outbox_dir = "outbox"
sender = "Bench Ops <ops@bench.example>"
manager = "manager@bench.example"

[state]
path = "state.db"

[jobs.stock]
delivery_address = "Bench & Co, 1 Dock Road, Leeds LS1 1AA"
""",
        encoding="utf-8",
    )
    return path


# ---------------------------------------------------------------- one measured run (child)


@dataclass
class ChildRun:
    """What one child process measured about itself."""

    cpu_s: float  # process CPU time of the measured part only
    startup_cpu_s: float  # interpreter start and imports, before it
    max_rss_kib: int  # peak RSS of the whole child
    startup_rss_kib: int  # RSS once the imports are done
    reads: int = 0  # xlsx: the workbook file opened for reading
    loads: int = 0  # xlsx: openpyxl.load_workbook calls (from the file or from its bytes)
    writes: int = 0  # xlsx: the workbook file replaced or opened for writing
    exit_code: int = 0  # of `ops-sheets run`: 1 just means Problems rows were found
    failed_jobs: list[str] = field(default_factory=list)
    jobs_run: int = 0


def count_workbook_io(counts: Counter[str], workbook: Path) -> None:
    """Count the reads, openpyxl loads and writes of ``workbook`` in this process."""
    import builtins
    import io

    import openpyxl.reader.excel
    from openpyxl.workbook.workbook import Workbook

    target = os.path.realpath(workbook)

    def is_workbook(file: object) -> bool:
        if not isinstance(file, str | os.PathLike):
            return False  # a file descriptor or a buffer: not a path
        path = os.fspath(file)
        return isinstance(path, str) and os.path.realpath(path) == target

    # pathlib, zipfile and openpyxl open files through io.open; plain code through open
    original_open = io.open

    def counting_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if is_workbook(file):
            counts["writes" if set(mode) & set("wax+") else "reads"] += 1
        return original_open(file, mode, *args, **kwargs)

    io.open = builtins.open = counting_open  # type: ignore[assignment]

    # a careful writer saves to a temp file and renames it over the workbook
    def counting(rename: Callable[..., None]) -> Callable[..., None]:
        def wrapper(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if is_workbook(dst):
                counts["writes"] += 1
            rename(src, dst, *args, **kwargs)

        return wrapper

    os.replace, os.rename = counting(os.replace), counting(os.rename)  # type: ignore[assignment]

    original_load = openpyxl.reader.excel.load_workbook

    def load_workbook(*args: object, **kwargs: object) -> Workbook:
        counts["loads"] += 1
        return original_load(*args, **kwargs)  # type: ignore[arg-type]

    # `from openpyxl import load_workbook` binds the function in the importing module
    for module in list(sys.modules.values()):
        try:
            if getattr(module, "load_workbook", None) is original_load:
                module.load_workbook = load_workbook  # type: ignore[attr-defined]
        except Exception:  # a lazy module that cannot be inspected: not ours
            continue


def read_every_cell(path: Path) -> int:
    """The xlsx reference: one read-only load that reads every value of every tab."""
    book = openpyxl.load_workbook(path, read_only=True)
    cells = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells += len(row)
    book.close()
    return cells


def peak_rss_kib() -> int:
    """Peak RSS of this process since its exec.

    Not ``ru_maxrss``: Linux carries it across exec, so a child started by a
    parent that holds a large emulated sheet would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # elsewhere: the best there is


def child_main(mode: str, config: Path, job: str, out: Path) -> int:
    startup_cpu = time.process_time()
    startup_rss = peak_rss_kib()
    counts: Counter[str] = Counter()
    count_workbook_io(counts, config.parent / "workbook.xlsx")
    code = 0
    started = time.process_time()
    if mode == "load":
        read_every_cell(config.parent / "workbook.xlsx")
    elif mode == "init":
        code = ops_sheets_cli(["init", "--config", str(config)])
    else:
        code = ops_sheets_cli(["run", job, "--config", str(config), "--now", NOW_TEXT])
    cpu = time.process_time() - started
    run = ChildRun(
        cpu_s=cpu,
        startup_cpu_s=startup_cpu,
        max_rss_kib=peak_rss_kib(),
        startup_rss_kib=startup_rss,
        reads=counts["reads"],
        loads=counts["loads"],
        writes=counts["writes"],
        exit_code=code,
    )
    out.write_text(json.dumps(asdict(run)), encoding="utf-8")
    return 0


def run_child(
    mode: str,
    config: Path,
    job: str = "",
    env: Mapping[str, str] | None = None,
    tag: str = "",
) -> ChildRun:
    """Run one measured step in a fresh interpreter; its output goes to files beside the config."""
    folder = config.parent
    name = f"{mode}-{job or 'none'}{'-' + tag if tag else ''}"
    out = folder / f"measured-{name}.json"
    stdout, stderr = folder / f"{name}.out", folder / f"{name}.err"
    command = [sys.executable, "-m", "benchmarks.bench_cycle", "--child", mode]
    command += ["--child-config", str(config), "--child-job", job, "--child-out", str(out)]
    with stdout.open("wb") as so, stderr.open("wb") as se:
        done = subprocess.run(
            command, cwd=REPO, env={**os.environ, **(env or {})}, stdout=so, stderr=se, check=False
        )
    if done.returncode != 0 or not out.exists():
        tail = stderr.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"bench_cycle: the {mode} {job} run failed:\n{tail}")
    run = ChildRun(**json.loads(out.read_text(encoding="utf-8")))
    errors = stderr.read_text(encoding="utf-8", errors="replace").splitlines()
    if run.exit_code >= 2:  # 1 only means Problems rows; 2 is a config or usage error
        tail = "\n".join(errors[-20:])
        raise SystemExit(f"bench_cycle: ops-sheets {mode} {job} exited {run.exit_code}:\n{tail}")
    run.failed_jobs = [line for line in errors if " failed: " in line]
    printed = stdout.read_text(encoding="utf-8", errors="replace").splitlines()
    results = [line for line in printed if line.startswith("results: ")]
    run.jobs_run = len(results[-1].split(",")) if results else 1
    return run


# ---------------------------------------------------------------- the two backends (parent)


@dataclass
class JobFigures:
    job: str
    cpu_s: float
    startup_cpu_s: float
    max_rss_mib: float
    startup_rss_mib: float
    jobs_run: int = 1
    failed: list[str] = field(default_factory=list)
    # google
    payload_mb: float = 0.0  # the job's first values:batchGet answer
    decode_s: float = 0.0  # json.loads of it, best of 3
    reads: int = 0
    writes: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    # xlsx
    reads: int = 0
    loads: int = 0
    writes: int = 0

    @classmethod
    def of(cls, job: str, run: ChildRun) -> JobFigures:
        return cls(
            job,
            run.cpu_s,
            run.startup_cpu_s,
            run.max_rss_kib / 1024,
            run.startup_rss_kib / 1024,
            jobs_run=run.jobs_run,
            failed=run.failed_jobs,
            reads=run.reads,
            loads=run.loads,
            writes=run.writes,
        )


@dataclass
class BackendFigures:
    backend: str
    jobs: list[JobFigures]  # the single jobs, then `all`
    reference_s: float = 0.0  # xlsx: one read-only load of every cell

    def job(self, name: str) -> JobFigures:
        return next(j for j in self.jobs if j.job == name)


class EmulatedSheet:
    """Fresh copies of one shop in the emulator, one at a time (a 500k sheet is big)."""

    def __init__(self, emulator: SheetsEmulator, shop: Shop) -> None:
        self.emulator, self.shop = emulator, shop
        self.sheet_id = ""

    def fresh(self) -> str:
        if self.sheet_id:
            self.emulator.store.delete(self.sheet_id)
        self.sheet_id = self.emulator.create_spreadsheet(
            title=f"bench {self.shop.lines}", sheets=self.shop.tabs, time_zone=TIMEZONE
        )
        self.emulator.reset_counts()
        return self.sheet_id

    def replay(self, query: Mapping[str, list[str]]) -> bytes:
        """The body of a values:batchGet with this query, on the current sheet."""
        connection = http.client.HTTPConnection(self.emulator.host, self.emulator.port)
        path = f"/v4/spreadsheets/{self.sheet_id}/values:batchGet?{urlencode(query, doseq=True)}"
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        if response.status != 200:
            raise SystemExit(f"bench_cycle: replaying the batchGet answered {response.status}")
        return body


def decode_seconds(payload: bytes) -> float:
    """CPU time of json.loads of the payload in this thread (the emulator serves from another)."""
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        json.loads(payload)
        best = min(best, time.thread_time() - started)
    return best


@contextmanager
def capturing_batch_gets(emulator: SheetsEmulator) -> Iterator[list[dict[str, list[str]]]]:
    """The query of every values:batchGet the emulator serves meanwhile."""
    queries: list[dict[str, list[str]]] = []

    def watch(info: RequestInfo) -> bool:
        if info.is_batch_get:
            queries.append({k: list(v) for k, v in info.query.items()})
        return False  # observe only: the hook's action never runs

    emulator.before_request(watch, lambda _target: None, once=False)
    try:
        yield queries
    finally:
        emulator.clear_hooks()


def measure_google(
    emulator: SheetsEmulator, shop: Shop, jobs: Sequence[str], work: Path
) -> BackendFigures:
    sheet = EmulatedSheet(emulator, shop)
    figures: list[JobFigures] = []
    for job in [*jobs, "all"]:
        folder = work / f"google-{shop.lines}-{job}"
        folder.mkdir()
        sheet_id = sheet.fresh()
        config = write_config(folder, backend="google", spreadsheet_id=sheet_id)
        progress(f"google  {shop.lines:>9,}  run {job}")
        with capturing_batch_gets(emulator) as queries:
            run = run_child("run", config, job, env={"SHEETS_EMULATOR_HOST": emulator.host_port})
        one = _with_requests(JobFigures.of(job, run), emulator.requests)
        # the same run again, on the sheet as it left it: the steady state of a shop
        # whose sheet the service has processed before (few cells change)
        progress(f"google  {shop.lines:>9,}  run {job} again")
        emulator.reset_counts()
        again = run_child(
            "run", config, job, env={"SHEETS_EMULATOR_HOST": emulator.host_port}, tag="again"
        )
        runs = [one, _with_requests(JobFigures.of(next_run(job), again), emulator.requests)]
        if queries:  # the job's first read, replayed on an untouched copy
            sheet.fresh()
            payload = sheet.replay(queries[0])
            for figure in runs:
                figure.payload_mb = len(payload) / 1e6
                figure.decode_s = decode_seconds(payload)
            del payload
        figures += runs
    emulator.store.delete(sheet.sheet_id)
    return BackendFigures("google", figures)


def next_run(job: str) -> str:
    """The label of a job's second run, on the sheet as its first run left it."""
    return f"{job} again"


def _with_requests(figure: JobFigures, requests: Sequence[RequestInfo]) -> JobFigures:
    figure.reads = sum(1 for r in requests if r.kind == "read")
    figure.writes = sum(1 for r in requests if r.kind == "write")
    figure.operations = dict(Counter(r.operation for r in requests))
    return figure


def measure_xlsx(shop: Shop, jobs: Sequence[str], work: Path) -> BackendFigures:
    def folder_with_copy(name: str) -> Path:
        folder = work / f"xlsx-{shop.lines}-{name}"
        folder.mkdir()
        shutil.copyfile(shop.xlsx, folder / "workbook.xlsx")
        return write_config(folder, backend="xlsx")

    progress(f"xlsx    {shop.lines:>9,}  read-only load of every cell")
    reference = run_child("load", folder_with_copy("load"))
    figures: list[JobFigures] = []
    for job in [*jobs, "all"]:
        progress(f"xlsx    {shop.lines:>9,}  run {job}")
        config = folder_with_copy(job)
        figures.append(JobFigures.of(job, run_child("run", config, job)))
        progress(f"xlsx    {shop.lines:>9,}  run {job} again")  # on the file as it left it
        figures.append(JobFigures.of(next_run(job), run_child("run", config, job, tag="again")))
    return BackendFigures("xlsx", figures, reference_s=reference.cpu_s)


# ---------------------------------------------------------------- the report


@dataclass
class Line:
    label: str
    value: str
    ratio: str = ""
    goal: str = ""
    verdict: str = ""


def verdict(ok: bool, applies: bool = True) -> str:
    if not applies:
        return "(info)"
    return "ok" if ok else "OVER"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def google_lines(shop: Shop, figures: BackendFigures, jobs: Sequence[str]) -> list[Line]:
    applies = shop.lines >= GOALS_FROM_LINES
    out: list[Line] = []
    for name in [n for job in jobs for n in (job, next_run(job))]:
        j = figures.job(name)
        cpu_x, rss_x = ratio(j.cpu_s, j.decode_s), ratio(j.max_rss_mib, j.payload_mb / 1.048576)
        out += [
            Line(f"{name}: batchGet payload", f"{j.payload_mb:.1f} MB"),
            Line(f"{name}: json.loads of it", f"{j.decode_s:.3f} s", "best of 3"),
            Line(
                f"{name}: CPU",
                f"{j.cpu_s:.2f} s",
                f"{cpu_x:.1f}× json.loads",
                f"≤ {GOAL_JOB_CPU_PER_DECODE:g}×",
                verdict(cpu_x <= GOAL_JOB_CPU_PER_DECODE, applies),
            ),
            Line(
                f"{name}: peak RSS",
                f"{j.max_rss_mib:.0f} MiB",
                f"{rss_x:.1f}× payload",
                f"≤ {GOAL_RSS_PER_PAYLOAD:g}×",
                verdict(rss_x <= GOAL_RSS_PER_PAYLOAD, applies),
            ),
            requests_line(name, j.reads + j.writes, j.writes, 1, j.operations),
        ]
    out += all_lines(figures, jobs)
    for label in ("all", next_run("all")):
        a = figures.job(label)
        out.append(
            requests_line(f"run {label}", a.reads + a.writes, a.writes, a.jobs_run, a.operations)
        )
    return out


def requests_line(
    label: str, total: int, writes: int, jobs: int, operations: Mapping[str, int]
) -> Line:
    per_job, writes_per_job = total / max(jobs, 1), writes / max(jobs, 1)
    ops = ", ".join(f"{n} {op}" for op, n in sorted(operations.items()))
    return Line(
        f"{label}: requests (writes)",
        f"{total} ({writes})",
        f"{per_job:.1f} ({writes_per_job:.1f}) per job" + (f" × {jobs}" if jobs > 1 else ""),
        f"≤ {GOAL_REQUESTS} (≤ {GOAL_WRITES})",
        verdict(per_job <= GOAL_REQUESTS and writes_per_job <= GOAL_WRITES) + f"  [{ops}]",
    )


def all_lines(figures: BackendFigures, jobs: Sequence[str]) -> list[Line]:
    out: list[Line] = []
    for label, one_job in (("all", jobs[0]), (next_run("all"), next_run(jobs[0]))):
        a, one = figures.job(label), figures.job(one_job)
        x = ratio(a.cpu_s, one.cpu_s)
        out += [
            Line(
                f"run {label}: CPU",
                f"{a.cpu_s:.2f} s",
                f"{x:.1f}× {one.job}",
                f"≤ {GOAL_ALL_PER_JOB:g}×",
                verdict(x <= GOAL_ALL_PER_JOB),
            ),
            Line(f"run {label}: peak RSS", f"{a.max_rss_mib:.0f} MiB"),
        ]
    return out


def xlsx_lines(shop: Shop, figures: BackendFigures, jobs: Sequence[str]) -> list[Line]:
    load = figures.reference_s
    out = [Line("openpyxl read-only load, every cell", f"{load:.2f} s")]
    for name in [n for job in jobs for n in (job, next_run(job))]:
        j = figures.job(name)
        out += [
            Line(f"{name}: CPU", f"{j.cpu_s:.2f} s", f"{ratio(j.cpu_s, load):.1f}× load"),
            Line(f"{name}: peak RSS", f"{j.max_rss_mib:.0f} MiB"),
            file_line(name, j),
        ]
    out += all_lines(figures, jobs)
    for label in ("all", next_run("all")):
        a = figures.job(label)
        x = ratio(a.cpu_s, load)
        out += [
            Line(
                f"run {label}: CPU vs load",
                f"{a.cpu_s:.2f} s",
                f"{x:.1f}× load",
                f"≤ {GOAL_XLSX_ALL_PER_LOAD:g}×",
                verdict(x <= GOAL_XLSX_ALL_PER_LOAD),
            ),
            file_line(f"run {label}", a),
        ]
    return out


def file_line(label: str, j: JobFigures) -> Line:
    # every save re-reads the file first (the key re-read before a write, which
    # issue 14 allows): reads beyond the one load are those
    ok = j.loads <= GOAL_LOADS and j.reads <= GOAL_LOADS + j.writes and j.writes <= GOAL_SAVES
    return Line(
        f"{label}: reads / loads / writes",
        f"{j.reads} / {j.loads} / {j.writes}",
        f"{j.jobs_run} jobs" if j.jobs_run > 1 else "",
        f"≤ {GOAL_LOADS}+writes / ≤ {GOAL_LOADS} / ≤ {GOAL_SAVES}",
        verdict(ok),
    )


def print_table(title: str, lines: Sequence[Line]) -> None:
    header = Line(title, "measured", "ratio", "goal", "")
    widths = [
        max(len(getattr(x, f)) for x in [header, *lines])
        for f in ("label", "value", "ratio", "goal")
    ]
    for x in [header, *lines]:
        cells = (x.label, x.value, x.ratio, x.goal)
        print(
            "  "
            + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
            + "  "
            + x.verdict
        )


def print_size(shop: Shop, results: Mapping[str, BackendFigures], jobs: Sequence[str]) -> None:
    print()
    print(
        f"{shop.lines:,} Orders lines: {shop.cells / 1e6:.2f} M cells in {len(shop.tabs)} tabs, "
        f"xlsx {shop.xlsx_mb:.1f} MB"
    )
    if "google" in results:
        print_table("google (Sheets API emulator)", google_lines(shop, results["google"], jobs))
    if "xlsx" in results:
        print_table("xlsx", xlsx_lines(shop, results["xlsx"], jobs))
    for figures in results.values():
        for j in figures.jobs:
            for failure in j.failed:  # the figures of a run that crashed mean little
                print(f"  {figures.backend} run {j.job}: {failure}")
    one = next(iter(results.values())).job(jobs[0])
    print(
        f"  (each child's start-up and imports, not counted in CPU above: "
        f"{one.startup_cpu_s:.2f} s CPU, {one.startup_rss_mib:.0f} MiB RSS)"
    )
    if shop.lines < GOALS_FROM_LINES:
        print(f"  (CPU and RSS goals marked (info) hold from {GOALS_FROM_LINES:,} lines up)")


Metric = tuple[str, str, Callable[[BackendFigures], float], str]


def growth_metrics(jobs: Sequence[str]) -> list[Metric]:
    metrics: list[Metric] = [
        ("google", f"{jobs[0]}: batchGet payload", lambda f: f.job(jobs[0]).payload_mb, "MB"),
        ("google", f"{jobs[0]}: json.loads", lambda f: f.job(jobs[0]).decode_s, "s"),
        ("xlsx", "read-only load", lambda f: f.reference_s, "s"),
    ]
    for backend in ("google", "xlsx"):
        for name in [n for job in [*jobs, "all"] for n in (job, next_run(job))]:
            metrics.append((backend, f"{name}: CPU", lambda f, n=name: f.job(n).cpu_s, "s"))
            metrics.append(
                (backend, f"{name}: peak RSS", lambda f, n=name: f.job(n).max_rss_mib, "MiB")
            )
    return metrics


def print_growth(
    sizes: Sequence[int], results: Mapping[int, Mapping[str, BackendFigures]], jobs: Sequence[str]
) -> None:
    if len(sizes) < 2:
        return
    factors = ", ".join(f"×{b / a:g}" for a, b in pairwise(sizes))
    print()
    print(f"Growth with the number of lines ({factors}; linear growth shows the same factors)")
    rows: list[list[str]] = [["", *[f"{s:,} lines" for s in sizes]]]
    for backend, label, value_of, unit in growth_metrics(jobs):
        if backend not in results[sizes[0]]:
            continue
        values = [value_of(results[s][backend]) for s in sizes]
        cells = [f"{values[0]:.2f} {unit}"]
        cells += [f"{v:.2f} {unit} (×{ratio(v, p):.1f})" for p, v in pairwise(values)]
        rows.append([f"{backend} {label}", *cells])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- entry point


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_cycle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="Orders lines, comma-separated (default %(default)s)",
    )
    parser.add_argument(
        "--backends", default="google,xlsx", help="google, xlsx or both (default %(default)s)"
    )
    parser.add_argument(
        "--jobs",
        default=",".join(DEFAULT_JOBS),
        help="jobs to measure one by one, besides `run all`; `run all` is compared with the "
        "first (default %(default)s)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "ops-sheets-bench-cycle",
        help="where generated workbooks are kept between runs (default %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    # the measured child process (this module runs itself)
    parser.add_argument("--child", choices=("run", "init", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--child-config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-job", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return args
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(
            f"--sizes: whole numbers separated by commas, e.g. 10000,100000 (got {args.sizes!r})"
        )
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.backends or set(args.backends) - {"google", "xlsx"}:
        parser.error(f"--backends: google, xlsx or google,xlsx (got {','.join(args.backends)!r})")
    args.jobs = [j.strip() for j in args.jobs.split(",") if j.strip() and j.strip() != "all"]
    if not args.jobs:
        parser.error("--jobs: name at least one job, e.g. orders")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        sys.exit(child_main(args.child, args.child_config, args.child_job, args.child_out))
    sizes: list[int] = args.sizes
    results: dict[int, dict[str, BackendFigures]] = {}
    shops: dict[int, Shop] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp, SheetsEmulator() as emulator:
        work = Path(tmp)
        for lines in sizes:
            shop = prepare_shop(lines, args.cache_dir, work)
            shops[lines] = shop
            results[lines] = {}
            if "google" in args.backends:
                results[lines]["google"] = measure_google(emulator, shop, args.jobs, work)
            if "xlsx" in args.backends:
                results[lines]["xlsx"] = measure_xlsx(shop, args.jobs, work)
            print_size(shop, results[lines], args.jobs)
            shop.tabs = {}  # the next size's grids replace these
    print_growth(sizes, results, args.jobs)
    if args.json:
        data = {
            str(lines): {
                "cells": shops[lines].cells,
                "xlsx_mb": round(shops[lines].xlsx_mb, 2),
                **{b: asdict(f) for b, f in by_backend.items()},
            }
            for lines, by_backend in results.items()
        }
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
