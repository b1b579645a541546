"""The transport interface and the classified delivery errors.

A transport hands one finished message to the outside world. What matters to
the ledger is not *why* a send failed but *what we know about the message*:

* ``TemporaryDeliveryError`` – it was not accepted and may be tried again
  later (4xx, a connection that broke before the message data was sent);
* ``PermanentDeliveryError`` – it was refused for good (5xx): never retried;
* ``UnknownOutcomeError`` – the data was handed over and no final answer came
  back (timeout, broken connection): it may or may not have been delivered;
* ``ConnectError`` – no connection could be made, secured or logged into.
  Nothing was sent, and the message is not to blame, so it costs no attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from types import TracebackType

from ops_sheets.errors import TransportError

#: Called by ``send`` at the last moment before the message data goes out; the
#: postman records the ``sending`` state there. If it raises, nothing is sent.
HandoverCallback = Callable[[], None]


class DeliveryError(TransportError):
    """A send failed; ``code`` is the SMTP reply code when there was one."""

    def __init__(self, message: str, *, code: int | None = None, stage: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.stage = stage


class TemporaryDeliveryError(DeliveryError):
    """Not delivered; worth retrying later."""


class PermanentDeliveryError(DeliveryError):
    """Refused for good; retrying would only be refused again."""


class UnknownOutcomeError(DeliveryError):
    """The message data was handed over but no final reply came back."""


class ConnectError(TemporaryDeliveryError):
    """Could not connect, secure the connection or log in; nothing was sent.

    ``exit_code`` is 2 when the cause is configuration (certificate, login,
    password source) rather than the network.
    """

    def __init__(self, message: str, *, config: bool = False) -> None:
        super().__init__(message, stage="connect")
        self.config = config
        if config:
            self.exit_code = 2


class Transport:
    """Base class: ``open()``, ``send(msg)``, ``close()``; usable as a context manager.

    ``send`` connects on first use, so a batch with nothing to send opens no
    connection; a batch reuses one connection until ``close()``.
    """

    name = "transport"

    def open(self) -> None:
        """Connect now (optional: ``send`` connects when needed)."""

    def send(self, msg: EmailMessage, on_handover: HandoverCallback | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection; the transport may be used again afterwards."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def envelope(msg: EmailMessage) -> tuple[str, list[str]]:
    """(MAIL FROM, RCPT TO list) taken from the message's own From and To headers."""
    sender = msg["From"].addresses[0].addr_spec
    recipients = [a.addr_spec for a in msg["To"].addresses]
    return sender, recipients
