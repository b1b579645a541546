"""Heartbeat pings: tell an outside monitor that runs start, succeed and fail.

The convention of healthchecks.io (and Cronitor, Better Stack, Uptime Kuma push
monitors...): ``<url>/start`` when a run starts, ``<url>`` when it succeeds,
``<url>/fail`` when it fails. The monitor alerts a person when a success stops
arriving, which also covers the case no log can: the server itself being down.

A ping is a plain GET with a short timeout. It never fails a job and never stops
the service: an unreachable monitor is a warning in the log. The URL is a secret
(anyone holding it can ping), so it is registered with the log redactor.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from ops_sheets.config import Settings
from ops_sheets.errors import ConfigError
from ops_sheets.logs import register_secret

log = logging.getLogger("ops_sheets.serve")

USER_AGENT = "ops-sheets heartbeat"


class Heartbeat:
    def __init__(self, url: str, timeout_seconds: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"[serve] heartbeat_url: {url!r} is not an http(s) URL; use the ping URL your "
                "monitor gives you, e.g. https://hc-ping.com/<uuid>"
            )
        self.url = url
        self.timeout_seconds = timeout_seconds
        register_secret(url)
        register_secret(parts.path.strip("/"))

    @classmethod
    def from_settings(cls, settings: Settings) -> Heartbeat | None:
        url = settings.serve.heartbeat_url.strip()
        if not url:
            return None
        try:
            return cls(url, settings.serve.heartbeat_timeout_seconds)
        except ConfigError as exc:
            raise ConfigError(f"{settings.source}: {exc}") from None

    def start(self, job: str) -> bool:
        return self.ping("/start", job)

    def success(self, job: str) -> bool:
        return self.ping("", job)

    def failure(self, job: str) -> bool:
        return self.ping("/fail", job)

    def url_for(self, suffix: str) -> str:
        """``suffix`` appended to the path, keeping any query string (``?create=1``)."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))

    def ping(self, suffix: str, job: str = "") -> bool:
        """True when the monitor answered 2xx; never raises."""
        # S310: the scheme was checked in __init__ (http or https only)
        request = urllib.request.Request(self.url_for(suffix), headers={"User-Agent": USER_AGENT})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                response.read(1024)
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            what = f"heartbeat ping{suffix}"
            log.warning("%s: %s failed (the job is not affected): %s", job or "serve", what, reason)
            return False
