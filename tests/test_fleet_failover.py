"""Two `serve --shops` workers, one PostgreSQL, a real SMTP server (issue 21): the
worker running a shop's slot is killed with SIGKILL in the middle of sending; the
other takes the slot over once its lease runs out. No key is sent twice, and every
due key ends sent or waiting for review."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends import _xlsx_write
from mailfixtures import REPO, Behaviour, smtp_server
from storefixtures import fresh_schema

from ops_sheets.service.runner import JOB_NAMES
from ops_sheets.store.leases import SlotLeases
from ops_sheets.store.ledger import REVIEW_STATES, SENT, Ledger
from ops_sheets.store.location import PostgresLocation

SUPPLIERS = 6


def shop_tabs(n: int) -> dict[str, list[list[object]]]:
    """``n`` suppliers, each with one SKU out of stock: ``n`` purchase orders to send."""
    stock: list[list[object]] = [["SKU", "Product", "Supplier", "On hand"]]
    suppliers: list[list[object]] = [["Supplier", "Email"]]
    orders: list[list[object]] = [
        [
            "Order ID",
            "Order date",
            "Customer",
            "SKU",
            "Qty",
            "Status",
            "Address",
            "City",
            "Postcode",
            "Country",
            "Shipped at",
        ]
    ]
    for i in range(n):
        stock.append([f"K-{i}", f"Thing {i}", f"Sup{i}", 0])
        suppliers.append([f"Sup{i}", f"orders{i}@sup{i}.example.com"])
        orders.append(
            [f"SO-{i}", "2026-11-20 10:00", "Ann", f"K-{i}", 3, "shipped", "1 High St",
             "York", "YO1", "UK", "2026-11-20 16:00"]
        )  # fmt: skip
    return {
        "Stock": stock,
        "Suppliers": suppliers,
        "Purchase orders": [["PO number", "Supplier", "SKU", "Qty", "Status"]],
        "Orders": orders,
        "Returns": [["Return ID", "Order ID", "SKU", "Qty", "Status"]],
        "Forwarders": [["Forwarder", "Email", "Pickup cutoff", "Pickup days"]],
    }


def config(pg_url: str, schema: str, smtp_port: int) -> str:
    disabled = "".join(
        f"[jobs.{job}]\nenabled = false\n"
        for job in JOB_NAMES
        if job != "stock"  # every other bundled job off: only the purchase orders go out
    )
    return f"""\
timezone = "Europe/London"
[workbook]
backend = "xlsx"
path = "workbook.xlsx"
[mail]
transport = "smtp"
sender = "Ops <ops@shop.example.com>"
manager = "manager@shop.example.com"
[mail.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout_seconds = 10
[state]
path = "state.db"
url = "{pg_url}"
schema = "{schema}"
[serve]
lease_margin_seconds = 2
[jobs.stock]
schedule = "every 30 minutes"
approval = "auto"
timeout_minutes = 0.3
{disabled}"""


def worker(shops: Path, log: Path) -> subprocess.Popen[str]:
    """`ops-sheets serve --shops` in its own process group (killed whole, like a machine)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ops_sheets.service.cli", "serve", "--shops", str(shops),
         "--tick", "0.5"],
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,
    )  # fmt: skip


def wait_for(condition: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not true after {seconds} s")


def test_a_worker_killed_mid_run_is_taken_over_and_no_mail_goes_twice(
    tmp_path: Path, pg_url: str
) -> None:
    shops = tmp_path / "shops"
    folder = shops / "acme"
    folder.mkdir(parents=True)
    _xlsx_write(folder / "workbook.xlsx", shop_tabs(SUPPLIERS))
    schema = fresh_schema("failover")
    location = PostgresLocation(pg_url, schema)
    # each message is stored by the server, then answered a second later: a kill lands
    # between "the server has it" and "the worker knows"
    with smtp_server(Behaviour(data_delay=1.0)) as server:
        (folder / "config.toml").write_text(config(pg_url, schema, server.port), encoding="utf-8")
        first = worker(shops, tmp_path / "first.log")
        second: subprocess.Popen[str] | None = None
        try:
            wait_for(lambda: len(server.messages) >= 2, 60)
            os.killpg(first.pid, signal.SIGKILL)  # the worker and its run, at once
            first.wait(timeout=30)
            second = worker(shops, tmp_path / "second.log")

            def settled() -> bool:
                with Ledger(location) as ledger:
                    rows = [r for r in ledger.recent(100) if r.key.startswith("po:")]
                done = [r for r in rows if r.state == SENT or r.state in REVIEW_STATES]
                return len(rows) == SUPPLIERS and len(done) == SUPPLIERS

            wait_for(settled, 90)
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=60)
        delivered = Counter(server.keys())

    assert all(n == 1 for n in delivered.values()), f"sent twice: {delivered}"
    with Ledger(location) as ledger:
        rows = {r.key: r for r in ledger.recent(100) if r.key.startswith("po:")}
    sent = {k for k, r in rows.items() if r.state == SENT}
    review = {k for k, r in rows.items() if r.state in REVIEW_STATES}
    assert len(rows) == SUPPLIERS and sent | review == set(rows)
    assert sent <= set(delivered)  # what the ledger calls sent did arrive, once
    # the slot was taken over: its lease is finished, and by the second worker
    with SlotLeases(location) as leases:
        finished = [lease for lease in leases.all() if lease.job == "stock" and lease.finished_at]
    assert finished and all(lease.result in ("ok", "problems") for lease in finished)
    assert "stopped; running it here" in (tmp_path / "second.log").read_text()
    print(f"delivered {len(delivered)}, sent {len(sent)}, for review {sorted(review)}")
