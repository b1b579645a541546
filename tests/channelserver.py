"""A local HTTPS server on 127.0.0.1 that records posts, for the channel tests.

Its certificate is issued by a throw-away trustme CA for 127.0.0.1; the product
code trusts it only through ``[channels.<name>] ca_file`` (TLS stays verified).
Answers are scripted: each request takes the next :class:`Answer` from the
queue (200 once it is empty); ``delay`` holds the answer back, to make the
client time out *after* it sent the request.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Recorded:
    path: str
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class ChannelServer:
    def __init__(self, ca: Any) -> None:
        self.posts: list[Recorded] = []
        self.answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with server._lock:
                    server.posts.append(Recorded(self.path, body, dict(self.headers)))
                    answer = server.answers.popleft() if server.answers else Answer()
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hooks/T000/B000/s3cr3t-token-value") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def start(self) -> ChannelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)


def make_ca(directory: Path) -> tuple[Any, Path]:
    import trustme

    ca = trustme.CA()
    pem = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return ca, pem
