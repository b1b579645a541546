"""Small PNG charts for the weekly email, drawn with matplotlib's Agg backend.

The email shows them inline (``cid:`` references to parts of the message), so
they display in common mail clients without loading anything remote. Charts are
drawn on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas: no
pyplot, no global state, no display needed, safe in the scheduler's child
processes. The PNG carries no "Software" metadata, so the same numbers give the
same bytes: a re-run of the weekly job builds the same message, which the
ledger recognises instead of calling it a changed message.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

#: Width in CSS pixels the email template shows a chart at; drawn at 2× for
#: high-density screens and scaled down by the mail client.
WIDTH_PX = 584
SCALE = 2
BLUE = "#1f4e79"
GREEN = "#047857"
AMBER = "#b45309"
GREY = "#6b7280"


def _figure(height_px: int) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100 * SCALE
    fig = Figure(figsize=(WIDTH_PX / 100, height_px / 100), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    return fig, fig.add_subplot(1, 1, 1)


def _style(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color("#d1d5db")
    ax.spines["bottom"].set_color("#d1d5db")
    ax.tick_params(colors=GREY, labelsize=7.5, length=0)
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.6)
    ax.set_axisbelow(True)


def _png(fig: Any) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None}, bbox_inches=None)
    return out.getvalue()


def _clean(values: Sequence[float | None]) -> list[float]:
    return [float(v) if v is not None and math.isfinite(float(v)) else math.nan for v in values]


def orders_and_revenue_png(
    labels: Sequence[str],
    orders: Sequence[float | None],
    revenue: Sequence[float | None],
    currency: str = "",
) -> bytes:
    """Orders per week as bars (left axis) and revenue as a line (right axis)."""
    fig, ax = _figure(230)
    _style(ax)
    x = list(range(len(labels)))
    ax.bar(x, _clean(orders), color=BLUE, width=0.6, label="Orders")
    ax.set_ylabel("Orders", color=BLUE, fontsize=8)
    ax.set_xticks(x, [_short(label) for label in labels])
    right = ax.twinx()
    right.plot(x, _clean(revenue), color=AMBER, marker="o", markersize=3, linewidth=1.8)
    right.set_ylabel(f"Revenue ({currency})" if currency else "Revenue", color=AMBER, fontsize=8)
    right.tick_params(colors=GREY, labelsize=7.5, length=0)
    right.set_ylim(bottom=0)
    for side in ("top", "left", "bottom"):
        right.spines[side].set_visible(False)
    right.spines["right"].set_color("#d1d5db")
    right.yaxis.set_major_formatter(_thousands())
    ax.set_ylim(bottom=0)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(color=BLUE, label="Orders"),
            Line2D([], [], color=AMBER, marker="o", markersize=3, label="Revenue"),
        ],
        loc="upper left",
        fontsize=7.5,
        frameon=False,
        ncols=2,
    )
    fig.tight_layout(pad=0.6)
    return _png(fig)


def on_time_png(labels: Sequence[str], percent: Sequence[float | None]) -> bytes:
    """Shipped on time % per week as a line; the y axis starts low enough to show dips."""
    fig, ax = _figure(190)
    _style(ax)
    x = list(range(len(labels)))
    values = _clean(percent)
    ax.plot(x, values, color=GREEN, marker="o", markersize=3.5, linewidth=1.8)
    finite = [v for v in values if not math.isnan(v)]
    low = min(finite, default=100.0)
    ax.set_ylim(max(0.0, min(80.0, math.floor(low / 10) * 10 - 5)), 101)
    ax.set_xticks(x, [_short(label) for label in labels])
    ax.set_ylabel("On time %", color=GREEN, fontsize=8)
    for xi, v in zip(x, values, strict=True):
        if not math.isnan(v):
            ax.annotate(f"{v:.0f}", (xi, v), textcoords="offset points", xytext=(0, 5),
                        ha="center", fontsize=6.5, color=GREY)  # fmt: skip
    fig.tight_layout(pad=0.6)
    return _png(fig)


def _short(week: str) -> str:
    """``2026-W47`` → ``W47``: the year is in the email's heading."""
    return week.split("-", 1)[-1] if "-W" in week else week


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}")
