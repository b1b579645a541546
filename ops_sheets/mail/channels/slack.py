"""Slack: an incoming webhook, Block Kit blocks.

The title goes in a ``header`` block (plain text, 150 characters at most); each
paragraph in a ``section`` block of ``mrkdwn`` text (3,000 at most). Slack's
mrkdwn reads ``<…>`` as links and mentions (``<!channel>``) and ``&`` as the
start of an entity, so ``&``, ``<`` and ``>`` are escaped as Slack documents;
the top-level ``text`` is the notification's fallback, escaped the same way.
"""

from __future__ import annotations

from .base import Channel, ChannelText, Payload, truncate

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
MAX_BLOCKS = 50


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters as entities (and nothing else)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sections(paragraphs: tuple[str, ...]) -> list[str]:
    """Escaped section texts, each within Slack's limit (long paragraphs split by line)."""
    out: list[str] = []
    for paragraph in paragraphs:
        current = ""
        for line in escape_mrkdwn(paragraph).split("\n"):
            line = truncate(line, SECTION_LIMIT)
            if current and len(current) + 1 + len(line) > SECTION_LIMIT:
                out.append(current)
                current = line
            else:
                current = f"{current}\n{line}" if current else line
        if current:
            out.append(current)
    return out


class SlackChannel(Channel):
    kind = "slack"
    label = "Slack"

    def payloads(self, text: ChannelText) -> list[Payload]:
        blocks: list[Payload] = [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": truncate(text.title or "ops-sheets", HEADER_LIMIT),
                    "emoji": True,
                },
            }
        ]
        paragraphs = text.paragraphs
        if len(text.title) > HEADER_LIMIT:  # the header is cut: the whole line goes below it
            paragraphs = (text.title, *paragraphs)
        sections = _sections(paragraphs)
        if len(sections) > MAX_BLOCKS - 1:
            rest = len(sections) - (MAX_BLOCKS - 2)
            sections = [*sections[: MAX_BLOCKS - 2], f"… and {rest} more (see the email)"]
        blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]
        return [{"text": truncate(escape_mrkdwn(text.title), SECTION_LIMIT), "blocks": blocks}]
