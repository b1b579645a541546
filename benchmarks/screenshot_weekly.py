"""Screenshot the weekly summary email (and the manager alert) as a mail client shows it.

    python -m benchmarks.screenshot_weekly [OUTBOX] [--out DIR]

OUTBOX defaults to the outbox of ``ops-sheets demo --dir /tmp/demo-monitor``. For
each of the newest ``weekly_*.eml`` and ``alert_*.eml`` it takes the HTML part,
replaces every ``cid:`` reference by the inline image it names (as a ``data:``
URI: this is what a mail client does with the message's own parts), writes the
page to a temporary file and has headless Chromium screenshot it. Nothing remote
is loaded: the page has no external references, and Chromium runs with its
network features off. Prints the PNG paths and checks that every ``cid:`` image
of the message was found among its parts.

Needs Chromium (``apt-get install -y chromium``); set ``CHROMIUM`` to use another
binary.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

DEFAULT_OUTBOX = Path("/tmp/demo-monitor/outbox")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        sys.exit("no Chromium found: apt-get install -y chromium (or set CHROMIUM=/path)")
    return found


def inline_html(message: EmailMessage) -> tuple[str, list[str]]:
    """The HTML part with its cid: images inlined as data: URIs, and the cids used."""
    html_part = message.get_body(("html",))
    if html_part is None:
        raise SystemExit("the message has no HTML part")
    html = html_part.get_content()
    images: dict[str, tuple[str, bytes]] = {}
    for part in message.walk():
        cid = part.get("Content-ID")
        if cid and part.get_content_maintype() == "image":
            images[cid.strip("<>")] = (part.get_content_type(), part.get_payload(decode=True))
    used = re.findall(r'src="cid:([^"]+)"', html)
    missing = [c for c in used if c not in images]
    if missing:
        raise SystemExit(f"cid: images not in the message: {', '.join(missing)}")

    def data_uri(match: re.Match[str]) -> str:
        mime, data = images[match.group(1)]
        return f'src="data:{mime};base64,{base64.b64encode(data).decode()}"'

    return re.sub(r'src="cid:([^"]+)"', data_uri, html), used


def screenshot(eml: Path, out_dir: Path, height: int) -> Path:
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    html, used = inline_html(message)  # type: ignore[arg-type]
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / f"{eml.stem}.html"
    page.write_text(html, encoding="utf-8")
    png = out_dir / f"{eml.stem}.png"
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [
                browser(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size=720,{height}",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"{eml.name}: subject {message['Subject']!r}; {len(used)} inline image(s): {png}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outbox", nargs="?", type=Path, default=DEFAULT_OUTBOX)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ops-shots")
    parser.add_argument("--height", type=int, default=2600, help="page height in pixels")
    args = parser.parse_args(argv)
    shots = []
    for pattern in ("weekly_*.eml", "alert_*.eml"):
        emls = sorted(args.outbox.glob(pattern), key=lambda p: p.stat().st_mtime)
        if not emls:
            print(f"no {pattern} in {args.outbox} (run `ops-sheets demo --dir ...` first)")
            continue
        shots.append(screenshot(emls[-1], args.out, args.height))
    return 0 if shots else 1


if __name__ == "__main__":
    raise SystemExit(main())
