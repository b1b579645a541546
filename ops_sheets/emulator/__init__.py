"""A local Google Sheets API v4 emulator, validated against recorded Google traffic.

Start one with :class:`SheetsEmulator` (or ``python -m ops_sheets.emulator``)
and point a client at it with :func:`ops_sheets.emulator.client.gspread_client_for`
or ``SHEETS_EMULATOR_HOST=host:port``.
"""

from .control import RequestInfo, RequestRecord
from .errors import ApiError
from .server import SheetsEmulator
from .store import Sheet, Spreadsheet, Store

__all__ = [
    "ApiError",
    "RequestInfo",
    "RequestRecord",
    "Sheet",
    "SheetsEmulator",
    "Spreadsheet",
    "Store",
]
