"""A small HTTP server on 127.0.0.1 serving fixed pages, in a background thread.

The demo starts one so its product URLs answer without any network (the demo
config allows 127.0.0.1 for ``listings``); tests and the listings benchmark use
it to serve real platforms' page shapes and hostile answers: a slow page, a
redirect loop, a 20 MB body, errors. Every request is counted per path.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Page:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    #: seconds before the answer starts (a slow page)
    delay: float = 0.0
    #: a body of this many bytes, streamed in 64 KiB chunks (a huge page)
    size: int = 0
    #: answer 304 to a request carrying this in If-None-Match
    etag: str = ""


class PageServer:
    def __init__(self, pages: Mapping[str, Page], tls: ssl.SSLContext | None = None) -> None:
        self.pages = dict(pages)
        self.hits: Counter[str] = Counter()
        #: (path, monotonic time) of every request, in arrival order
        self.log: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body in one segment: no 40 ms Nagle / delayed-ACK stall per page
            disable_nagle_algorithm = True
            wbufsize = 64 * 1024

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with server._lock:
                    server.hits[path] += 1
                    server.log.append((path, time.monotonic()))
                page = server.pages.get(path) or server.pages.get("*") or Page(404, b"not found")
                if page.delay:
                    time.sleep(page.delay)
                try:
                    self._answer(page)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: fine

            def _answer(self, page: Page) -> None:
                if page.etag and self.headers.get("If-None-Match") == page.etag:
                    self.send_response(304)
                    self.send_header("ETag", page.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                for k, v in page.headers.items():
                    self.send_header(k, v)
                if page.etag:
                    self.send_header("ETag", page.etag)
                length = page.size or len(page.body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if page.size:
                    chunk = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>\n"
                    sent = 0
                    while sent < page.size:
                        part = chunk[: page.size - sent]
                        self.wfile.write(part)
                        sent += len(part)
                else:
                    self.wfile.write(page.body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:  # HTTPS (tests: a certificate for a name, served on 127.0.0.1)
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> PageServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
