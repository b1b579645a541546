"""Workbook backends behind one small interface (see :mod:`.base`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ops_sheets.sheet.workbook.base import (
    Cell,
    ChangeSet,
    Grid,
    Workbook,
    WriteReport,
    key_text,
    normalise_header,
)

if TYPE_CHECKING:
    from ops_sheets.config import Settings

__all__ = [
    "Cell",
    "ChangeSet",
    "Grid",
    "Workbook",
    "WriteReport",
    "key_text",
    "normalise_header",
    "open_workbook",
]


def open_workbook(settings: Settings) -> Workbook:
    """The backend the config names; imports only what that backend needs."""
    backend = settings.workbook.backend
    if backend == "xlsx":
        from ops_sheets.sheet.tables import TAB_SPECS, layout_for
        from ops_sheets.sheet.workbook.xlsx import XlsxWorkbook

        # the tabs the service owns, under the titles this config gives them
        service_tabs = [
            layout_for(spec, settings).title for spec in TAB_SPECS.values() if spec.service_owned
        ]
        return XlsxWorkbook(settings.resolve(settings.workbook.path), service_tabs)
    if backend == "google":
        from ops_sheets.sheet.workbook.google import GoogleWorkbook

        emulator = os.environ.get("SHEETS_EMULATOR_HOST")
        return GoogleWorkbook.from_settings(settings, emulator=emulator)
    from ops_sheets.errors import ConfigError

    raise ConfigError(
        f'{settings.source}: [workbook] backend: "{backend}" cannot be opened from a config; '
        'use "xlsx" or "google"'
    )
