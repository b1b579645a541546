"""``python -m ops_sheets.emulator --port 8765 [--load file.json]``: run until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .server import SheetsEmulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops_sheets.emulator",
        description="Local Google Sheets API v4 emulator (anonymous, in memory).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument(
        "--load",
        type=Path,
        action="append",
        default=[],
        help='JSON file of spreadsheets: {"spreadsheets": [{"id", "title", "sheets": {"Tab": '
        "[[...]]}}]} (repeatable)",
    )
    parser.add_argument(
        "--load-xlsx",
        metavar="FILE[:ID]",
        action="append",
        default=[],
        help="an .xlsx workbook (e.g. ops-demo/workbook.xlsx) as a spreadsheet with this id "
        "(default: the file name without .xlsx); repeatable",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    emulator = SheetsEmulator(args.host, args.port, verbose=args.verbose)
    for path in args.load:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"cannot load {path}: {error}", file=sys.stderr)
            return 2
        for spreadsheet_id in emulator.store.load(data):
            title = emulator.store[spreadsheet_id].title
            print(f"loaded spreadsheet {spreadsheet_id} ({title})")
    for spec in args.load_xlsx:
        path_text, _, spreadsheet_id = spec.partition(":")
        path = Path(path_text)
        try:
            sheets = _xlsx_tabs(path)
        except Exception as error:  # any reason the file cannot be read: say it, exit 2
            print(f"cannot load {path}: {error}", file=sys.stderr)
            return 2
        spreadsheet_id = emulator.create_spreadsheet(spreadsheet_id or path.stem, path.stem, sheets)
        print(f"loaded spreadsheet {spreadsheet_id} from {path}")
    emulator.start()
    print(f"Sheets API emulator listening on {emulator.base_url}")
    print(f"SHEETS_EMULATOR_HOST={emulator.host_port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


def _xlsx_tabs(path: Path) -> dict[str, list[list[object]]]:
    """Every tab's values, dates as the text a person would type (Sheets' RAW input)."""
    from datetime import date, datetime

    from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

    book = XlsxWorkbook(path)
    grids = book.read(book.tab_titles())

    def cell(v: object) -> object:
        if isinstance(v, datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(v, date):
            return v.isoformat()
        return v

    return {t: [[cell(v) for v in row] for row in g.rows] for t, g in grids.items()}


if __name__ == "__main__":
    raise SystemExit(main())
