"""The I-MR control chart of one attribute as PNG bytes (OOS-21).

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

from collections.abc import Sequence

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from engine.domain.trends import ControlChart, ControlLimits, Period
from engine.reporting.chart_style import (
    BASELINE_COLOUR,
    CENTRE_COLOUR,
    CHART_INCHES,
    CONTROL_COLOUR,
    CURRENT_COLOUR,
    CURRENT_PERIOD_SHADE,
    REPORT_DPI,
    SPEC_COLOUR,
    finish_axes,
    number,
    png,
)

#: A specification limit further than this many σ from the centre is named in a note, not drawn.
SPEC_VIEW_SIGMAS = 8.0
#: A label at the right edge of the individuals chart, naming the horizontal line it stands beside.
_EDGE_LABEL = {"xycoords": ("axes fraction", "data"), "xytext": (3, 0), "textcoords": "offset points",
               "va": "center", "fontsize": 7}


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
    lowest, highest = _column_extremes((times[start:end] - first) * columns // span, values[start:end])
    kept = np.asarray([k for k in keep if start <= k < end], dtype=np.int64)
    return np.unique(np.concatenate((lowest + start, highest + start, kept, [start, end - 1])))


def _column_extremes(column: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel column, the index of its lowest value (the earliest of equal ones) and of its highest (the
    latest of equal ones). Points in time order (the charts' order) are grouped as they lie; any other order,
    or a missing value, is sorted first."""
    if np.any(column[1:] < column[:-1]) or np.isnan(values).any():
        order = np.lexsort((values, column))
        grouped = column[order]
        lowest = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
        highest = np.concatenate((lowest[1:], [len(order)])) - 1
        return order[lowest], order[highest]
    starts = np.flatnonzero(np.concatenate(([True], column[1:] != column[:-1])))
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(values))))
    at_lowest = np.flatnonzero(values == np.minimum.reduceat(values, starts)[group])
    at_highest = np.flatnonzero(values == np.maximum.reduceat(values, starts)[group])
    first_of_group = np.concatenate(([True], group[at_lowest][1:] != group[at_lowest][:-1]))
    last_of_group = np.concatenate((group[at_highest][1:] != group[at_highest][:-1], [True]))
    return at_lowest[first_of_group], at_highest[last_of_group]


def _columns(ax: Axes) -> int:
    """Pixel columns of the figure the axes are in (a little more than the plotting area has)."""
    width, _ = ax.figure.get_size_inches()
    return max(int(width * ax.figure.dpi), 1)


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
                notes.append(f"{name} {number(limit)}{unit} lies far {side} the data (not drawn to scale)")
                continue
        drawn.append((name, limit))
    return drawn, notes


def _released_points(ax: Axes, chart: ControlChart, current: Period | None) -> None:
    """The current period shaded, then the baseline's and the current period's released results (decimated)."""
    series = chart.series
    times, values, first_current = series.decided_at.astype(np.int64), series.values, series.first_current
    flagged = sorted({v.index for v in chart.violations})
    base = display_indexes(times, values, columns=_columns(ax), start=0, end=first_current, keep=flagged)
    cur = display_indexes(times, values, columns=_columns(ax), start=first_current, end=len(series), keep=flagged)
    if current is not None:
        ax.axvspan(current.start, current.end, color=CURRENT_PERIOD_SHADE, alpha=0.6, zorder=0,
                   label=f"current period {current.label}")
    if len(base):
        ax.plot(series.decided_at[base], values[base], "-o", color=BASELINE_COLOUR, lw=0.6, ms=2.5,
                label="released batch, baseline")
    if len(cur):
        ax.plot(series.decided_at[cur], values[cur], "-o", color=CURRENT_COLOUR, lw=0.7, ms=3,
                label="released batch, current period")


def _control_limits(ax: Axes, limits: ControlLimits) -> None:
    """Centre line, ±3σ control limits labelled at the right edge, ±1σ and ±2σ zone lines."""
    ax.axhline(limits.centre, color=CENTRE_COLOUR, lw=1.2, label=f"centre {number(limits.centre)}")
    ax.axhline(limits.ucl, color=CONTROL_COLOUR, lw=1.2, ls="--",
               label=f"UCL/LCL ±3σ (σ = {number(limits.sigma)})")
    ax.axhline(limits.lcl, color=CONTROL_COLOUR, lw=1.2, ls="--")
    for k in (1, 2):
        for sign in (1, -1):
            ax.axhline(limits.centre + sign * k * limits.sigma, color="#b0b0b0", lw=0.6, ls=":")
    ax.annotate(f"UCL {number(limits.ucl)}", (1.0, limits.ucl), color=CONTROL_COLOUR, **_EDGE_LABEL)
    ax.annotate(f"LCL {number(limits.lcl)}", (1.0, limits.lcl), color=CONTROL_COLOUR, **_EDGE_LABEL)


