"""What every chart of the periodic review shares: colours, size, resolution, PNG output (OOS-21).

Figures are built with :class:`matplotlib.figure.Figure` and saved as PNG, which
matplotlib renders with its Agg rasteriser; ``pyplot`` is never imported, so
there is no global figure state or backend switch, no display is needed and it
is safe in a server process. PNG metadata carries no software version, so the
same analysis gives the same bytes on one installation.
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.figure import Figure

BASELINE_COLOUR = "#8c8c8c"
CURRENT_COLOUR = "#1f5fa8"
CONTROL_COLOUR = "#c0392b"
CENTRE_COLOUR = "#2e8b57"
SPEC_COLOUR = "#e67e22"
#: The shading of the period under review.
CURRENT_PERIOD_SHADE = "#fff3c4"
CHART_INCHES = (10, 6)
#: Resolution of the charts embedded in both the HTML page and the PDF: 1,100 pixels across, about 165 dpi once
#: the chart is scaled to the width of an A4 page.
REPORT_DPI = 110


def png(figure: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes; its artists are cleared afterwards."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        figure.clear()  # the artists and their arrays go now, not at the next full garbage collection
    return buffer.getvalue()


def number(value: float) -> str:
    """A value as the charts label it (four significant digits)."""
    return f"{value:.4g}"


def finish_axes(ax: Axes) -> None:
    """The light horizontal grid and small tick labels of every chart."""
    ax.grid(True, axis="y", color="#eeeeee", lw=0.5)
    ax.tick_params(labelsize=7)


__all__ = [
    "BASELINE_COLOUR",
    "CENTRE_COLOUR",
    "CHART_INCHES",
    "CONTROL_COLOUR",
    "CURRENT_COLOUR",
    "CURRENT_PERIOD_SHADE",
    "REPORT_DPI",
    "SPEC_COLOUR",
    "finish_axes",
    "number",
    "png",
]
