"""Time the xlsx backend on a realistic team workbook: 10,000 rows × 16 columns.

Run: ``python -m benchmarks.bench_xlsx`` (optionally ``--rows N --updates N``).
Prints the time of one ``read`` of the tab and of one ``write`` of key-addressed
updates (the shape of a job's single batched write-back), written both ways: in
place (only the changed worksheet part is rewritten, the default) and by re-saving
the whole file through openpyxl (what every write did before, and what a write that
creates tabs or draws charts still does).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from openpyxl import Workbook as OpenpyxlBook
from openpyxl.styles import Font, PatternFill

from ops_sheets.sheet.workbook.base import ChangeSet, Update
from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

HEADERS = [
    "SKU", "Product", "Supplier", "On hand", "Reorder point", "Max stock",
    "Safety stock", "Lead time days", "Pack size", "Min order qty", "Unit cost",
    "Price", "Active", "Stock value", "Notes", "Updated",
]  # fmt: skip


def build(path: Path, rows: int) -> None:
    book = OpenpyxlBook()
    ws = book.active
    ws.title = "Stock"
    ws.append(HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEEFF")
    start = datetime(2026, 1, 1)
    for i in range(rows):
        r = i + 2
        ws.append([
            f"SKU-{i:05d}", f"Product {i}", f"Supplier {i % 40}", i % 97, 10, 200, 5,
            7, 6, 12, 2.5 + i % 10, 9.99, True, f"=D{r}*K{r}", "team note",
            start + timedelta(hours=i),
        ])  # fmt: skip
    ws.freeze_panes = "A2"
    book.create_sheet("Notes").append(["Keep this tab"])
    book.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--updates", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.xlsx"
        build(path, args.rows)
        wb = XlsxWorkbook(path)

        t0 = time.perf_counter()
        grids = wb.read(["Stock"])
        t_read = time.perf_counter() - t0
        assert len(grids["Stock"].rows) == args.rows + 1

        changes = ChangeSet()
        changes.declare("Stock", ["SKU", "Stock status"], ["SKU"])
        step = max(1, args.rows // args.updates)
        for i in range(0, step * args.updates, step):
            changes.updates.append(Update("Stock", {"SKU": f"SKU-{i:05d}"}, {"Stock status": "OK"}))
        whole = Path(tmp) / "whole.xlsx"
        shutil.copy(path, whole)
        size = path.stat().st_size / 1e6

        t0 = time.perf_counter()
        report = wb.write(changes)
        t_write = time.perf_counter() - t0
        assert not report.skipped

        openpyxl_wb = XlsxWorkbook(whole)
        openpyxl_wb.whole_file_writes = True
        t0 = time.perf_counter()
        report = openpyxl_wb.write(changes)
        t_whole = time.perf_counter() - t0
        assert not report.skipped
        assert wb.read(["Stock"]) == openpyxl_wb.read(["Stock"])  # the same cells either way

        print(f"workbook: {args.rows:,} rows × {len(HEADERS)} columns, {size:.1f} MB")
        print(f"read (one tab, cached values):        {t_read:6.2f} s")
        print(f"write back ({args.updates} cell updates by key):")
        print(f"  in place (changed sheet part only): {t_write:6.2f} s")
        print(f"  whole file re-saved by openpyxl:    {t_whole:6.2f} s")


if __name__ == "__main__":
    main()
