"""Replay real Google Sheets API traffic against the emulator.

The recordings (``shared/sheets-api-recordings``, vcrpy JSON from gspread's own
test suite, MIT licence) hold real requests and Google's real answers.  Each
file is replayed in order against a fresh emulator; every response must match
Google's status code and JSON body.

Where the emulator cannot produce Google's exact bytes for a legitimate
reason, the *expected* body is normalised before comparing, and each such
place says why:

* Drive timestamps (``createdTime``/``modifiedTime``) are wall-clock times of
  the recording; only their presence is compared.
* The service account that made the recordings appears as the editor of a
  protected range; the emulator's caller is ``store.user_email``.

Randomly chosen ids are not normalised away: the Drive create is replayed
with the recorded file id (Drive accepts caller-chosen ids), and the sheet /
protected-range ids Google picked are fed to the emulator's id source in the
order the recording shows them, so later requests that mention them
(``deleteSheet``) work unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from ops_sheets.emulator import SheetsEmulator


def _recordings_dir() -> Path:
    configured = os.environ.get("SHEETS_RECORDINGS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "sheets-api-recordings"


RECORDINGS = _recordings_dir()
FILES = sorted(RECORDINGS.glob("*.json")) if RECORDINGS.is_dir() else []

pytestmark = pytest.mark.skipif(
    not FILES,
    reason=f"no recordings at {RECORDINGS} (set SHEETS_RECORDINGS_DIR to their folder)",
)

SHEETS_HOST = "sheets.googleapis.com"
DRIVE_HOST = "www.googleapis.com"
TIMESTAMP = "<timestamp>"


def _json(text: str | None) -> Any:
    return json.loads(text) if text and text.strip() else None


def _interactions(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["interactions"]


def _created_ids(interactions: list[dict[str, Any]]) -> Iterator[int]:
    """Ids Google chose for new sheets and protected ranges, in order of creation."""
    for item in interactions:
        request, response = item["request"], item["response"]
        if not request["uri"].endswith(":batchUpdate") or response["status"]["code"] != 200:
            continue
        for reply in _json(response["body"]["string"]).get("replies", []):
            if "addSheet" in reply:
                yield reply["addSheet"]["properties"]["sheetId"]
            if "addProtectedRange" in reply:
                yield reply["addProtectedRange"]["protectedRange"]["protectedRangeId"]


def _forbidden_ids(interactions: list[dict[str, Any]]) -> set[str]:
    """Spreadsheets Google refused (403): someone else's private file.  The
    emulator has no other users, so the test marks them denied up front."""
    out = set()
    for item in interactions:
        if item["response"]["status"]["code"] == 403:
            out.add(urlsplit(item["request"]["uri"]).path.split("/")[3].split(":")[0])
    return out


def _normalise(value: Any, user_email: str) -> Any:
    if isinstance(value, dict):
        out = {k: _normalise(v, user_email) for k, v in value.items()}
        for key in ("createdTime", "modifiedTime"):
            if key in out:  # wall-clock time of the recording / of this run
                out[key] = TIMESTAMP
        return out
    if isinstance(value, list):
        return [_normalise(v, user_email) for v in value]
    if isinstance(value, str) and value.endswith(".iam.gserviceaccount.com"):
        return user_email  # the recording's caller vs the emulator's caller
    return value


def _request_body(item: dict[str, Any]) -> bytes | None:
    request, response = item["request"], item["response"]
    body = request.get("body")
    url = urlsplit(request["uri"])
    if url.netloc == DRIVE_HOST and request["method"] == "POST":
        # Recreate the recorded file id so every later URL stays valid.
        data = _json(body) or {}
        data["id"] = _json(response["body"]["string"])["id"]
        return json.dumps(data).encode()
    if body is None:
        return None
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def replay(path: Path) -> int:
    """Replay one recording; returns how many interactions were compared."""
    interactions = _interactions(path)
    with SheetsEmulator() as emulator:
        ids = _created_ids(interactions)
        emulator.store.id_source = lambda: next(ids)
        for spreadsheet_id in _forbidden_ids(interactions):
            emulator.store.deny(spreadsheet_id)
        user = emulator.store.user_email
        session = requests.Session()
        for index, item in enumerate(interactions):
            request, response = item["request"], item["response"]
            url = urlsplit(request["uri"])
            assert url.netloc in (SHEETS_HOST, DRIVE_HOST), request["uri"]
            target = emulator.base_url + url.path + (f"?{url.query}" if url.query else "")
            answer = session.request(
                request["method"],
                target,
                data=_request_body(item),
                headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
                timeout=10,
            )
            where = f"{path.name} #{index}: {request['method']} {request['uri']}"
            assert answer.status_code == response["status"]["code"], f"{where}\n{answer.text}"
            expected = _normalise(_json(response["body"]["string"]), user)
            actual = _normalise(_json(answer.text), user)
            assert actual == expected, where
        return len(interactions)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_replay_recording(path: Path) -> None:
    assert replay(path) > 0
