"""From a message (kind + the email's context) to a channel's :class:`ChannelText`.

Templates: ``templates/<kind>/channel.txt`` is the text every channel posts for
``kind``; ``templates/<kind>/channel.<channel kind>.txt`` (``channel.slack.txt``,
``channel.teams.txt``, ``channel.telegram.txt``, ``channel.webhook.txt``), when
present, replaces it for that kind of channel. Like the email templates, a file
of the same name in ``[mail] templates_dir`` overrides the bundled one. They are
plain text: the first line is the title, blank lines separate paragraphs; each
channel escapes the text for its own markup, so a template never escapes.

What a channel gets is *the urgent part*:

* ``manager_alert``: only the open findings at or above the channel's
  ``min_severity`` (``findings``; ``below`` counts the other open ones). With
  none, nothing is posted.
* ``weekly_summary``: the email's context; the bundled template shows the
  first headline figures.
* ``heartbeat_failure``: ``shop_name``, ``job``, ``at``, ``error``: one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ops_sheets.config import ChannelSettings, Settings
from ops_sheets.mail.templates import TemplateRenderer

from .base import Channel, ChannelText

#: template severities (monitoring.TEMPLATE_SEVERITY), most severe first
SEVERITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
#: the channel-only message: one line when a job run fails
HEARTBEAT_FAILURE = "heartbeat_failure"


def channel_context(
    kind: str, context: Mapping[str, Any], config: ChannelSettings
) -> dict[str, Any] | None:
    """The template context for a channel, or None when there is nothing to post."""
    if kind != "manager_alert":
        return dict(context)
    threshold = SEVERITY_RANK.get(config.min_severity.lower(), 0)
    open_ = [f for f in context.get("findings", []) if not f.get("resolved")]
    urgent = [
        f for f in open_ if SEVERITY_RANK.get(str(f.get("severity", "low")).lower(), 2) <= threshold
    ]
    if not urgent:
        return None
    return {
        **context,
        "findings": urgent,
        "below": len(open_) - len(urgent),
        "min_severity": config.min_severity.upper(),
    }


def heartbeat_context(shop_name: str, job: str, at: datetime, error: str) -> dict[str, Any]:
    one_line = " ".join(error.split())
    return {"shop_name": shop_name, "job": job, "at": at, "error": one_line[:300]}


def sample_heartbeat_context() -> dict[str, Any]:
    return heartbeat_context(
        "Harbour & Pine Homeware",
        "orders",
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        "the Orders tab cannot be read: the sheet was not found (404)",
    )


class Composer:
    """Renders channel texts with the email templates' search path and sandbox."""

    def __init__(self, settings: Settings, renderer: TemplateRenderer | None = None) -> None:
        self.settings = settings
        self.renderer = renderer or TemplateRenderer(settings)

    def template_for(self, kind: str, channel_kind: str) -> str:
        """The part name used for ``kind`` on a ``channel_kind`` channel."""
        special = f"channel.{channel_kind}.txt"
        return special if self.renderer.source_of(kind, special) else "channel.txt"

    def text(
        self, channel: Channel, kind: str, key: str, context: Mapping[str, Any]
    ) -> ChannelText | None:
        """The message for ``channel``, or None when it has nothing urgent to post.

        Raises TemplateRenderError (naming the file and line) when a template fails.
        """
        values = channel_context(kind, context, channel.config)
        if values is None:
            return None
        part = self.template_for(kind, channel.kind)
        rendered = self.renderer.render_file(kind, part, values)
        text = ChannelText.parse(kind, rendered, key)
        return text if text.title else None
