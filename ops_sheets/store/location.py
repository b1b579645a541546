"""Where a shop's ledger and state live: a SQLite file, or a schema in PostgreSQL.

``[state] path`` names the SQLite file (the embedded default). ``[state] url =
"postgresql://..."`` moves both into PostgreSQL; each shop keeps its tables in its
own schema (``[state] schema``, by default the config folder's name), so many
shops can share one database without ever seeing each other's keys.

The full text of a PostgreSQL location (:func:`location_text`) is
``postgresql://...#schema``: the part after ``#`` is ours and never reaches libpq.
``str()`` of a location never shows a password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ops_sheets.config import Settings
from ops_sheets.errors import ConfigError

_SCHEMES = ("postgresql://", "postgres://")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unreadable url)"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))


def schema_name(text: str) -> str:
    """A valid, lower-case PostgreSQL schema name made from a folder or shop name."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_") or "shop"
    if name[0].isdigit():
        name = f"shop_{name}"
    return name[:63]


@dataclass(frozen=True)
class PostgresLocation:
    url: str
    schema: str

    def __post_init__(self) -> None:
        if not self.url.startswith(_SCHEMES):
            raise ConfigError(
                f"[state] url: {redact(self.url)!r} is not a PostgreSQL URL; write "
                '"postgresql://user@host:5432/dbname"'
            )
        if not _SCHEMA_NAME.match(self.schema):
            raise ConfigError(
                f"[state] schema: {self.schema!r} is not a usable schema name; use lower-case "
                "letters, digits and _ (at most 63), starting with a letter or _"
            )

    def __str__(self) -> str:
        return f"{redact(self.url)} (schema {self.schema})"


StoreLocation = Path | PostgresLocation


def is_postgres(value: object) -> bool:
    return isinstance(value, PostgresLocation) or (
        isinstance(value, str) and value.startswith(_SCHEMES)
    )


def parse_location(value: str | os.PathLike[str] | PostgresLocation) -> StoreLocation:
    """A location from its full text (see :func:`location_text`), a path, or itself."""
    if isinstance(value, PostgresLocation):
        return value
    if isinstance(value, str) and value.startswith(_SCHEMES):
        url, _, schema = value.partition("#")
        return PostgresLocation(url, schema or "public")
    return Path(value)


def location_text(location: StoreLocation) -> str:
    """The full text of ``location`` (with any password: for child processes, never logs)."""
    if isinstance(location, PostgresLocation):
        return f"{location.url}#{location.schema}"
    return str(location)


def state_location(settings: Settings) -> StoreLocation:
    """Where ``settings`` keep the ledger and the state."""
    url = settings.state.url.strip()
    if not url:
        return settings.resolve(settings.state.path)
    schema = settings.state.schema.strip() or schema_name(settings.base_dir.resolve().name)
    return PostgresLocation(url, schema)
