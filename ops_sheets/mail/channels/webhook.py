"""A generic webhook: a plain JSON POST for your own endpoint (n8n, Zapier, a
Google Chat or Mattermost bridge, an incident tool).

The body is stable for a given message (no timestamps), so a retry posts the
same bytes::

    {"source": "ops-sheets", "message": "manager_alert", "key": "...",
     "channel": "ops-hook", "title": "...", "text": "...", "paragraphs": [...]}

Values are plain JSON strings, unescaped: the receiver decides its markup.
"""

from __future__ import annotations

from .base import Channel, ChannelText, Payload


class WebhookChannel(Channel):
    kind = "webhook"
    label = "webhook"

    def payloads(self, text: ChannelText) -> list[Payload]:
        return [
            {
                "source": "ops-sheets",
                "message": text.kind,
                "key": text.key,
                "channel": self.name,
                "title": text.title,
                "text": text.text,
                "paragraphs": list(text.paragraphs),
            }
        ]
