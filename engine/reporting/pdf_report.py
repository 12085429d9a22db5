"""The periodic review as a PDF for submission with the Quality Defect Report (OOS-20, OOS-21, OOS-23).

Why two back ends: the PDF is what goes to EMA, so it must always be
producible. With ReportLab installed (the normal case) the PDF has real,
selectable tables and text, laid out on A4 with the charts
(:mod:`engine.reporting.pdf_reportlab`); without it, matplotlib's ``PdfPages``
writes the same content as figure pages (text and tables drawn, charts
identical), which is less elegant but complete. :func:`render_pdf` says which
one it used.

Fonts: ReportLab's built-in Helvetica has no σ, ≥ or α, so the DejaVu Sans
fonts shipped inside matplotlib are embedded instead: no system font needed.
"""

from __future__ import annotations

import importlib.util
import io
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from matplotlib import image as mpl_image
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from engine.reporting.charts import ReportCharts, report_charts
from engine.reporting.html_report import method_notes, rate_comparison_text
from engine.reporting.pdf_content import metadata_rows, oos_rows
from engine.reporting.periodic import PeriodicReport

Backend = Literal["auto", "reportlab", "matplotlib"]


def reportlab_available() -> bool:
    """True when ReportLab can be imported."""
    return importlib.util.find_spec("reportlab") is not None


def render_pdf(report: PeriodicReport, path: str | Path, *, backend: Backend = "auto",
               charts: ReportCharts | None = None) -> str:
    """Write the report as a PDF to ``path``; return the back end used (``reportlab`` or ``matplotlib``).

    ``auto`` uses ReportLab when installed, matplotlib's PdfPages otherwise. ``charts``: the images, when
    already drawn (for the HTML page).
    """
    target = Path(path)
    if backend == "reportlab" or (backend == "auto" and reportlab_available()):
        from engine.reporting.pdf_reportlab import render_reportlab  # only where ReportLab is installed

        render_reportlab(report, target, charts or report_charts(report))
        return "reportlab"
    if backend not in ("auto", "matplotlib"):
        raise ValueError(f"unknown PDF back end {backend!r}")
    _render_matplotlib(report, target, charts or report_charts(report))
    return "matplotlib"


# --- matplotlib fallback -----------------------------------------------------------------------------------------

_A4_INCHES = (8.27, 11.69)


def _text_page(lines: Sequence[str], *, title: str | None = None) -> Figure:
    """An A4 figure page of already wrapped text lines."""
    figure = Figure(figsize=_A4_INCHES)
    y = 0.95
    if title:
        figure.text(0.06, y, title, fontsize=13, fontweight="bold", va="top")
        y -= 0.04
    for line in lines:
        figure.text(0.06, y, line, fontsize=7.5, va="top")
        y -= 0.016
    return figure


def _image_page(pngs: Sequence[bytes]) -> Figure:
    """An A4 figure page with up to two chart images stacked."""
    figure = Figure(figsize=_A4_INCHES)
    for index, png in enumerate(pngs):
        axes = figure.add_axes((0.04, 0.52 - 0.47 * index, 0.92, 0.45))
        axes.imshow(mpl_image.imread(io.BytesIO(png), format="png"))
        axes.axis("off")
    return figure


def _render_matplotlib(report: PeriodicReport, target: Path, charts: ReportCharts) -> None:
    rate_png, chart_pngs = charts.rate, charts.controls
    analysis = report.analysis
    summary = [f"{k}: {v}" for k, v in metadata_rows(report)]
    summary += [
        "",
        "1. Comparator selection",
        report.comparator_selection,
        "",
        "2. OOS batches administered versus batches released to specification (OOS-20)",
    ]
    summary += [
        f"{c.period.label}: released {c.released}, OOS administered {c.oos_administered}, OOS not administered "
        f"{c.oos_not_administered}, OOS rate {'–' if c.oos_rate is None else f'{100 * c.oos_rate:.1f} %'}"
        for c in analysis.counts
    ]
    summary += [rate_comparison_text(report), "", "3. OOS cases in the current period"]
    summary += [" · ".join(row) for row in oos_rows(report)] or ["none"]
    summary += ["", "4. Signals (OOS-23)"]
    summary += [f"[{s.kind}] {s.attribute or 'all'}: {s.detail}" for s in report.signals] or ["none"]
    summary += ["", "6. Repeat failures"]
    summary += [f"{r.attribute} ({r.scope}): {r.count} — {', '.join(r.batch_ids)}" for r in analysis.repeat_failures]
    summary += ["", "7. Capability (Cpk, Ppk, near-limit share)"]
    summary += [
        f"{c.attribute}: n {c.n}, Cpk {'–' if c.cpk is None else f'{c.cpk:.2f}'}, "
        f"Ppk {'–' if c.ppk is None else f'{c.ppk:.2f}'}, near-limit "
        f"{'–' if c.near_limit_share is None else f'{100 * c.near_limit_share:.1f} %'}"
        for c in analysis.capabilities
    ]
    summary += ["", "8. Method", *method_notes(analysis.thresholds)]
    with PdfPages(target, metadata={"Title": f"{report.title}: {report.product_code} {report.period.label}"}) as pdf:
        lines = [part for line in summary for part in (textwrap.wrap(line, 110) or [""])]
        page_lines = 54
        for start in range(0, len(lines), page_lines):
            pdf.savefig(_text_page(lines[start : start + page_lines], title=report.title if start == 0 else None))
        images = [rate_png] + [png for _, png in chart_pngs]
        for start in range(0, len(images), 2):
            pdf.savefig(_image_page(images[start : start + 2]))


__all__ = ["render_pdf", "reportlab_available"]
