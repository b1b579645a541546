"""The channel interface: one module per service turns a rendered message into
that service's request body.

A channel message starts as plain text rendered from a Jinja template (see
:mod:`ops_sheets.mail.channels.compose`): the first line is the title, blank
lines separate paragraphs. :class:`ChannelText` holds it *unescaped*; each
channel escapes it for its own markup (Slack mrkdwn, Telegram HTML), or puts it
where markup is not read at all (Teams ``TextRun``, the webhook's JSON), so a
product called ``<b>Mugs & "Jugs"</b>`` shows as typed everywhere.

A channel knows three things: the request bodies for a message
(:meth:`Channel.payloads`, one per request: Telegram splits long messages),
the URL to post them to given the secret (:meth:`Channel.endpoint`), and
whether an answer means "accepted" (:meth:`Channel.accepted`: Telegram says
``"ok": false`` with status 200 in some cases). The secret (webhook URL or bot
token) is read only when posting, from the environment variable or file the
config names, never stored in the ledger, and only its host is ever logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ops_sheets.config import ChannelSettings, Settings
from ops_sheets.logs import register_secret
from ops_sheets.mail.transports.base import ConnectError
from ops_sheets.mail.transports.smtp import Secret  # the SMTP password's wrapper, reused

#: A request body: JSON-serialisable, never holding a secret.
Payload = dict[str, Any]


@dataclass(frozen=True)
class ChannelText:
    """A rendered channel message, unescaped: a title and paragraphs of lines."""

    kind: str
    title: str
    paragraphs: tuple[str, ...] = ()
    #: the idempotency key of the message (the webhook passes it on)
    key: str = ""

    @classmethod
    def parse(cls, kind: str, text: str, key: str = "") -> ChannelText:
        """First non-blank line = title; the rest split into paragraphs at blank lines."""
        lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        while lines and not lines[0].strip():
            lines.pop(0)
        title = lines.pop(0).strip() if lines else ""
        paragraphs: list[str] = []
        current: list[str] = []
        for line in lines:
            if line.strip():
                current.append(line)
            elif current:
                paragraphs.append("\n".join(current))
                current = []
        if current:
            paragraphs.append("\n".join(current))
        return cls(kind, title, tuple(paragraphs), key)

    @property
    def text(self) -> str:
        """The whole message as plain text."""
        return "\n\n".join([self.title, *self.paragraphs]).strip()


class Channel:
    """Base class of the four channel kinds; ``kind`` names the module."""

    kind: ClassVar[str] = ""
    #: what a person calls it, for messages ("Slack", "Microsoft Teams"...)
    label: ClassVar[str] = ""

    def __init__(self, name: str, config: ChannelSettings, settings: Settings) -> None:
        self.name = name
        self.config = config
        self.settings = settings

    # ------------------------------------------------------------ format

    def payloads(self, text: ChannelText) -> list[Payload]:
        """The request bodies that post ``text`` (usually one)."""
        raise NotImplementedError

    def accepted(self, status: int, body: bytes) -> tuple[bool, str]:
        """(accepted?, why not) for a 2xx answer; most services mean yes by 2xx."""
        return True, ""

    # ------------------------------------------------------------ where

    @property
    def where(self) -> str:
        """How log lines and problems name this channel."""
        return f"[channels.{self.name}]"

    def secret_source(self) -> tuple[str, str]:
        """(config key, variable or file) that holds the secret."""
        c = self.config
        if c.url_env:
            return "url_env", c.url_env
        return "url_file", c.url_file

    def read_secret(self) -> Secret:
        """The webhook URL (or bot token) from its variable or file; errors name the
        variable or file, never the value."""
        key, source = self.secret_source()
        if key.endswith("_env"):
            value = os.environ.get(source, "").strip()
            if not value:
                raise ConnectError(
                    f"{self.where} {key}: environment variable {source} is not set or empty; "
                    f"export it (the {self.secret_name}) before running",
                    config=True,
                )
        else:
            path = self.settings.resolve(source)
            try:
                with open(path, encoding="utf-8") as fh:
                    value = fh.readline().strip()
            except OSError as exc:
                raise ConnectError(
                    f"{self.where} {key}: cannot read {path}: {exc.strerror}", config=True
                ) from None
            if not value:
                raise ConnectError(
                    f"{self.where} {key}: {path} is empty; put the {self.secret_name} on its "
                    "first line",
                    config=True,
                )
        register_secret(value)
        return Secret(value)

    @property
    def secret_name(self) -> str:
        return "webhook URL"

    def endpoint(self, secret: Secret) -> str:
        """The URL to POST to; checked: https with a host."""
        url = secret.reveal()
        check_https(url, f"{self.where} {'/'.join(self.secret_source())}")
        # the path and query of a webhook URL are the secret part
        parts = urlsplit(url)
        register_secret(parts.path.strip("/"))
        register_secret(parts.query)
        return url

    def problems(self) -> list[str]:
        """What ``check`` reports: the secret cannot be read or is not a usable URL."""
        try:
            self.endpoint(self.read_secret())
        except ConnectError as exc:
            return [str(exc)]
        return []


def check_https(url: str, where: str) -> None:
    """Refuse a URL that is not https with a host; the message never shows the URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a port that is not a number raises here, not in the client
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme != "https" or not host:
        scheme = f"'{parts.scheme}'" if parts is not None and parts.scheme else "none"
        raise ConnectError(
            f"{where}: the value is not a usable https URL (scheme {scheme}); use the https URL "
            "the service gave you (posts are never sent unencrypted)",
            config=True,
        )


def host_of(url: str) -> str:
    """The host of a URL: the only part of a webhook URL that may be logged."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def truncate(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: max(limit - len(marker), 0)] + marker


def utf16_len(text: str) -> int:
    """Length as Telegram and Slack count it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def join_nonblank(parts: Sequence[str], sep: str = "\n") -> str:
    return sep.join(p for p in parts if p)


def metadata(text: ChannelText, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": text.kind, "title": text.title, **(extra or {})}
