"""Charts of the periodic review as PNG bytes: I-MR control charts and OOS rate by period (OOS-21).

Why this exists: a reviewer at EMA or in management review judges drift and
trends from pictures faster than from tables, so the HTML and PDF reports embed
the same PNGs, drawn once (:func:`report_charts`). How the figures are made is
in :mod:`engine.reporting.chart_style`; what a control chart shows, and how a
chart of 200,000 batches is decimated for display, in
:mod:`engine.reporting.imr_chart`.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from engine.domain.trends import PeriodCounts
from engine.reporting.chart_style import CONTROL_COLOUR, CURRENT_COLOUR, REPORT_DPI, finish_axes, png
from engine.reporting.imr_chart import control_chart_png, display_indexes
from engine.reporting.periodic import PeriodicReport


@dataclass(frozen=True)
class _RateSeries:
    """One rate drawn on the OOS-rate chart: its legend, the :class:`PeriodCounts` names it is read from
    (``total`` None: administered + released), its offset from the period's position and its colour."""

    label: str
    rate: str
    interval: str
    events: str
    total: str | None
    shift: float
    colour: str


_RATES = (
    _RateSeries("OOS rate: OOS / (OOS + released)", "oos_rate", "oos_rate_ci", "oos", "total", -0.12,
                CONTROL_COLOUR),
    _RateSeries("administered-OOS rate: OOS administered / (administered + released)", "administered_oos_rate",
                "administered_oos_rate_ci", "oos_administered", None, 0.12, CURRENT_COLOUR),
)


def _rate_points(ax: Axes, counts: Sequence[PeriodCounts], series: _RateSeries) -> None:
    """One rate per period in %, with its confidence interval as error bars and ``events/total`` beside it."""
    xs, ys, low, high, texts = [], [], [], [], []
    for x, item in enumerate(counts):
        rate, interval = getattr(item, series.rate), getattr(item, series.interval)
        if rate is None or interval is None:
            continue
        n = getattr(item, series.total) if series.total else item.oos_administered + item.released
        xs.append(x + series.shift)
        ys.append(100 * rate)
        low.append(100 * (rate - interval[0]))
        high.append(100 * (interval[1] - rate))
        texts.append(f"{getattr(item, series.events)}/{n}")
    ax.errorbar(xs, ys, yerr=[low, high], fmt="o", color=series.colour, capsize=4, lw=1.2, label=series.label)
    for x, y, text in zip(xs, ys, texts, strict=True):
        ax.annotate(text, (x, y), xytext=(6, 0), textcoords="offset points", fontsize=7, va="center",
                    color=series.colour)


def oos_rate_png(
    counts: Sequence[PeriodCounts],
    *,
    confidence_level: float = 0.95,
    baseline_rate: float | None = None,
    dpi: int = REPORT_DPI,
) -> bytes:
    """OOS rate and administered-OOS rate by period with Clopper–Pearson error bars, as PNG bytes.

    ``baseline_rate`` (the pooled OOS rate of the baseline periods) is drawn as a
    dashed line so the current period can be read against it.
    """
    figure = Figure(figsize=(9, 4.2), layout="constrained")
    ax = figure.subplots()
    for series in _RATES:
        _rate_points(ax, counts, series)
    if baseline_rate is not None:
        ax.axhline(100 * baseline_rate, color="#555555", lw=1.0, ls="--",
                   label=f"baseline pooled OOS rate {100 * baseline_rate:.1f} %")
    uppers = [100 * c.oos_rate_ci[1] for c in counts if c.oos_rate_ci] + [
        100 * c.administered_oos_rate_ci[1] for c in counts if c.administered_oos_rate_ci
    ]
    ax.set_xticks(list(range(len(counts))), [c.period.label for c in counts], fontsize=8)
    ax.set_xlim(-0.6, len(counts) - 0.4)
    ax.set_ylim(0, max([*uppers, 1.0]) * 1.35)
    ax.set_ylabel("rate (%)", fontsize=8)
    ax.set_xlabel("review period", fontsize=8)
    ax.set_title(f"OOS rate by period, {100 * confidence_level:g} % Clopper–Pearson confidence intervals",
                 fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="upper left")
    finish_axes(ax)
    return png(figure, dpi)


@dataclass(frozen=True)
class ReportCharts:
    """A report's images, drawn once and embedded in both the HTML page and the PDF."""

    rate: bytes
    controls: tuple[tuple[str, bytes], ...]


def report_charts(report: PeriodicReport, *, dpi: int = REPORT_DPI) -> ReportCharts:
    """The OOS-rate chart and every attribute's control chart of ``report`` as PNG bytes."""
    analysis = report.analysis
    rate = oos_rate_png(
        analysis.counts,
        confidence_level=analysis.thresholds.confidence_level,
        baseline_rate=analysis.rate_comparison.baseline_rate if analysis.rate_comparison else None,
        dpi=dpi,
    )
    controls = []
    # A figure keeps its raster buffers in reference cycles (~30 MB a chart until a full collection): collect
    # after each chart, with the objects that exist before (the report's) set aside so that this is cheap. Set
    # aside already (by the caller): left so.
    set_aside_before = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        for chart in analysis.charts:
            controls.append((chart.attribute, control_chart_png(chart, current=report.period, dpi=dpi)))
            gc.collect()
    finally:
        if not set_aside_before:
            gc.unfreeze()
    return ReportCharts(rate, tuple(controls))


__all__ = ["REPORT_DPI", "ReportCharts", "control_chart_png", "display_indexes", "oos_rate_png", "report_charts"]
