"""SMTP transport on smtplib: one connection per batch, every reply classified.

The SMTP dialogue is driven step by step (MAIL, RCPT, DATA, content) instead of
``sendmail()`` because the ledger must know exactly when the message data
leaves: a failure before that point is a clean temporary failure, a failure
after it is an *unknown outcome* (the server may have queued the message).

Security: ``starttls`` and ``ssl`` verify the server certificate against the
system store (plus ``ca_file`` when given) and the host name; a certificate
that does not verify fails before AUTH, so the password is never sent to an
unverified server. The password is read only when logging in, kept in a
wrapper whose repr is masked, and never put into a log record or an
exception message. ``set_debuglevel`` is never used: smtplib would print the
AUTH exchange.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from ops_sheets.config import Settings
from ops_sheets.logs import register_secret
from ops_sheets.mail.message import message_bytes

from .base import (
    ConnectError,
    DeliveryError,
    HandoverCallback,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    Transport,
    UnknownOutcomeError,
    envelope,
)

log = logging.getLogger(__name__)

_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


class Secret:
    """A string that does not show itself in reprs, tracebacks or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def read_password(settings: Settings) -> Secret:
    """The SMTP password from ``password_env`` or the first line of ``password_file``.

    Errors name the variable or file, never the value.
    """
    smtp = settings.mail.smtp
    if smtp.password_env:
        value = os.environ.get(smtp.password_env)
        if not value:
            raise ConnectError(
                f"[mail.smtp] password_env: environment variable {smtp.password_env} is not "
                "set or empty; export it before running",
                config=True,
            )
        return Secret(value)
    if smtp.password_file:
        path = settings.resolve(smtp.password_file)
        try:
            with open(path, encoding="utf-8") as fh:
                first = fh.readline().rstrip("\r\n")
        except OSError as exc:
            raise ConnectError(
                f"[mail.smtp] password_file: cannot read {path}: {exc.strerror}", config=True
            ) from None
        if not first:
            raise ConnectError(
                f"[mail.smtp] password_file: {path} is empty; put the password on its first line",
                config=True,
            )
        return Secret(first)
    raise ConnectError(
        "[mail.smtp] username is set but neither password_env nor password_file is; "
        "name the environment variable or file that holds the password",
        config=True,
    )


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpTransport(Transport):
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str = "",
        password: Callable[[], Secret] | None = None,
        ca_file: Path | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
    ) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"security must be starttls, ssl or none, not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.ca_file = ca_file
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self._fresh = False
        #: Test hook: called after RCPT was accepted, before the DATA command.
        self._before_data_hook: Callable[[str], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        smtp = settings.mail.smtp
        return cls(
            smtp.host,
            smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=lambda: read_password(settings),
            ca_file=settings.resolve(smtp.ca_file) if smtp.ca_file else None,
            timeout=smtp.timeout_seconds,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # ------------------------------------------------------------ connection

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConnectError(
                    f"[mail.smtp] ca_file: cannot load {self.ca_file}: {exc}", config=True
                ) from None
        return context

    def open(self) -> None:
        if self._smtp is not None:
            return
        if self.username and self.security == "none" and not _is_loopback(self.host):
            raise ConnectError(
                f"refusing to send the SMTP password to {self.where} unencrypted; set "
                '[mail.smtp] security = "starttls" or "ssl"',
                config=True,
            )
        context = self._tls_context() if self.security != "none" else None
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=context,
                )
            else:
                smtp = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ConnectError(
                        f"{self.where} does not offer STARTTLS; check [mail.smtp] port and "
                        'security (465 usually needs security = "ssl")',
                        config=True,
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                self._login(smtp)
        except ConnectError:
            _abort(smtp)
            raise
        except ssl.SSLCertVerificationError as exc:
            _abort(smtp)
            raise ConnectError(
                f"TLS certificate of {self.where} was not accepted ({exc.verify_message}); if "
                "the server uses a private CA, set [mail.smtp] ca_file to its certificate",
                config=True,
            ) from None
        except ssl.SSLError as exc:
            _abort(smtp)
            raise ConnectError(
                f"TLS handshake with {self.where} failed: {exc.reason or exc}; check [mail.smtp] "
                "port and security"
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            _abort(smtp)
            raise ConnectError(
                f"{self.where} refused the login of {self.username!r} "
                f"({exc.smtp_code} {_reply_text(exc.smtp_error)}); check [mail.smtp] username "
                "and the password",
                config=True,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            _abort(smtp)
            raise ConnectError(f"{self.where}: {exc}", config=True) from None
        except smtplib.SMTPResponseException as exc:
            _abort(smtp)
            raise ConnectError(
                f"{self.where} answered {exc.smtp_code} {_reply_text(exc.smtp_error)} while "
                "connecting"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            _abort(smtp)
            raise ConnectError(f"cannot connect to {self.where}: {_describe(exc)}") from None
        self._smtp = smtp
        self._fresh = True
        log.debug("connected to %s (security=%s)", self.where, self.security)

    def _login(self, smtp: smtplib.SMTP) -> None:
        if self._password is None:
            raise ConnectError("[mail.smtp] username is set but no password source", config=True)
        secret = self._password()
        password = secret.reveal()
        register_secret(password)  # never in a log line, whatever logs it
        try:
            password.encode("ascii")
        except UnicodeEncodeError:
            # smtplib would fail with the offending character in its message
            raise ConnectError(
                "[mail.smtp] the password has non-ASCII characters, which SMTP AUTH "
                "cannot send; use an app password of ASCII letters, digits and symbols",
                config=True,
            ) from None
        smtp.login(self.username, password)
        log.debug("logged in to %s as %s", self.where, self.username)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            smtp.close()

    def _drop(self) -> None:
        """Forget a connection that can no longer be trusted (no QUIT)."""
        smtp, self._smtp = self._smtp, None
        _abort(smtp)

    # ------------------------------------------------------------ sending

    def send(self, msg: EmailMessage, on_handover: HandoverCallback | None = None) -> None:
        sender, recipients = envelope(msg)
        data = message_bytes(msg)
        smtp = self._start_transaction(sender, data)
        try:
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise self._refused(code, reply, f"RCPT TO:<{rcpt}>")
            if self._before_data_hook is not None:
                self._before_data_hook(str(msg.get("X-Ops-Key", "")))
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                raise self._refused(code, reply, "DATA")
        except DeliveryError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise TemporaryDeliveryError(
                f"connection to {self.where} lost before the message was sent: {_describe(exc)}",
                stage="envelope",
            ) from None

        if on_handover is not None:
            try:
                on_handover()
            except BaseException:
                # The server waits for data we will not send: hang up so it
                # discards the transaction rather than guess at its end.
                self._drop()
                raise

        payload = _DOT_AT_LINE_START.sub(b"..", data)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        try:
            smtp.send(payload + b".\r\n")
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise UnknownOutcomeError(
                f"no answer from {self.where} after the message data was sent "
                f"({_describe(exc)}); it may or may not have been delivered",
                stage="data",
            ) from None
        self._fresh = False
        if code != 250:
            raise self._refused(code, reply, "end of data", reset=False)
        log.debug("%s accepted the message: %s", self.where, _reply_text(reply))

    def _start_transaction(self, sender: str, data: bytes) -> smtplib.SMTP:
        """Connect if needed and send MAIL FROM.

        A reused connection that the server has closed meanwhile (idle timeout)
        is reopened once: nothing of this message has been sent yet.
        """
        for attempt in (1, 2):
            self.open()
            smtp = self._smtp
            assert smtp is not None
            fresh = self._fresh
            options = [f"SIZE={len(data)}"] if smtp.has_extn("size") else []
            try:
                code, reply = smtp.mail(sender, options)
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                if fresh or attempt == 2:
                    raise TemporaryDeliveryError(
                        f"connection to {self.where} lost at MAIL FROM: {_describe(exc)}",
                        stage="envelope",
                    ) from None
                continue
            if code == 421 and not fresh and attempt == 1:
                self._drop()
                continue
            if code != 250:
                raise self._refused(code, reply, f"MAIL FROM:<{sender}>")
            self._fresh = False
            return smtp
        raise AssertionError("unreachable")

    def _refused(self, code: int, reply: bytes, stage: str, *, reset: bool = True) -> DeliveryError:
        """Classify a refusal and leave the connection ready for the next message."""
        text = f"{self.where} answered {code} {_reply_text(reply)} to {stage}"
        if code == 421 or code < 400:
            self._drop()
        elif reset and self._smtp is not None:
            try:
                self._smtp.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()
        if 500 <= code < 600:
            return PermanentDeliveryError(text, code=code, stage=stage)
        return TemporaryDeliveryError(text, code=code, stage=stage)


def _abort(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
