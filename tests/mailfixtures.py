"""Shared helpers of the mail tests: a real aiosmtpd server with controllable
behaviour, settings for it, sample emails, and a child-process runner for the
crash and concurrency tests.

Imported by the test modules (``from mailfixtures import ...``); also runnable
as a script, which is how a child process delivers a batch:
``python tests/mailfixtures.py '<json params>'``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the child script runs outside pytest
    sys.path.insert(0, str(REPO))

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from ops_sheets.config import MailSettings, Settings, SmtpSettings, StateSettings  # noqa: E402
from ops_sheets.mail.postman import OutgoingEmail  # noqa: E402
from ops_sheets.mail.samples import sample_context  # noqa: E402

LONDON = ZoneInfo("Europe/London")
#: The demo's fixed "now": Monday 2026-11-23 09:00 London.
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
#: Exit status of a child that was killed on purpose at a hook.
HOOK_EXIT = 17
PASSWORD = "s3cret-Pa55word!"
PASSWORD_ENV = "OPS_TEST_SMTP_PASSWORD"


# ---------------------------------------------------------------- settings


def make_settings(
    base_dir: Path,
    *,
    transport: str = "smtp",
    port: int = 25,
    host: str = "127.0.0.1",
    security: str = "none",
    username: str = "",
    password_env: str = "",
    password_file: str = "",
    ca_file: str = "",
    timeout: float = 5.0,
    max_attempts: int = 5,
    retry_after_minutes: float = 15.0,
    templates_dir: str = "templates",
) -> Settings:
    """Settings for a test, built directly (no config file) under ``base_dir``."""
    smtp = SmtpSettings(
        host=host,
        port=port,
        username=username,
        password_env=password_env,
        password_file=password_file,
        security=security,  # type: ignore[arg-type]
        ca_file=ca_file,
        timeout_seconds=timeout,
    )
    mail = MailSettings(
        transport=transport,  # type: ignore[arg-type]
        outbox_dir="outbox",
        sender="Ops <ops@shop.example.com>",
        manager="manager@shop.example.com",
        templates_dir=templates_dir,
        max_attempts=max_attempts,
        retry_after_minutes=retry_after_minutes,
        smtp=smtp,
    )
    return dataclasses.replace(
        Settings(), mail=mail, state=StateSettings(path="state.db"), base_dir=Path(base_dir)
    )


def po_emails(count: int, *, prefix: str = "S") -> list[OutgoingEmail]:
    """``count`` purchase orders with distinct keys; deterministic, so a child
    process and the test build byte-identical content."""
    emails = []
    for i in range(count):
        context = sample_context("purchase_order")
        context["po_number"] = f"PO-20261123-{prefix}{i:03d}"
        emails.append(
            OutgoingEmail(
                kind="purchase_order",
                key=f"po:PO-20261123-{prefix}{i:03d}",
                to=f"Supplier {i} <orders{i}@supplier{i}.example.com>",
                context=context,
                reference=f"PO-20261123-{prefix}{i:03d}",
            )
        )
    return emails


# ---------------------------------------------------------------- SMTP server


@dataclass
class Behaviour:
    """How the test server answers. ``*_times`` = how many times the special
    reply is given before the server behaves normally (None = always)."""

    rcpt_reply: str | None = None
    rcpt_times: int | None = None
    data_reply: str | None = None
    data_times: int | None = None
    #: seconds to wait *after storing the message* before answering DATA
    data_delay: float = 0.0
    data_delay_times: int | None = None


@dataclass
class RecordingHandler:
    behaviour: Behaviour = field(default_factory=Behaviour)
    messages: list[bytes] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)
    rcpt_count: int = 0
    data_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        b = self.behaviour
        with self.lock:
            self.rcpt_count += 1
            special = b.rcpt_reply and (b.rcpt_times is None or self.rcpt_count <= b.rcpt_times)
        if special:
            return b.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        b = self.behaviour
        with self.lock:
            self.data_count += 1
            n = self.data_count
            special = b.data_reply and (b.data_times is None or n <= b.data_times)
            if not special:
                self.messages.append(bytes(envelope.original_content or envelope.content))
                self.sessions.add(id(session))
        if special:
            return b.data_reply
        if b.data_delay and (b.data_delay_times is None or n <= b.data_delay_times):
            await asyncio.sleep(b.data_delay)
        return "250 Message accepted for delivery"

    def parsed(self) -> list[Message]:
        with self.lock:
            return [message_from_bytes(m) for m in self.messages]

    def keys(self) -> list[str]:
        return [str(m["X-Ops-Key"]) for m in self.parsed()]


class _EphemeralController(Controller):
    """aiosmtpd's Controller on a pre-bound socket (port 0: no port races)."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted sockets
        # (with proto 0 it does not, and multi-line replies stall ~40 ms on Nagle).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self._sock.getsockname()[1], **kwargs)

    def _create_server(self):  # type: ignore[override]
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


