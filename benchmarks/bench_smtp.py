"""SMTP throughput: 500 messages over one connection vs one connection each.

    python -m benchmarks.bench_smtp [--messages 500] [--no-postman]

Starts a local aiosmtpd server that accepts and discards everything and times
the SMTP transport alone (messages are built beforehand) both ways, in two
set-ups: plain SMTP, and STARTTLS + AUTH as used in production (a throw-away
trustme CA). Unless ``--no-postman``, it also times the full delivery path
(render, validate, ledger with fsync'd state changes, one STARTTLS connection).

On loopback a plain TCP connection costs almost nothing, so the plain figures
are close; the TLS handshake and login per connection are what reuse saves,
plus the network round trips of a real server.
"""

from __future__ import annotations

import argparse
import logging
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from ops_sheets.config import MailSettings, Settings, SmtpSettings
from ops_sheets.mail.message import MessageParts, build_message, parse_address
from ops_sheets.mail.postman import OutgoingEmail, Postman
from ops_sheets.mail.samples import sample_context
from ops_sheets.mail.templates import TemplateRenderer
from ops_sheets.mail.transports import SmtpTransport
from ops_sheets.store.ledger import Ledger

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/London"))
PASSWORD_ENV = "OPS_BENCH_SMTP_PASSWORD"


class _Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


class _Server(Controller):
    def __init__(self, handler: _Sink, **kwargs: Any) -> None:
        # IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted sockets (else Nagle adds
        # ~40 ms to each multi-line EHLO reply and distorts the per-connection figure).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        super().__init__(handler, hostname="127.0.0.1", port=port, **kwargs)

    def _create_server(self):  # type: ignore[no-untyped-def]
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


def _settings(base: Path, port: int, *, tls: bool, ca_file: Path | None) -> Settings:
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=port,
        security="starttls" if tls else "none",
        username="bench" if tls else "",
        password_env=PASSWORD_ENV if tls else "",
        ca_file=str(ca_file) if ca_file else "",
        timeout_seconds=10,
    )
    mail = MailSettings(transport="smtp", sender="Ops <ops@shop.example.com>", smtp=smtp)
    return Settings(mail=mail, base_dir=base)


def _emails(n: int) -> list[OutgoingEmail]:
    out = []
    for i in range(n):
        context = sample_context("purchase_order")
        context["po_number"] = f"PO-20261123-B{i:04d}"
        key = f"po:PO-20261123-B{i:04d}"
        out.append(OutgoingEmail("purchase_order", key, f"orders{i}@supplier.example.com", context))
    return out


def _timed(label: str, n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(
        f"  {label:<42} {seconds:7.2f} s  {n / seconds:7.1f} msg/s  "
        f"{seconds / n * 1000:6.2f} ms/msg"
    )
    return seconds


def _scenario(name: str, settings: Settings, messages: list, n: int) -> None:
    print(name)

    def one_connection() -> None:
        with SmtpTransport.from_settings(settings) as transport:
            for msg in messages:
                transport.send(msg)

    def connection_each() -> None:
        for msg in messages:
            with SmtpTransport.from_settings(settings) as transport:
                transport.send(msg)

    reused = _timed("one connection for all", n, one_connection)
    fresh = _timed("one connection per message", n, connection_each)
    print(f"  → reusing the connection is {fresh / reused:.1f}× faster")


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--no-postman", action="store_true", help="skip the end-to-end figure")
    args = parser.parse_args()
    n = args.messages
    os.environ[PASSWORD_ENV] = "bench-password"
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own chatter

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    sink = _Sink()
    servers = {
        "plain": _Server(sink),
        "tls": _Server(
            sink,
            tls_context=server_ctx,
            require_starttls=True,
            auth_required=True,
            authenticator=lambda *a: AuthResult(success=True),
        ),
    }
    for server in servers.values():
        server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            ca_file = base / "ca.pem"
            ca.cert_pem.write_to_path(str(ca_file))
            plain = _settings(base, servers["plain"].port, tls=False, ca_file=None)
            tls = _settings(base, servers["tls"].port, tls=True, ca_file=ca_file)
            rendered = TemplateRenderer(plain).render(
                "purchase_order", sample_context("purchase_order")
            )
            parts = MessageParts(rendered.subject, rendered.text, rendered.html)
            sender = parse_address(plain.mail.sender)
            messages = [
                build_message(
                    sender=sender,
                    to=parse_address(f"orders{i}@supplier.example.com"),
                    parts=parts,
                    key=f"bench:{i}",
                    date=NOW,
                )
                for i in range(n)
            ]
            size = len(messages[0].as_bytes()) / 1024
            print(f"{n} purchase-order messages of {size:.1f} KiB to aiosmtpd on 127.0.0.1")
            with SmtpTransport.from_settings(plain) as transport:  # warm-up, not timed
                for msg in messages:
                    transport.send(msg)
            _scenario("plain SMTP", plain, messages, n)
            _scenario("STARTTLS + AUTH", tls, messages, n)
            expected = 5 * n
            if not args.no_postman:
                print("full delivery path")
                with Ledger.from_settings(tls) as ledger:
                    postman = Postman(tls, ledger)

                    def deliver() -> None:
                        report = postman.deliver(_emails(n), job="bench", now=NOW)
                        assert report.counts["sent"] == n, report.summary()

                    _timed("postman: render+ledger+STARTTLS, one conn.", n, deliver)
                expected += n
            assert sink.count == expected, (sink.count, expected)
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
