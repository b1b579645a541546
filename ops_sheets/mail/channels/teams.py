"""Microsoft Teams: an Adaptive Card posted to an incoming webhook or a Workflows
("Post to a channel when a webhook request is received") URL.

Both accept the same envelope::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null, "content": {<the card>}}]}

A ``TextBlock`` reads a subset of Markdown (``**``, ``_``, ``[..](..)``) and
Teams there may turn ``<`` and ``&`` into tags and entities; a ``TextRun`` inside
a ``RichTextBlock`` is never read as markup (Adaptive Cards 1.2+). So every text
that comes from the sheet is a ``TextRun``: a product named ``**Sale** <b>`` is
shown as typed, with no escaping to get wrong. A paragraph is a separated
group of blocks, one per line.
"""

from __future__ import annotations

from .base import Channel, ChannelText, Payload

CARD_VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def _run(text: str, **style: str) -> Payload:
    return {"type": "TextRun", "text": text, **style}


class TeamsChannel(Channel):
    kind = "teams"
    label = "Microsoft Teams"

    def payloads(self, text: ChannelText) -> list[Payload]:
        body: list[Payload] = [
            {
                "type": "RichTextBlock",
                "inlines": [_run(text.title or "ops-sheets", weight="Bolder", size="Medium")],
            }
        ]
        for paragraph in text.paragraphs:
            # one block per line: line breaks inside a TextRun are not kept by every client
            for i, line in enumerate(paragraph.split("\n")):
                block: Payload = {"type": "RichTextBlock", "inlines": [_run(line)]}
                if i == 0:
                    block.update(separator=True, spacing="Medium")
                else:
                    block["spacing"] = "None"
                body.append(block)
        card: Payload = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION,
            "msteams": {"width": "Full"},
            "body": body,
        }
        return [
            {
                "type": "message",
                "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}],
            }
        ]

    def accepted(self, status: int, body: bytes) -> tuple[bool, str]:
        # The old incoming webhooks answer 200 with "1" on success, and 200 with an
        # error text when the card was dropped (e.g. "Webhook message delivery
        # failed with error: Microsoft Teams endpoint returned HTTP error 413").
        text = body[:300].decode("utf-8", "replace").strip()
        if status == 200 and "error" in text.lower():
            return False, text
        return True, ""
