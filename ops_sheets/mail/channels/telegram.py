"""Telegram: the Bot API's ``sendMessage`` with ``parse_mode = "HTML"``.

Telegram's HTML mode reads only ``<``, ``>`` and ``&`` as markup, so those three
are escaped (``&lt;`` ``&gt;`` ``&amp;``); the title is the one ``<b>`` tag. A
message may hold at most 4,096 characters after entity parsing; a longer one is
split into several posts *on line boundaries*, each complete HTML (a tag never
spans two posts, an entity is never cut), measured before parsing in UTF-16
units, which can only over-count. A single line too long for one post is cut
between characters of its raw text, never inside an entity.

The URL is ``<api_url>/bot<token>/sendMessage``; the token is the secret.
"""

from __future__ import annotations

import json

from ops_sheets.mail.transports.base import ConnectError

from .base import Channel, ChannelText, Payload, Secret, check_https, utf16_len

LIMIT = 4096


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut_line(raw: str, limit: int) -> list[str]:
    """Escaped pieces of one raw line, each at most ``limit`` UTF-16 units."""
    pieces: list[str] = []
    current = ""
    for char in raw:
        escaped = escape_html(char)
        if current and utf16_len(current) + utf16_len(escaped) > limit:
            pieces.append(current)
            current = ""
        current += escaped
    if current or not pieces:
        pieces.append(current)
    return pieces


def split_html(lines: list[str], limit: int = LIMIT) -> list[str]:
    """Join escaped ``lines`` into as few messages as fit ``limit``, breaking only
    between lines; blank lines at a break are dropped."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        add = utf16_len(line) + (1 if current else 0)
        if current and size + add > limit:
            chunks.append("\n".join(current).strip("\n"))
            current, size = [], 0
            if not line:
                continue
            add = utf16_len(line)
        current.append(line)
        size += add
    if current:
        chunks.append("\n".join(current).strip("\n"))
    return [c for c in chunks if c]


class TelegramChannel(Channel):
    kind = "telegram"
    label = "Telegram"

    def secret_source(self) -> tuple[str, str]:
        c = self.config
        if c.token_env:
            return "token_env", c.token_env
        return "token_file", c.token_file

    @property
    def secret_name(self) -> str:
        return "bot token"

    def endpoint(self, secret: Secret) -> str:
        api = self.config.api_url.rstrip("/")
        check_https(api, f"{self.where} api_url")
        token = secret.reveal()
        if not token or any(c.isspace() or c in "/?#" for c in token):
            key, source = self.secret_source()
            raise ConnectError(
                f"{self.where} {key}: the bot token in {source} does not look like one "
                "(spaces, '/', '?' or '#'); paste the token @BotFather gave you, like "
                "123456:ABC-DEF…",
                config=True,
            )
        return f"{api}/bot{token}/sendMessage"

    def html_lines(self, text: ChannelText) -> list[str]:
        lines = [f"<b>{escape_html(text.title or 'ops-sheets')}</b>"]
        for paragraph in text.paragraphs:
            lines.append("")
            for raw in paragraph.split("\n"):
                lines += _cut_line(raw, LIMIT)
        return lines

    def payloads(self, text: ChannelText) -> list[Payload]:
        return [
            {
                "chat_id": self.config.chat_id,
                "text": chunk,
                "parse_mode": "HTML",
                "disable_web_page_preview": True,
            }
            for chunk in split_html(self.html_lines(text))
        ]

    def accepted(self, status: int, body: bytes) -> tuple[bool, str]:
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            return True, ""  # a 2xx without JSON: trust the status
        if isinstance(answer, dict) and answer.get("ok") is False:
            return False, str(answer.get("description", "not ok"))[:200]
        return True, ""
