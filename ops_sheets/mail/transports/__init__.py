"""How finished messages leave: the outbox folder (default) or SMTP."""

from __future__ import annotations

from ops_sheets.config import Settings

from .base import (
    ConnectError,
    DeliveryError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    Transport,
    UnknownOutcomeError,
)
from .outbox import OutboxTransport
from .smtp import SmtpTransport


def make_transport(settings: Settings) -> Transport:
    """The transport named by ``[mail] transport``."""
    if settings.mail.transport == "smtp":
        return SmtpTransport.from_settings(settings)
    return OutboxTransport(settings.resolve(settings.mail.outbox_dir))


__all__ = [
    "ConnectError",
    "DeliveryError",
    "OutboxTransport",
    "PermanentDeliveryError",
    "SmtpTransport",
    "TemporaryDeliveryError",
    "Transport",
    "UnknownOutcomeError",
    "make_transport",
]
