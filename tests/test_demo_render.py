"""The demo workbook as a person sees it: rendered by LibreOffice (issue 17).

A date too wide for its column prints as ``###``, a status word too long for its
column is cut where the next cell starts: the PDF LibreOffice prints of the demo
workbook shows both, so its text is checked for them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ops_sheets.service.demo import run_demo
from ops_sheets.sheet.tables import STOCK_STATUSES

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PDFTOTEXT = shutil.which("pdftotext")


def render_pdf_text(workbook: Path, folder: Path) -> str:
    profile = folder / "lo-profile"
    subprocess.run(
        [
            SOFFICE or "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            str(workbook),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    pdf = folder / (workbook.stem + ".pdf")
    out = subprocess.run(
        [PDFTOTEXT or "pdftotext", "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out.stdout.decode("utf-8", errors="replace")


@pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice (soffice) is not installed; .ci/run installs it"
)
@pytest.mark.skipif(
    PDFTOTEXT is None, reason="pdftotext (poppler-utils) is not installed; .ci/run installs it"
)
@pytest.mark.timeout(900)
def test_the_demo_workbook_prints_no_hashes_and_no_cut_status_words(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    run_demo(demo)
    text = render_pdf_text(demo / "workbook.xlsx", tmp_path)

    assert "Stock status" in text  # the Stock tab was printed at all
    assert "###" not in text
    for word in STOCK_STATUSES:
        # a word cut by the next column shows as its start followed by other text
        for cut in range(4, len(word)):
            start = word[:cut]
            if any(w != word and w.startswith(start) for w in STOCK_STATUSES):
                continue
            pattern = rf"(?<![A-Z]){re.escape(start)}(?![{re.escape(word[cut])}])"
            shown = re.findall(pattern, text)
            assert not shown, f"{word!r} printed cut as {start!r}"
