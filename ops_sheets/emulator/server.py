"""The HTTP side: a stdlib ``ThreadingHTTPServer`` speaking Sheets API v4 JSON.

Any ``Authorization`` header (or none) is accepted, like Google's own
emulators.  Every Sheets request is logged, may trigger a test hook, may be
delayed or failed on purpose, and then runs under the store lock.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .control import Faults, Hook, RequestInfo, RequestLog, RequestRecord
from .errors import ApiError, error_body
from .routes import Route, classify, dispatch, dispatch_drive
from .store import Spreadsheet, Store

__all__ = ["SheetsEmulator"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: SheetsEmulator


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as requests/gspread expect.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY each
    # response waits ~40 ms for a delayed ACK on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.verbose:
            super().log_message(format, *args)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        status, body = self.server.emulator.handle(method, split.path, query, raw_body)
        self._send(status, body)

    def _send(self, status: int, body: Mapping[str, Any] | None) -> None:
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)


class SheetsEmulator:
    """A local Google Sheets API v4 for tests and demos.

    >>> with SheetsEmulator() as emulator:
    ...     sid = emulator.create_spreadsheet(sheets={"Orders": [["Order ID"], ["SO-1"]]})
    ...     # point a client at emulator.base_url (see ops_sheets.emulator.client)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        store: Store | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        user_email: str = "emulator@example.com",
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        #: how a fault delay waits (tests pass a fake clock's sleep: no wall-clock waits)
        self.sleep = sleep
        self.store = store if store is not None else Store(user_email)
        self.faults = Faults()
        self.log = RequestLog(clock)
        self.verbose = verbose
        self._hooks: list[Hook] = []
        self._hooks_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> SheetsEmulator:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self.port = server.server_address[1]
        self._server = server
        # A short poll interval makes stop() quick (it waits for the next poll).
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sheets-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SheetsEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def host_port(self) -> str:
        """``127.0.0.1:54321``: the value for ``SHEETS_EMULATOR_HOST``."""
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host_port}"

    # -- data ----------------------------------------------------------------

    def create_spreadsheet(
        self,
        spreadsheet_id: str | None = None,
        title: str = "Untitled spreadsheet",
        sheets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
        **options: Any,
    ) -> str:
        """Create a spreadsheet (tab title -> rows of values) and return its id.

        ``options``: ``locale``, ``time_zone``, ``user_entered`` (parse strings
        as typed into the UI instead of storing them literally).
        """
        return self.store.create_spreadsheet(spreadsheet_id, title, sheets, **options).id

    def spreadsheet(self, spreadsheet_id: str) -> Spreadsheet:
        return self.store[spreadsheet_id]

    # -- request log -------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every Sheets API request since the last reset (Drive calls excluded)."""
        return self.log.records

    def count(self, kind: str | None = None) -> int:
        """Number of Sheets requests; ``kind`` is "read", "write" or an operation
        such as "values.batchGet"."""
        return self.log.count(kind)

    def reset_counts(self) -> None:
        self.log.reset()

    def per_minute(self, kind: str | None = None) -> list[int]:
        """Request counts per minute (60-second buckets from the first request)."""
        return self.log.per_minute(kind)

    def max_per_minute(self, kind: str | None = None) -> int:
        """Most requests in any sliding 60-second window."""
        return self.log.max_in_window(60.0, kind)

    # -- hooks -------------------------------------------------------------------

    def before_request(
        self,
        predicate: Callable[[RequestInfo], bool],
        action: Callable[[Any], Any],
        once: bool = True,
    ) -> Hook:
        """Run ``action`` just before a matching request is served.

        ``action`` gets the request's :class:`Spreadsheet` (or the store when the
        request names none) and runs under the store lock, so it is exactly "a
        person edited the sheet between the job's read and its write".
        """
        hook = Hook(predicate, action, once)
        with self._hooks_lock:
            self._hooks.append(hook)
        return hook

    def clear_hooks(self) -> None:
        with self._hooks_lock:
            self._hooks.clear()

    def _run_hooks(self, info: RequestInfo) -> None:
        with self._hooks_lock:
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                matched = hook.predicate(info)
            except Exception as error:  # a broken predicate must not break the server
                hook.errors.append(error)
                continue
            if not matched:
                continue
            with self._hooks_lock:
                if hook.once and hook.calls:
                    continue
                hook.calls += 1
                if hook.once and hook in self._hooks:
                    self._hooks.remove(hook)
            target: Any = self.store
            if info.spreadsheet_id and info.spreadsheet_id in self.store.spreadsheets:
                target = self.store.spreadsheets[info.spreadsheet_id]
            try:
                with self.store.lock:
                    hook.action(target)
            except Exception as error:
                hook.errors.append(error)
                raise

    # -- request handling --------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, query: dict[str, list[str]], raw_body: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        """Serve one request: returns (HTTP status, JSON body or None)."""
        route = classify(method, raw_path)
        if route is None:
            return 404, error_body(404, "Method not found.")
        try:
            body = json.loads(raw_body.decode("utf-8")) if raw_body.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 400, error_body(400, "Invalid JSON payload received. Unexpected token.")
        if route.kind == "drive":
            try:
                with self.store.lock:
                    return dispatch_drive(self.store, route, query, body)
            except ApiError as error:
                return error.code, error.body()
        return self._handle_sheets(method, unquote(raw_path), route, query, body)

    def _handle_sheets(
        self,
        method: str,
        path: str,
        route: Route,
        query: dict[str, list[str]],
        body: Any,
    ) -> tuple[int, dict[str, Any] | None]:
        index, counters = self.log.start(method, path, route.kind, route.operation)
        info = RequestInfo(
            method=method,
            path=path,
            kind=route.kind,
            operation=route.operation,
            query=query,
            spreadsheet_id=route.spreadsheet_id,
            body=body,
            number=counters.get("all", 0),
            batch_get_number=counters.get("values.batchGet", 0),
            batch_update_number=counters.get("values.batchUpdate", 0),
            write_number=counters.get("write", 0),
        )
        status, response = 500, error_body(500)
        try:
            try:
                self._run_hooks(info)
            except Exception as error:  # the test's edit failed: make that visible
                status, response = 500, error_body(500, f"before_request hook failed: {error!r}")
                return status, response
            pause = self.faults.delay_for(info)
            if pause:
                self.sleep(pause)
            failure = self.faults.decide(info, self.log)
            if failure is not None and not failure[1]:
                status, response = failure[0], error_body(failure[0])
                return status, response
            try:
                with self.store.lock:
                    status, response = 200, dispatch(self.store, route, query, body)
            except ApiError as error:
                status, response = error.code, error.body()
            except Exception as error:  # an emulator bug: answer like Google, keep the trace
                traceback.print_exc()
                status, response = 500, error_body(500, f"Internal error encountered: {error!r}")
            if failure is not None:  # applied, but the client only sees an error
                status, response = failure[0], error_body(failure[0])
            return status, response
        finally:
            self.log.finish(index, status)