@dataclass
class SmtpServer:
    port: int
    handler: RecordingHandler
    auth_attempts: list[tuple[str, str]]
    ca_file: Path | None

    @property
    def messages(self) -> list[bytes]:
        return self.handler.messages

    def keys(self) -> list[str]:
        return self.handler.keys()


def make_ca(directory: Path) -> tuple[Any, Path]:
    """A throw-away CA (trustme) and its PEM file; the CA is not in any system store."""
    import trustme

    ca = trustme.CA()
    pem = Path(directory) / "test-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return ca, pem


@contextmanager
def smtp_server(
    behaviour: Behaviour | None = None,
    *,
    ca: Any = None,
    ca_file: Path | None = None,
    tls: str = "none",
    auth: tuple[str, str] | None = None,
) -> Iterator[SmtpServer]:
    """Run a recording aiosmtpd server on 127.0.0.1 for the duration of the block.

    ``tls``: "none", "starttls" (required before AUTH/MAIL) or "ssl" (implicit);
    both need ``ca`` (a trustme.CA). ``auth``: (user, password) the server
    accepts; every AUTH attempt is recorded in ``auth_attempts``.
    """
    handler = RecordingHandler(behaviour or Behaviour())
    attempts: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, pw = auth_data.login.decode(), auth_data.password.decode()
        attempts.append((user, pw))
        ok = auth is not None and (user, pw) == auth
        return AuthResult(success=ok, handled=False)  # handled=False: server sends 535

    kwargs: dict[str, Any] = {"ready_timeout": 10.0}
    if tls != "none":
        assert ca is not None, "a TLS server needs a trustme CA"
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
        if tls == "starttls":
            kwargs.update(tls_context=server_ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=server_ctx)
    if auth is not None:
        kwargs.update(authenticator=authenticator, auth_required=True)
    controller = _EphemeralController(handler, **kwargs)
    controller.start()
    try:
        yield SmtpServer(controller.port, handler, attempts, ca_file)
    finally:
        controller.stop()


# ---------------------------------------------------------------- child processes


def child_command(params: dict[str, Any]) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), json.dumps(params)]


def run_child(params: dict[str, Any], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run one delivery in a fresh Python process (see ``child_main``)."""
    return subprocess.run(
        child_command(params),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO),
        check=False,
    )


def start_child(params: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        child_command(params),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(REPO),
    )


def child_outcomes(stdout: str) -> dict[str, str]:
    """The {key: status} line a child prints last."""
    return json.loads(stdout.strip().splitlines()[-1])


def child_main(argv: list[str]) -> None:
    """Deliver ``count`` purchase orders to the test server; optionally die at a hook.

    params: base_dir, port, count, prefix, hook ("after_claim" | "before_data" |
    "after_data" | None), go_file (wait until it exists before sending), timeout.
    """
    from ops_sheets.mail.postman import Postman
    from ops_sheets.mail.transports import SmtpTransport
    from ops_sheets.store.ledger import Ledger

    params = json.loads(argv[0])
    settings = make_settings(
        Path(params["base_dir"]), port=params["port"], timeout=params.get("timeout", 5.0)
    )
    ledger = Ledger.from_settings(settings)
    transport = SmtpTransport.from_settings(settings)
    postman = Postman(settings, ledger, transport=transport)

    def die(key: str) -> None:
        sys.stdout.flush()
        os._exit(HOOK_EXIT)

    hook = params.get("hook")
    if hook == "after_claim":
        postman._after_claim_hook = die
    elif hook == "before_data":
        transport._before_data_hook = die
    elif hook == "after_data":
        postman._after_data_hook = die

    go_file = params.get("go_file")
    if go_file:
        deadline = time.monotonic() + 30
        while not Path(go_file).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    report = postman.deliver(
        po_emails(params.get("count", 1), prefix=params.get("prefix", "S")),
        job="stock",
        now=NOW,
    )
    print(json.dumps({o.key: o.status for o in report.outcomes}))


if __name__ == "__main__":
    child_main(sys.argv[1:])
