"""Packing slips as PDF files: one per order due for the next pickup (issue 22).

What a slip shows is decided in :mod:`ops_sheets.domain.packing` (``Slip``);
this module draws it with **fpdf2** (pure Python, small, no system libraries,
maintained; it embeds a TrueType font so names like ``Zoë`` or ``Łódź`` print)
and writes ``<folder>/<Order ID>.pdf`` (the ID made safe as a file name, see
``packing.file_names``).

A slip is rewritten only when what it shows changed: the hash of its content
(``packing.slip_digest``) is kept beside the slips in ``.packing-slips.json``
(so the folder says for itself what it holds, whichever machine or state store
runs the job). A slip whose file was deleted or whose hash differs is written
again, atomically (temporary file + rename); any other file is left untouched,
byte for byte and with its modification time, so a printer queue or a person
watching the folder sees only real changes.

A slip the service wrote for an order that can no longer be packed (cancelled,
shipped, put on hold, or gone from the tab) is deleted, so nobody prints and
packs it from the folder. Files the service did not write (not in the index)
are never touched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ops_sheets.domain.packing import Slip, SlipItem, file_names, slip_digest
from ops_sheets.errors import ConfigError

if TYPE_CHECKING:
    from fpdf import FPDF

INDEX = ".packing-slips.json"


@dataclass
class SlipReport:
    written: list[str] = field(default_factory=list)  # file names
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def write_slips(
    folder: Path, slips: Sequence[Slip], now: datetime, *, packable: Collection[str] = ()
) -> SlipReport:
    """Write the slips whose content changed; leave every other file untouched.

    ``packable``: the order IDs that may still be packed; the slips this service
    wrote for any other order (and not in ``slips``) are removed.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"[jobs.orders] packing_slips_dir: cannot create {folder} ({exc.strerror}); "
            "choose a folder the service may write to"
        ) from None
    index = _read_index(folder)
    names = file_names([s.order_id for s in slips])
    report = SlipReport()
    for slip in slips:
        name = names[slip.order_id]
        digest = slip_digest(slip)
        known = index.get(slip.order_id)
        path = folder / name
        if known == {"file": name, "hash": digest} and path.is_file():
            report.unchanged.append(name)
            continue
        _atomic_write(path, render(slip, now))
        index[slip.order_id] = {"file": name, "hash": digest}
        report.written.append(name)
    current = {s.order_id for s in slips}
    for order_id in sorted(set(index) - current - set(packable)):
        entry = index.pop(order_id)
        name = str(entry.get("file", "")) if isinstance(entry, dict) else ""
        if name and Path(name).name == name and name.endswith(".pdf"):
            (folder / name).unlink(missing_ok=True)
            report.removed.append(name)
    if report.written or report.removed:
        _atomic_write(
            folder / INDEX,
            json.dumps(index, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8"),
        )
    return report


def _read_index(folder: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no index (or a damaged one): every slip is drawn again
    return data if isinstance(data, dict) else {}


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- drawing


def _font_files() -> tuple[Path, Path] | None:
    """DejaVu Sans (regular, bold): shipped with matplotlib, a dependency already."""
    try:
        import matplotlib

        base = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    except Exception:  # matplotlib missing or broken: the core font will do
        return None
    regular, bold = base / "DejaVuSans.ttf", base / "DejaVuSans-Bold.ttf"
    return (regular, bold) if regular.is_file() and bold.is_file() else None


@lru_cache(maxsize=4)
def _glyphs(font: Path) -> frozenset[int]:
    """The characters ``font`` can draw (its character map)."""
    from fontTools.ttLib import TTFont  # fpdf2's own dependency

    return frozenset(TTFont(str(font), lazy=True)["cmap"].getBestCmap())


def unprintable(slip: Slip) -> str:
    """The characters of ``slip`` its font cannot draw, once each in order of first
    use: they would come out blank on paper (a name in Japanese, say), so the packer
    must take them from the sheet. "" when the slip prints whole."""
    fonts = _font_files()
    known = _glyphs(fonts[0]) | _glyphs(fonts[1]) if fonts is not None else None
    texts = [
        slip.shop_name,
        slip.customer,
        *slip.address_lines,
        slip.forwarder,
        *(t for item in (*slip.items, *slip.to_follow) for t in (item.sku, item.product)),
    ]
    missing = (
        ch
        for text in texts
        for ch in text
        if not ch.isspace()
        and (ord(ch) not in known if known is not None else ord(ch) > 0xFF)  # Latin-1 core font
    )
    return "".join(dict.fromkeys(missing))


def render(slip: Slip, now: datetime) -> bytes:
    """The slip as PDF bytes (A4, one page per 25 or so items)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_creation_date(now.astimezone(UTC))
    pdf.set_title(f"Packing slip {slip.order_id}")
    pdf.set_author(slip.shop_name)
    pdf.set_auto_page_break(auto=True, margin=15)
    fonts = _font_files()
    if fonts is not None:
        pdf.add_font("Slip", "", str(fonts[0]))
        pdf.add_font("Slip", "B", str(fonts[1]))
        family = "Slip"

        def text(value: str) -> str:
            return value

    else:
        family = "Helvetica"

        def text(value: str) -> str:  # the core fonts know Latin-1 only
            return value.encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font(family, "B", 18)
    pdf.cell(width, 10, text(slip.shop_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 12)
    pdf.cell(width, 7, text(f"Packing slip - order {slip.order_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    facts = [("Order date", slip.order_date), ("Ship by", slip.ship_by)]
    if slip.forwarder:
        facts.append(("Forwarder", slip.forwarder))
    pdf.cell(
        width,
        6,
        text("   ".join(f"{k}: {v}" for k, v in facts if v)),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    pdf.set_font(family, "B", 11)
    pdf.cell(width, 6, "Deliver to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 11)
    for line in (slip.customer, *slip.address_lines):
        if line:
            pdf.cell(width, 6, text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    _items(pdf, family, text, width, "Items", slip.items)
    if slip.to_follow:
        pdf.ln(2)
        _items(pdf, family, text, width, "To follow (not in this parcel)", slip.to_follow)
    pdf.ln(6)
    pdf.set_font(family, "B", 11)
    pdf.cell(width, 6, "Note", new_x="LMARGIN", new_y="NEXT")
    pdf.rect(pdf.l_margin, pdf.get_y(), width, 30)
    pdf.set_y(pdf.get_y() + 32)
    pdf.set_font(family, "", 9)
    pdf.cell(width, 5, "Packed by: ____________    Checked by: ____________")
    return bytes(pdf.output())


def _items(
    pdf: FPDF,
    family: str,
    text: Callable[[str], str],
    width: float,
    title: str,
    items: Sequence[SlipItem],
) -> None:
    pdf.set_font(family, "B", 11)
    pdf.cell(width, 6, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    with pdf.table(
        col_widths=(30, 90, 15, 15),
        text_align=("LEFT", "LEFT", "RIGHT", "CENTER"),
        first_row_as_headings=True,
    ) as table:
        head = table.row()
        for h in ("SKU", "Product", "Qty", "Packed"):
            head.cell(h)
        for item in items:
            row = table.row()
            row.cell(text(item.sku))
            row.cell(text(item.product))
            row.cell(f"{item.qty:g}")
            row.cell("[  ]")
