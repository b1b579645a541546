"""Point gspread at a Sheets API emulator.

gspread hard-codes ``https://sheets.googleapis.com`` (and Drive's
``https://www.googleapis.com``) in ``gspread.urls``, so instead of patching
URLs we give it a ``requests.Session`` that rewrites them on the way out.  The
google backend reuses this when ``SHEETS_EMULATOR_HOST`` is set; the session
sends no credentials, which the emulator (like Google's emulators) accepts.
"""

from __future__ import annotations

from typing import Any

import gspread
import requests
from gspread.http_client import HTTPClient, HTTPClientType

__all__ = [
    "GOOGLE_PREFIXES",
    "RewritingSession",
    "emulator_http_client",
    "emulator_session",
    "gspread_client_for",
]

GOOGLE_PREFIXES: tuple[str, ...] = (
    "https://sheets.googleapis.com",
    "https://www.googleapis.com",
)


class RewritingSession(requests.Session):
    """A ``requests.Session`` that sends Google API URLs to ``base_url`` instead."""

    def __init__(self, base_url: str, prefixes: tuple[str, ...] = GOOGLE_PREFIXES) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.prefixes = prefixes

    def rewrite(self, url: str) -> str:
        for prefix in self.prefixes:
            if url.startswith(prefix):
                return self.base_url + url[len(prefix) :]
        return url

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if isinstance(url, bytes):
            url = url.decode()
        return super().request(method, self.rewrite(url), *args, **kwargs)


def _base_url(host_port: str) -> str:
    return host_port if "://" in host_port else f"http://{host_port}"


def emulator_session(host_port: str) -> RewritingSession:
    """Session for ``SHEETS_EMULATOR_HOST``-style ``host:port`` (or a full URL)."""
    return RewritingSession(_base_url(host_port))


def emulator_http_client(host_port: str, http_client: HTTPClientType = HTTPClient) -> HTTPClient:
    """A gspread ``HTTPClient`` (or subclass, e.g. ``BackOffHTTPClient``) talking
    to the emulator with anonymous access."""
    # With a session given, gspread's HTTPClient never touches the credentials.
    return http_client(None, emulator_session(host_port))  # type: ignore[arg-type]


def gspread_client_for(host_port: str, http_client: HTTPClientType = HTTPClient) -> gspread.Client:
    """A ``gspread.Client`` whose every request goes to the emulator."""
    return gspread.Client(None, emulator_session(host_port), http_client)  # type: ignore[arg-type]
