"""Charts of the periodic review as PNG bytes: I-MR control charts and OOS rate by period (OOS-21).

Why this exists: a reviewer at EMA or in management review judges drift and
trends from pictures faster than from tables, so the HTML and PDF reports embed
the same PNGs. Figures are built with :class:`matplotlib.figure.Figure` and
saved as PNG, which matplotlib renders with its Agg rasteriser; ``pyplot`` is
never imported, so there is no global figure state or backend switch, no
display is needed and it is safe in a server process. PNG metadata carries no
software version, so the same analysis gives the same bytes on one installation.

What a control chart shows: baseline points in grey and current-period points
in blue (the current period shaded), centre line, ±3σ control limits (red
dashed) and ±1σ/±2σ zone lines (dotted), the specification limits (orange; a
limit far off the data's scale is named in a note instead of squashing the
data), and every run-rule event at a current-period point ringed in red, the
first event of each rule labelled with its code. The moving-range chart below
shows MR̄ and its upper limit.

Decimated for display: a chart of 200,000 batches has far more points than
the image has pixel columns, and drawing each of them cost minutes. Each
series is drawn through, per pixel column, its lowest and highest point (the
envelope a line through every point paints) plus every point a rule flagged
(:func:`display_indexes`), in time order; a series with no more than two points
per column is drawn whole, so small charts are unchanged. The statistics are
never computed on the decimated points.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from engine.domain.trends import ControlChart, Period, PeriodCounts
from engine.reporting.periodic import PeriodicReport

BASELINE_COLOUR = "#8c8c8c"
CURRENT_COLOUR = "#1f5fa8"
CONTROL_COLOUR = "#c0392b"
CENTRE_COLOUR = "#2e8b57"
SPEC_COLOUR = "#e67e22"
#: A specification limit further than this many σ from the centre is named in a note, not drawn.
SPEC_VIEW_SIGMAS = 8.0
CHART_INCHES = (10, 6)
#: Resolution of the charts embedded in both the HTML page and the PDF: 1,100 pixels across, about 165 dpi once
#: the chart is scaled to the width of an A4 page.
REPORT_DPI = 110


def display_indexes(times: np.ndarray, values: np.ndarray, *, columns: int, start: int, end: int,
                    keep: Sequence[int] = ()) -> np.ndarray:
    """Indexes (sorted) of the points of ``values[start:end]`` to draw on an axis ``columns`` pixels wide.

    ``times`` (int64 microseconds) place every point of the whole chart on the
    axis; per pixel column the lowest and highest value of the slice are kept,
    with its first and last point and every index in ``keep`` inside it.
    """
    if end - start <= 2 * columns:
        return np.arange(start, end)
    first, span = int(times[0]), int(times[-1]) - int(times[0]) + 1
    column = (times[start:end] - first) * columns // span
    order = np.lexsort((values[start:end], column))
    grouped = column[order]
    lowest = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
    highest = np.concatenate((lowest[1:], [end - start])) - 1
    kept = np.asarray([k for k in keep if start <= k < end], dtype=np.int64)
    return np.unique(np.concatenate((order[lowest] + start, order[highest] + start, kept, [start, end - 1])))


def _columns(ax: Axes) -> int:
    """Pixel columns of the figure the axes are in (a little more than the plotting area has)."""
    width, _ = ax.figure.get_size_inches()
    return max(int(width * ax.figure.dpi), 1)




def _png(figure: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        figure.clear()  # the artists and their arrays go now, not at the next full garbage collection
    return buffer.getvalue()


def _number(value: float) -> str:
    return f"{value:.4g}"


def _spec_limits_in_view(chart: ControlChart) -> tuple[list[tuple[str, float]], list[str]]:
    """Specification limits to draw, and notes for those too far from the data to draw legibly."""
    values = chart.series.values
    drawn: list[tuple[str, float]] = []
    notes: list[str] = []
    unit = f" {chart.unit}" if chart.unit else ""
    for name, limit in (("LSL", chart.lower_spec), ("USL", chart.upper_spec)):
        if limit is None:
            continue
        if chart.limits is not None and len(values):
            low, high = float(values.min()), float(values.max())
            span = max(high - low, chart.limits.sigma * 6)
            far = min(abs(limit - low), abs(limit - high)) > max(span, SPEC_VIEW_SIGMAS * chart.limits.sigma)
            if far:
                side = "above" if limit > high else "below"
                notes.append(f"{name} {_number(limit)}{unit} lies far {side} the data (not drawn to scale)")
                continue
        drawn.append((name, limit))
    return drawn, notes


def _individuals(ax: Axes, chart: ControlChart, current: Period | None) -> None:
    series = chart.series
    times, values, first_current = series.decided_at.astype(np.int64), series.values, series.first_current
    flagged = sorted({v.index for v in chart.violations})
    base = display_indexes(times, values, columns=_columns(ax), start=0, end=first_current, keep=flagged)
    cur = display_indexes(times, values, columns=_columns(ax), start=first_current, end=len(series), keep=flagged)
    if current is not None:
        ax.axvspan(
            current.start, current.end, color="#fff3c4", alpha=0.6, zorder=0, label=f"current period {current.label}"
        )
    if len(base):
        ax.plot(
            series.decided_at[base],
            values[base],
            "-o",
            color=BASELINE_COLOUR,
            lw=0.6,
            ms=2.5,
            label="released batch, baseline",
        )
    if len(cur):
        ax.plot(
            series.decided_at[cur],
            values[cur],
            "-o",
            color=CURRENT_COLOUR,
            lw=0.7,
            ms=3,
            label="released batch, current period",
        )
    limits = chart.limits
    if limits is not None:
        ax.axhline(limits.centre, color=CENTRE_COLOUR, lw=1.2, label=f"centre {_number(limits.centre)}")
        ax.axhline(
            limits.ucl, color=CONTROL_COLOUR, lw=1.2, ls="--", label=f"UCL/LCL ±3σ (σ = {_number(limits.sigma)})"
        )
        ax.axhline(limits.lcl, color=CONTROL_COLOUR, lw=1.2, ls="--")
        for k in (1, 2):
            for sign in (1, -1):
                ax.axhline(limits.centre + sign * k * limits.sigma, color="#b0b0b0", lw=0.6, ls=":")
        ax.annotate(
            f"UCL {_number(limits.ucl)}",
            (1.0, limits.ucl),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
            color=CONTROL_COLOUR,
        )
        ax.annotate(
            f"LCL {_number(limits.lcl)}",
            (1.0, limits.lcl),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
            color=CONTROL_COLOUR,
        )
    drawn, notes = _spec_limits_in_view(chart)
    for index, (name, limit) in enumerate(drawn):
        ax.axhline(limit, color=SPEC_COLOUR, lw=2.0, label="specification limit" if index == 0 else None)
        ax.annotate(
            f"{name} {_number(limit)}",
            (1.0, limit),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
            color=SPEC_COLOUR,
            fontweight="bold",
        )
    events = [v for v in chart.violations if v.in_current and v.rule != "MR"]
    if events:
        indexes = sorted({v.index for v in events})
        ax.scatter(
            series.decided_at[indexes],
            values[indexes],
            s=70,
            facecolors="none",
            edgecolors=CONTROL_COLOUR,
            linewidths=1.3,
            zorder=5,
            label="run-rule event (current period)",
        )
        # First event of each rule: label on its own level near the top, a thin line down to the point,
        # so labels of rules firing close together never overlap.
        firsts: dict[str, int] = {}
        for violation in events:
            firsts.setdefault(violation.rule, violation.index)
        for level, (rule, index) in enumerate(sorted(firsts.items(), key=lambda item: item[1])):
            point = series.point(index)
            ax.annotate(
                f"{rule} first",
                (point.decided_at, point.value),
                xytext=(point.decided_at, 0.96 - 0.075 * level),
                textcoords=("data", "axes fraction"),
                fontsize=7,
                color=CONTROL_COLOUR,
                fontweight="bold",
                ha="right",
                va="top",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
                arrowprops={"arrowstyle": "-", "color": CONTROL_COLOUR, "lw": 0.6},
            )
    if notes or chart.note:
        ax.text(
            0.99,
            0.03,
            "\n".join([*notes, chart.note] if chart.note else notes),
            transform=ax.transAxes,
            fontsize=7,
            color="#444444",
            ha="right",
            va="bottom",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#cccccc"},
            zorder=6,
        )
    unit = f" ({chart.unit})" if chart.unit else ""
    ax.set_ylabel(f"{chart.attribute}{unit}", fontsize=8)
    ax.legend(fontsize=6.5, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=4, frameon=False)
    ax.grid(True, axis="y", color="#eeeeee", lw=0.5)
    ax.tick_params(labelsize=7)


def _moving_ranges(ax: Axes, chart: ControlChart, current: Period | None) -> None:
    series = chart.series
    if current is not None:
        ax.axvspan(current.start, current.end, color="#fff3c4", alpha=0.6, zorder=0)
    times = series.decided_at.astype(np.int64)
    ranges = np.concatenate(([np.nan], np.abs(np.diff(series.values))))  # the range ending at each point
    limits = chart.limits
    above = (np.flatnonzero(ranges[series.first_current :] > limits.mr_ucl) + series.first_current
             if limits is not None else np.array([], dtype=np.int64))
    if len(series) > 1:
        whole = display_indexes(times, ranges, columns=_columns(ax), start=1, end=len(series), keep=above.tolist())
        ax.plot(series.decided_at[whole], ranges[whole], "-", color=BASELINE_COLOUR, lw=0.5)
        cur = display_indexes(times, ranges, columns=_columns(ax), start=max(series.first_current, 1),
                              end=len(series), keep=above.tolist())
        ax.plot(series.decided_at[cur], ranges[cur], "o", color=CURRENT_COLOUR, ms=2)
    limits = chart.limits
    if limits is not None:
        ax.axhline(limits.mr_bar, color=CENTRE_COLOUR, lw=1.0, label=f"MR̄ {_number(limits.mr_bar)}")
        ax.axhline(
            limits.mr_ucl, color=CONTROL_COLOUR, lw=1.0, ls="--", label=f"UCL 3.267·MR̄ = {_number(limits.mr_ucl)}"
        )
        if len(above):
            ax.scatter(
                series.decided_at[above],
                ranges[above],
                s=50,
                facecolors="none",
                edgecolors=CONTROL_COLOUR,
                linewidths=1.2,
                zorder=5,
                label="MR above UCL (current)",
            )
        ax.legend(fontsize=6.5, loc="upper left", ncol=3, framealpha=0.85)
    unit = f" ({chart.unit})" if chart.unit else ""
    ax.set_ylabel(f"moving range{unit}", fontsize=8)
    ax.set_xlabel("release / decision date (batches in time order)", fontsize=8)
    ax.set_title("moving-range chart (MR)", fontsize=9, loc="left")
    ax.grid(True, axis="y", color="#eeeeee", lw=0.5)
    ax.tick_params(labelsize=7)


def control_chart_png(chart: ControlChart, *, current: Period | None = None, dpi: int = 110) -> bytes:
    """The I-MR chart of one attribute as PNG bytes (10 × 6 inches)."""
    # Fixed margins rather than a layout engine: the layout pass drew every artist once more (a third of the time)
    figure = Figure(figsize=CHART_INCHES, dpi=dpi)
    figure.subplots_adjust(left=0.08, right=0.89, top=0.87, bottom=0.08, hspace=0.18)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(2.2, 1))
    unit = f" ({chart.unit})" if chart.unit else ""
    figure.suptitle(
        f"{chart.attribute}{unit}: individuals (I) and moving-range (MR) charts", fontsize=10, x=0.01, ha="left"
    )
    _individuals(top, chart, current)
    _moving_ranges(bottom, chart, current)
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return _png(figure, dpi)


def oos_rate_png(
    counts: Sequence[PeriodCounts],
    *,
    confidence_level: float = 0.95,
    baseline_rate: float | None = None,
    dpi: int = 110,
) -> bytes:
    """OOS rate and administered-OOS rate by period with Clopper–Pearson error bars, as PNG bytes.

    ``baseline_rate`` (the pooled OOS rate of the baseline periods) is drawn as a
    dashed line so the current period can be read against it.
    """
    figure = Figure(figsize=(9, 4.2), layout="constrained")
    ax = figure.subplots()
    labels = [c.period.label for c in counts]
    positions = list(range(len(counts)))
    series = (
        ("OOS rate: OOS / (OOS + released)", "oos_rate", "oos_rate_ci", "oos", "total", -0.12, CONTROL_COLOUR),
        (
            "administered-OOS rate: OOS administered / (administered + released)",
            "administered_oos_rate",
            "administered_oos_rate_ci",
            "oos_administered",
            None,
            0.12,
            CURRENT_COLOUR,
        ),
    )
    for label, rate_name, ci_name, k_name, n_name, shift, colour in series:
        xs, ys, low, high, texts = [], [], [], [], []
        for x, item in zip(positions, counts, strict=True):
            rate, interval = getattr(item, rate_name), getattr(item, ci_name)
            if rate is None or interval is None:
                continue
            n = getattr(item, n_name) if n_name else item.oos_administered + item.released
            xs.append(x + shift)
            ys.append(100 * rate)
            low.append(100 * (rate - interval[0]))
            high.append(100 * (interval[1] - rate))
            texts.append(f"{getattr(item, k_name)}/{n}")
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o", color=colour, capsize=4, lw=1.2, label=label)
        for x, y, text in zip(xs, ys, texts, strict=True):
            ax.annotate(text, (x, y), xytext=(6, 0), textcoords="offset points", fontsize=7, va="center", color=colour)
    if baseline_rate is not None:
        ax.axhline(
            100 * baseline_rate,
            color="#555555",
            lw=1.0,
            ls="--",
            label=f"baseline pooled OOS rate {100 * baseline_rate:.1f} %",
        )
    uppers = [100 * c.oos_rate_ci[1] for c in counts if c.oos_rate_ci] + [
        100 * c.administered_oos_rate_ci[1] for c in counts if c.administered_oos_rate_ci
    ]
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_xlim(-0.6, len(counts) - 0.4)
    ax.set_ylim(0, max([*uppers, 1.0]) * 1.35)
    ax.set_ylabel("rate (%)", fontsize=8)
    ax.set_xlabel("review period", fontsize=8)
    ax.set_title(
        f"OOS rate by period, {100 * confidence_level:g} % Clopper–Pearson confidence intervals", fontsize=9, loc="left"
    )
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, axis="y", color="#eeeeee", lw=0.5)
    ax.tick_params(labelsize=7)
    return _png(figure, dpi)


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
    # after each chart, with the objects that exist before (the report's) set aside so that this is cheap.
    gc.freeze()
    try:
        for chart in analysis.charts:
            controls.append((chart.attribute, control_chart_png(chart, current=report.period, dpi=dpi)))
            gc.collect()
    finally:
        gc.unfreeze()
    return ReportCharts(rate, tuple(controls))


__all__ = ["REPORT_DPI", "ReportCharts", "control_chart_png", "display_indexes", "oos_rate_png", "report_charts"]
