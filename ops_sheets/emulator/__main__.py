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


if __name__ == "__main__":
    raise SystemExit(main())
