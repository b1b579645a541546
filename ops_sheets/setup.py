"""``ops-sheets init``: make the workbook ready for the service.

Creates missing tabs (with every header) and adds missing service columns to the
team's existing tabs, after their last used column. Team columns the team chose
not to use are left out: only SKU and On hand are required of a Stock tab.
"""

from __future__ import annotations

from .config import Settings
from .tables import TAB_SPECS, layout_for
from .workbook import open_workbook


def workbook_layout(settings: Settings, existing: set[str]) -> dict[str, list[str]]:
    layout: dict[str, list[str]] = {}
    for spec in TAB_SPECS.values():
        tab = layout_for(spec, settings)
        if tab.title in existing and not spec.service_owned:
            wanted = [c for c in spec.columns if c.owner == "service"]
        else:
            wanted = list(spec.columns)
        layout[tab.title] = [tab.headers[c.key] for c in wanted]
    return layout


def init_workbook(settings: Settings) -> list[str]:
    with open_workbook(settings) as wb:
        existing = set(wb.tab_titles()) if _exists(wb) else set()
        done = wb.ensure_layout(workbook_layout(settings, existing))
    return done or [f"{wb.name}: every tab and service column is already there"]


def _exists(wb: object) -> bool:
    """Whether the workbook is there yet (an xlsx file `init` is about to create is not)."""
    path = getattr(wb, "path", None)
    return path.exists() if path is not None else True
