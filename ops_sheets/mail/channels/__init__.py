"""Alerts to chat: Slack, Microsoft Teams, Telegram and a generic webhook.

One module per service behind one small interface (:class:`base.Channel`), the
shape of healthchecks' integrations: :mod:`compose` renders the text from
templates, each channel turns it into its service's body, :mod:`http` posts
it, :mod:`poster` records every post in the ledger so it goes at most once.
"""

from __future__ import annotations

from ops_sheets.config import ChannelSettings, Settings

from .base import Channel, ChannelText
from .slack import SlackChannel
from .teams import TeamsChannel
from .telegram import TelegramChannel
from .webhook import WebhookChannel

CHANNEL_CLASSES: dict[str, type[Channel]] = {
    c.kind: c for c in (SlackChannel, TeamsChannel, TelegramChannel, WebhookChannel)
}


def make_channel(name: str, config: ChannelSettings, settings: Settings) -> Channel:
    return CHANNEL_CLASSES[config.kind](name, config, settings)


def channels_of(settings: Settings) -> list[Channel]:
    """The enabled channels of the config, in the order it lists them."""
    return [make_channel(n, c, settings) for n, c in settings.channels.items() if c.enabled]


__all__ = ["CHANNEL_CLASSES", "Channel", "ChannelText", "channels_of", "make_channel"]
