"""Map HTTP requests to API operations and run them against the store.

Kept apart from the HTTP plumbing so it can be read (and tested) as a table
of endpoints.  Paths arrive percent-encoded; ranges are decoded *after* the
path is split, so a ``%3A`` inside a range never looks like ``:append``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .batch_update import batch_update
from .errors import ApiError, bad_request
from .metadata import apply_field_mask, create_from_body, spreadsheet_json
from .store import Spreadsheet, Store
from .values_api import (
    RenderOptions,
    append_values,
    batch_clear,
    batch_get,
    batch_update_values,
    clear_values,
    get_values,
    update_values,
)

__all__ = ["Route", "classify", "dispatch", "dispatch_drive"]

Query = Mapping[str, list[str]]

_SHEETS = re.compile(r"^/v4/spreadsheets(?:/(?P<id>[^/:]+))?(?P<rest>.*)$")
_DRIVE = re.compile(r"^/drive/v3/files(?:/(?P<id>[^/]+))?/?$")

# Operations that change nothing although some are POSTs; Google's quotas
# count them as reads.
_READ_OPERATIONS = frozenset({"spreadsheets.get", "values.get", "values.batchGet"})


@dataclass(frozen=True)
class Route:
    operation: str  # e.g. "values.append"; "drive.*" for the Drive stand-ins
    spreadsheet_id: str | None = None
    range: str | None = None

    @property
    def kind(self) -> str:
        if self.operation.startswith("drive."):
            return "drive"
        return "read" if self.operation in _READ_OPERATIONS else "write"


def classify(method: str, raw_path: str) -> Route | None:
    """Which operation a request is, or ``None`` for an unknown endpoint."""
    drive = _DRIVE.match(raw_path)
    if drive:
        file_id = unquote(drive["id"]) if drive["id"] else None
        operation = {
            ("POST", False): "drive.create",
            ("GET", False): "drive.list",
            ("GET", True): "drive.get",
            ("DELETE", True): "drive.delete",
            ("PATCH", True): "drive.update",
        }.get((method, file_id is not None))
        return Route(operation, file_id) if operation else None
    m = _SHEETS.match(raw_path)
    if not m:
        return None
    spreadsheet_id = unquote(m["id"]) if m["id"] else None
    rest = m["rest"]
    if spreadsheet_id is None:
        return Route("spreadsheets.create") if method == "POST" and rest in ("", "/") else None
    simple = {
        ("GET", ""): "spreadsheets.get",
        ("POST", ":batchUpdate"): "spreadsheets.batchUpdate",
        ("GET", "/values:batchGet"): "values.batchGet",
        ("POST", "/values:batchUpdate"): "values.batchUpdate",
        ("POST", "/values:batchClear"): "values.batchClear",
    }.get((method, rest))
    if simple:
        return Route(simple, spreadsheet_id)
    if rest.startswith("/values/"):
        range_text = unquote(rest[len("/values/") :])
        for suffix, operation in ((":append", "values.append"), (":clear", "values.clear")):
            if range_text.endswith(suffix) and method == "POST":
                return Route(operation, spreadsheet_id, range_text[: -len(suffix)])
        if method == "GET":
            return Route("values.get", spreadsheet_id, range_text)
        if method == "PUT":
            return Route("values.update", spreadsheet_id, range_text)
    return None


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _flag(query: Query, name: str) -> bool:
    return (_one(query, name) or "").lower() == "true"


def _body(body: Any) -> Mapping[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise bad_request("Invalid JSON payload received. Expected an object.")
    return body


def dispatch(store: Store, route: Route, query: Query, body: Any) -> dict[str, Any]:
    """Run a Sheets operation; the caller holds ``store.lock``."""
    if route.operation == "spreadsheets.create":
        ss = create_from_body(store, _body(body))
        return spreadsheet_json(ss)
    assert route.spreadsheet_id is not None
    ss = store.get(route.spreadsheet_id)
    result = _run(ss, route, query, _body(body))
    return apply_field_mask(result, _one(query, "fields"))


def _run(ss: Spreadsheet, route: Route, query: Query, body: Mapping[str, Any]) -> dict[str, Any]:
    op = route.operation
    if op == "spreadsheets.get":
        return spreadsheet_json(
            ss, include_grid_data=_flag(query, "includeGridData"), ranges=query.get("ranges", [])
        )
    if op == "values.get":
        assert route.range is not None
        return get_values(ss, route.range, _render_options(query))
    if op == "values.batchGet":
        return batch_get(ss, query.get("ranges", []), _render_options(query))
    response_options = RenderOptions.parse(
        _one(query, "responseValueRenderOption"),
        _one(query, "responseDateTimeRenderOption"),
        prefix="response_",
    )
    if op == "values.update":
        assert route.range is not None
        return update_values(
            ss,
            route.range,
            body,
            input_option=_one(query, "valueInputOption"),
            include_values=_flag(query, "includeValuesInResponse"),
            response_options=response_options,
        )
    if op == "values.append":
        assert route.range is not None
        return append_values(
            ss,
            route.range,
            body,
            input_option=_one(query, "valueInputOption"),
            insert_data_option=_one(query, "insertDataOption"),
            include_values=_flag(query, "includeValuesInResponse"),
            response_options=response_options,
        )
    if op == "values.clear":
        assert route.range is not None
        return clear_values(ss, route.range)
    # Multi-part writes are atomic in Google: undo everything if one part fails.
    with ss.atomic():
        if op == "values.batchUpdate":
            return batch_update_values(ss, body)
        if op == "values.batchClear":
            return batch_clear(ss, body)
        if op == "spreadsheets.batchUpdate":
            return batch_update(ss, body)
    raise ApiError(404, "Method not found.")


def _render_options(query: Query) -> RenderOptions:
    return RenderOptions.parse(
        _one(query, "valueRenderOption"),
        _one(query, "dateTimeRenderOption"),
        _one(query, "majorDimension"),
    )


# ---------------------------------------------------------------- Drive stand-ins

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"


def _iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _file_json(ss: Spreadsheet) -> dict[str, Any]:
    return {
        "kind": "drive#file",
        "id": ss.id,
        "name": ss.title,
        "mimeType": SPREADSHEET_MIME,
        "createdTime": _iso(ss.created_time),
        "modifiedTime": _iso(ss.modified_time),
    }


def dispatch_drive(
    store: Store, route: Route, query: Query, body: Any
) -> tuple[int, dict[str, Any] | None]:
    """Just enough of Drive v3 for gspread's create/open/delete of spreadsheets."""
    op = route.operation
    fields = _one(query, "fields")
    if op == "drive.create":
        data = _body(body)
        mime = data.get("mimeType", SPREADSHEET_MIME)
        if mime != SPREADSHEET_MIME:
            raise bad_request(f"The emulator only creates spreadsheets, not {mime}.")
        # Drive accepts a caller-chosen id (from files.generateIds); the replay
        # test uses that to recreate the recorded spreadsheet ids.
        ss = store.create_spreadsheet(data.get("id"), data.get("name", "Untitled spreadsheet"))
        created = {
            "kind": "drive#file",
            "id": ss.id,
            "name": ss.title,
            "mimeType": SPREADSHEET_MIME,
        }
        return 200, apply_field_mask(created, fields)
    if op == "drive.list":
        wanted = re.search(r'name\s*=\s*"((?:[^"\\]|\\.)*)"', _one(query, "q") or "")
        files = [
            _file_json(ss)
            for ss in store.spreadsheets.values()
            if wanted is None or ss.title == wanted[1].replace('\\"', '"')
        ]
        return 200, {"kind": "drive#fileList", "incompleteSearch": False, "files": files}
    assert route.spreadsheet_id is not None
    ss = store.spreadsheets.get(route.spreadsheet_id)
    if ss is None:
        raise ApiError(404, f"File not found: {route.spreadsheet_id}.")
    if op == "drive.get":
        return 200, apply_field_mask(_file_json(ss), fields)
    if op == "drive.update":
        name = _body(body).get("name")
        if name:
            ss.properties["title"] = name
            ss.touch()
        return 200, apply_field_mask(_file_json(ss), fields)
    if op == "drive.delete":
        store.delete(ss.id)
        return 204, None
    raise ApiError(404, "Method not found.")
