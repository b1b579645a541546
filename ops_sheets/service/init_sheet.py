"""``ops-sheets init``: make the workbook ready for the service.

Creates missing tabs (with every header) and adds missing service columns to the
team's existing tabs, after their last used column. Team columns the team chose
not to use are left out: only SKU and On hand are required of a Stock tab.

A missing team tab is not created when a tab with a similar title exists
("Orders 2026" for "Orders"): the team most likely renamed it, and a second,
empty Orders tab beside theirs would only hide that. ``init`` says which tab looks
like it and how to map it in the config; ``--yes`` creates the tab anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from ops_sheets.config import Settings
from ops_sheets.sheet.looks import ColumnLook, looks_for
from ops_sheets.sheet.tab_input import HEADER_SEARCH_ROWS, find_header_index, required_found
from ops_sheets.sheet.tables import TAB_SPECS, TEAM_TABS, layout_for, similar_title
from ops_sheets.sheet.workbook import open_workbook
from ops_sheets.sheet.workbook.base import Workbook


class InitReport(list[str]):
    """The lines ``init`` prints; ``held`` holds the tabs it did not create because
    a tab with a similar title exists (``ops-sheets init`` then exits 1)."""

    def __init__(self, lines: Iterable[str] = (), held: Iterable[str] = ()) -> None:
        super().__init__(lines)
        self.held = list(held)


def workbook_layout(settings: Settings, existing: set[str]) -> dict[str, list[str]]:
    layout: dict[str, list[str]] = {}
    for spec in TAB_SPECS.values():
        tab = layout_for(spec, settings)
        if tab.title in existing and not spec.service_owned:
            # wave 2's optional service columns are added by the job that writes them
            wanted = [c for c in spec.columns if c.owner == "service" and not c.optional]
        else:
            wanted = [c for c in spec.columns if not c.optional]
        layout[tab.title] = [tab.headers[c.key] for c in wanted]
    return layout


def workbook_looks(settings: Settings) -> dict[str, dict[str, ColumnLook]]:
    """Tab title -> header -> how the column looks (see :mod:`ops_sheets.sheet.looks`)."""
    out: dict[str, dict[str, ColumnLook]] = {}
    for spec in TAB_SPECS.values():
        tab = layout_for(spec, settings)
        out[tab.title] = looks_for(spec, tab.headers, settings.currency)
    return out


def similar_tabs(settings: Settings, existing: set[str]) -> dict[str, str]:
    """Missing team tabs whose title looks like an existing tab: tab key → that tab."""
    out: dict[str, str] = {}
    folded = {t.casefold() for t in existing}
    for key in TEAM_TABS:
        title = layout_for(TAB_SPECS[key], settings).title
        if title.casefold() in folded:
            continue
        similar = similar_title(title, existing, settings)
        if similar:
            out[key] = similar
    return out


def header_rows(
    settings: Settings, wb: Workbook, existing: set[str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Where each existing team tab has its headers (1-based, where not row 1), and
    the tabs whose required headers are in none of rows 1-10 (title → what to say):
    ``init`` writes nothing into those, rather than headers beside a title row."""
    specs = {layout_for(TAB_SPECS[k], settings).title: TAB_SPECS[k] for k in TEAM_TABS}
    present = [t for t in specs if t in existing]
    grids = wb.read(present) if present else {}
    rows: dict[str, int] = {}
    refused: dict[str, str] = {}
    for title, grid in grids.items():
        spec = specs[title]
        if not any(any(v not in (None, "") for v in r) for r in grid.rows):
            continue  # an empty tab: init writes its headers in row 1
        index = find_header_index(spec, grid.rows, settings)
        if index is not None:
            if index:
                rows[title] = index + 1
            continue
        required = [c for c in spec.columns if c.required]
        headers = layout_for(spec, settings).headers
        best, best_row = [], 0
        for i, row in enumerate(grid.rows[:HEADER_SEARCH_ROWS]):
            found = required_found(spec, row, settings)
            if len(found) > len(best):
                best, best_row = found, i + 1
        found_text = (
            f"found only {', '.join(headers[k] for k in best)} (row {best_row})"
            if best
            else "found none of them"
        )
        refused[title] = (
            f"did not add columns to tab {title!r}: its required headers "
            f"({', '.join(headers[c.key] for c in required)}) are not together in one of "
            f"rows 1-{HEADER_SEARCH_ROWS}; {found_text}. Type the missing headers in the "
            f"header row, map yours in {settings.source} ([tabs.{spec.key}] columns = "
            f"{{ ... }}), or set [tabs.{spec.key}] header_row"
        )
    return rows, refused


def init_workbook(settings: Settings, *, create_similar: bool = False) -> InitReport:
    """Create what is missing; ``create_similar`` (``--yes``): also the team tabs that
    have a look-alike (see the module docstring). A team tab whose headers cannot be
    found is left as it is, and said so (exit 1)."""
    with open_workbook(settings) as wb:
        existing = set(wb.tab_titles()) if _exists(wb) else set()
        layout = workbook_layout(settings, existing)
        held = {} if create_similar else similar_tabs(settings, existing)
        for key in held:
            layout.pop(layout_for(TAB_SPECS[key], settings).title)
        rows, refused = header_rows(settings, wb, existing)
        for title in refused:
            layout.pop(title, None)
        done = wb.ensure_layout(layout, rows, workbook_looks(settings))
        remember_sheet_ids(settings, wb)
    lines = list(done) + list(refused.values())
    for key, similar in held.items():
        title = layout_for(TAB_SPECS[key], settings).title
        lines.append(
            f"did not create tab {title!r}: {similar!r} looks like it. If it is, map it in "
            f'{settings.source}: [tabs.{key}] name = "{similar}"; if not, run '
            f"`ops-sheets init --yes` to create an empty {title!r}"
        )
    if not lines:
        lines = [f"{wb.name}: every tab and service column is already there"]
    return InitReport(
        lines, [layout_for(TAB_SPECS[k], settings).title for k in held] + list(refused)
    )


def _exists(wb: object) -> bool:
    """Whether the workbook is there yet (an xlsx file `init` is about to create is not)."""
    path = getattr(wb, "path", None)
    return path.exists() if path is not None else True


def remember_sheet_ids(settings: Settings, wb: Workbook) -> None:
    """Google: keep the tabs' sheet ids ``init`` has just read in the state, so the
    runs after it can write the Problems links (``#gid=…``) without a request of
    their own (see :func:`ops_sheets.service.runner._recall_sheet_ids`)."""
    ids = wb.known_sheet_ids()
    if not ids:
        return
    from contextlib import closing

    from ops_sheets.service.runner import SHEET_IDS
    from ops_sheets.store.state import State

    with closing(State(settings.resolve(settings.state.path))) as state:
        if state.get(SHEET_IDS, wb.name) != ids:
            state.put(SHEET_IDS, wb.name, ids)