def _specification_limits(ax: Axes, drawn: Sequence[tuple[str, float]]) -> None:
    """The specification limits in view, labelled at the right edge."""
    for index, (name, limit) in enumerate(drawn):
        ax.axhline(limit, color=SPEC_COLOUR, lw=2.0, label="specification limit" if index == 0 else None)
        ax.annotate(f"{name} {number(limit)}", (1.0, limit), color=SPEC_COLOUR, fontweight="bold", **_EDGE_LABEL)


def _rule_events(ax: Axes, chart: ControlChart) -> None:
    """Every run-rule event at a current-period point ringed; the first event of each rule labelled."""
    events = [v for v in chart.violations if v.in_current and v.rule != "MR"]
    if not events:
        return
    series = chart.series
    indexes = sorted({v.index for v in events})
    ax.scatter(series.decided_at[indexes], series.values[indexes], s=70, facecolors="none",
               edgecolors=CONTROL_COLOUR, linewidths=1.3, zorder=5, label="run-rule event (current period)")
    # First event of each rule: label on its own level near the top, a thin line down to the point,
    # so labels of rules firing close together never overlap.
    firsts: dict[str, int] = {}
    for violation in events:
        firsts.setdefault(violation.rule, violation.index)
    for level, (rule, index) in enumerate(sorted(firsts.items(), key=lambda item: item[1])):
        point = series.point(index)
        ax.annotate(f"{rule} first", (point.decided_at, point.value),
                    xytext=(point.decided_at, 0.96 - 0.075 * level), textcoords=("data", "axes fraction"),
                    fontsize=7, color=CONTROL_COLOUR, fontweight="bold", ha="right", va="top",
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
                    arrowprops={"arrowstyle": "-", "color": CONTROL_COLOUR, "lw": 0.6})


def _notes(ax: Axes, notes: Sequence[str]) -> None:
    """Notes (limits not drawn to scale, why there are no control limits) in the lower right corner."""
    ax.text(0.99, 0.03, "\n".join(notes), transform=ax.transAxes, fontsize=7, color="#444444", ha="right",
            va="bottom", bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#cccccc"},
            zorder=6)


def _individuals(ax: Axes, chart: ControlChart, current: Period | None) -> None:
    """The individuals (I) chart: released results, control and specification limits, rule events, notes."""
    _released_points(ax, chart, current)
    if chart.limits is not None:
        _control_limits(ax, chart.limits)
    drawn, notes = _spec_limits_in_view(chart)
    _specification_limits(ax, drawn)
    _rule_events(ax, chart)
    if notes or chart.note:
        _notes(ax, [*notes, chart.note] if chart.note else notes)
    unit = f" ({chart.unit})" if chart.unit else ""
    ax.set_ylabel(f"{chart.attribute}{unit}", fontsize=8)
    ax.legend(fontsize=6.5, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=4, frameon=False)
    finish_axes(ax)


def _moving_ranges(ax: Axes, chart: ControlChart, current: Period | None) -> None:
    """The moving-range (MR) chart: every range (decimated), MR̄, its upper limit, current ranges above it."""
    series = chart.series
    if current is not None:
        ax.axvspan(current.start, current.end, color=CURRENT_PERIOD_SHADE, alpha=0.6, zorder=0)
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
    if limits is not None:
        ax.axhline(limits.mr_bar, color=CENTRE_COLOUR, lw=1.0, label=f"MR̄ {number(limits.mr_bar)}")
        ax.axhline(limits.mr_ucl, color=CONTROL_COLOUR, lw=1.0, ls="--",
                   label=f"UCL 3.267·MR̄ = {number(limits.mr_ucl)}")
        if len(above):
            ax.scatter(series.decided_at[above], ranges[above], s=50, facecolors="none", edgecolors=CONTROL_COLOUR,
                       linewidths=1.2, zorder=5, label="MR above UCL (current)")
        ax.legend(fontsize=6.5, loc="upper left", ncol=3, framealpha=0.85)
    unit = f" ({chart.unit})" if chart.unit else ""
    ax.set_ylabel(f"moving range{unit}", fontsize=8)
    ax.set_xlabel("release / decision date (batches in time order)", fontsize=8)
    ax.set_title("moving-range chart (MR)", fontsize=9, loc="left")
    finish_axes(ax)


def control_chart_png(chart: ControlChart, *, current: Period | None = None, dpi: int = REPORT_DPI) -> bytes:
    """The I-MR chart of one attribute as PNG bytes (10 × 6 inches)."""
    # Fixed margins rather than a layout engine: the layout pass drew every artist once more (a third of the time)
    figure = Figure(figsize=CHART_INCHES, dpi=dpi)
    figure.subplots_adjust(left=0.08, right=0.89, top=0.87, bottom=0.08, hspace=0.18)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(2.2, 1))
    unit = f" ({chart.unit})" if chart.unit else ""
    figure.suptitle(f"{chart.attribute}{unit}: individuals (I) and moving-range (MR) charts", fontsize=10, x=0.01,
                    ha="left")
    _individuals(top, chart, current)
    _moving_ranges(bottom, chart, current)
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return png(figure, dpi)


__all__ = ["SPEC_VIEW_SIGMAS", "control_chart_png", "display_indexes"]
