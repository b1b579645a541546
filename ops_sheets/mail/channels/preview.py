"""``ops-sheets preview KIND --channel NAME`` and the channel part of ``check``."""

from __future__ import annotations

import json
from pathlib import Path

from ops_sheets.config import CHANNEL_MESSAGES, Settings
from ops_sheets.errors import UsageError
from ops_sheets.mail.samples import sample_context
from ops_sheets.mail.transports.base import ConnectError
from ops_sheets.sheet.tables import Problem

from . import make_channel
from .base import host_of
from .compose import HEARTBEAT_FAILURE, sample_heartbeat_context
from .poster import ChannelMessage, ChannelPoster


def preview_channel(settings: Settings, kind: str, name: str) -> tuple[str, list[str]]:
    """(the JSON to print, notes for stderr): the body or bodies the channel would
    post for ``kind`` rendered with sample data. A Telegram message split in
    several posts prints as a JSON array of their bodies."""
    config = settings.channels.get(name)
    if config is None:
        known = ", ".join(settings.channels) or "none"
        raise UsageError(
            f"{settings.source}: no [channels.{name}] section; channels in the config: {known}"
        )
    if kind not in CHANNEL_MESSAGES:
        raise UsageError(
            f"{kind!r} is not a message channels carry; valid: {', '.join(CHANNEL_MESSAGES)}"
        )
    channel = make_channel(name, config, settings)
    context = sample_heartbeat_context() if kind == HEARTBEAT_FAILURE else sample_context(kind)
    notes: list[str] = []
    if kind not in config.send:
        notes.append(
            f"note: [channels.{name}] send does not list {kind}, so it is never posted there"
        )
    poster = ChannelPoster(settings, None)
    message = ChannelMessage(kind, f"preview:{kind}", context)
    text = poster.composer.text(channel, kind, message.key, context)
    if text is None:
        notes.append(
            f"nothing to post: no sample finding is at or above min_severity = "
            f'"{config.min_severity}"'
        )
        return "[]", notes
    bodies = channel.payloads(text)
    template = poster.composer.template_for(kind, channel.kind)
    source = poster.composer.renderer.source_of(kind, template)
    notes.append(f"template: {source or Path(kind) / template}")
    try:
        where = host_of(channel.endpoint(channel.read_secret()))
        notes.append(f"POST to {where} ({channel.kind}), {len(bodies)} request(s)")
    except ConnectError as exc:
        notes.append(f"{len(bodies)} request(s); the channel cannot post yet: {exc}")
    shown = bodies[0] if len(bodies) == 1 else bodies
    return json.dumps(shown, indent=2, ensure_ascii=False), notes


def channel_problems(settings: Settings) -> list[Problem]:
    """``check``: each enabled channel's secret can be read and is a usable https URL
    (or token). The messages name the variable or file, never the value."""
    where = Path(settings.source).name or "config"
    problems: list[Problem] = []
    for name, config in settings.channels.items():
        if not config.enabled:
            continue
        channel = make_channel(name, config, settings)
        for problem in channel.problems():
            key, source = channel.secret_source()
            fix = (
                f"export {source} with the {channel.secret_name} (e.g. in the service's "
                "environment file)"
                if key.endswith("_env")
                else f"put the {channel.secret_name} on the first line of {source}"
            )
            problems.append(Problem(where, None, f"channels.{name}", name, "", problem, fix))
    return problems
