"""The periodic review's PDF laid out by ReportLab: real, selectable tables and text on A4 (OOS-20, OOS-21).

Imported only when ReportLab is installed (:func:`engine.reporting.pdf_report.render_pdf`). Sections in the
order of the HTML page; the charts are the PNGs drawn once for both.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import matplotlib
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from engine.reporting.charts import ReportCharts
from engine.reporting.html_report import (
    CAPABILITY_HEADERS,
    COUNTS_HEADERS,
    RULE_SUMMARY_HEADERS,
    capability_rows,
    counts_rows,
    method_notes,
    rate_comparison_text,
    rule_summary_rows,
)
from engine.reporting.pdf_content import category_rows, clip, clip_ids, metadata_rows, oos_rows
from engine.reporting.periodic import PeriodicReport

#: ReportLab's built-in Helvetica has no σ, ≥ or α: the DejaVu Sans fonts shipped inside matplotlib are embedded.
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONT, _FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"
#: The text width of an A4 page with its 1.5 cm margins.
WIDTH = A4[0] - 3 * cm


@dataclass(frozen=True)
class _Styles:
    body: ParagraphStyle
    cell: ParagraphStyle
    head: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    h3: ParagraphStyle


def _styles() -> _Styles:
    """The paragraph styles, with the DejaVu fonts registered once per process."""
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_FONT, str(_FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(_FONT_BOLD, str(_FONT_DIR / "DejaVuSans-Bold.ttf")))
    return _Styles(
        body=ParagraphStyle("body", fontName=_FONT, fontSize=8.5, leading=11, spaceAfter=4),
        cell=ParagraphStyle("cell", fontName=_FONT, fontSize=7, leading=8.5),
        head=ParagraphStyle("head", fontName=_FONT_BOLD, fontSize=7, leading=8.5),
        h1=ParagraphStyle("h1", fontName=_FONT_BOLD, fontSize=14, leading=18, spaceAfter=8),
        h2=ParagraphStyle("h2", fontName=_FONT_BOLD, fontSize=11, leading=14, spaceBefore=10, spaceAfter=5),
        h3=ParagraphStyle("h3", fontName=_FONT_BOLD, fontSize=9, leading=12, spaceBefore=6, spaceAfter=3),
    )


class _Flowables:
    """Paragraphs, grid tables and chart images in the report's styles, for the width of the page's text."""

    def __init__(self, styles: _Styles) -> None:
        self.styles = styles

    def text(self, value: str, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(escape(value), style or self.styles.body)

    def table(self, headers: Sequence[str] | None, rows: Sequence[Sequence[str]], *, escaped: bool = False,
              widths: Sequence[float] | None = None) -> Table:
        """A grid table of paragraphs; without ``headers`` the first column is shaded as labels."""
        data = [[Paragraph(c if escaped else escape(c), self.styles.cell) for c in row] for row in rows]
        if headers is not None:
            data.insert(0, [Paragraph(escape(h), self.styles.head) for h in headers])
        result = Table(data, colWidths=widths, repeatRows=1 if headers is not None else 0, hAlign="LEFT")
        result.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
            ("BACKGROUND", (0, 0), (0 if headers is None else -1, 0 if headers is not None else -1),
             colors.HexColor("#eeeeee")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]))
        return result

    @staticmethod
    def image(png: bytes, height_ratio: float, scale: float = 1.0) -> Image:
        return Image(io.BytesIO(png), width=WIDTH * scale, height=WIDTH * scale * height_ratio, hAlign="LEFT")


def _counts_and_categories(report: PeriodicReport, charts: ReportCharts, f: _Flowables) -> list[Flowable]:
    """Title and metadata, 1. comparator selection, 2. counts and rates with the rate chart, 3. OOS categories
    and the period's OOS batches."""
    h1, h2, h3 = f.styles.h1, f.styles.h2, f.styles.h3
    story: list[Flowable] = [
        f.text(report.title, h1),
        f.table(None, [[k, v] for k, v in metadata_rows(report)], widths=[3.5 * cm, WIDTH - 3.5 * cm]),
        f.text("1. Comparator selection", h2),
        f.text(report.comparator_selection),
        f.text("2. OOS batches administered versus batches released to specification (OOS-20)", h2),
        f.table(COUNTS_HEADERS, counts_rows(report.analysis.counts), escaped=True,
                widths=[1.5 * cm, 2.3 * cm, 2.3 * cm, 2.3 * cm, 1.2 * cm, 1.4 * cm, 2.2 * cm, 2.4 * cm, 2.2 * cm]),
        Spacer(1, 4),
        f.text(rate_comparison_text(report)),
        f.image(charts.rate, 4.2 / 9),
        PageBreak(),
        f.text("3. OOS cases by type, attribute and severity (OOS-21)", h2),
    ]
    headers, rows = category_rows(report)
    story.append(f.table(headers, rows) if rows else f.text("No OOS batches in the review periods."))
    story.append(f.text(f"OOS batches in {report.period.label}", h3))
    batches = oos_rows(report)
    story.append(f.table(["batch", "decided", "status", "categories (type / attribute / severity)"], batches,
                         widths=[3 * cm, 2.2 * cm, 3.2 * cm, WIDTH - 8.4 * cm])
                 if batches else f.text(f"No OOS batch in {report.period.label}."))
    return story


def _signals(report: PeriodicReport, f: _Flowables) -> list[Flowable]:
    """4. The signals that open CAPA and management review (OOS-23)."""
    heading = f.text("4. Signals: CAPA and management review (OOS-23)", f.styles.h2)
    if not report.signals:
        return [heading, f.text("No signal: nothing in this period requires CAPA or management review.")]
    return [heading, f.table(["signal", "attribute", "detail (rule named)", "opens"],
                             [[s.kind, s.attribute or "all", clip(s.detail), " + ".join(s.opens)]
                              for s in report.signals],
                             widths=[2.6 * cm, 3.8 * cm, WIDTH - 9.6 * cm, 3.2 * cm])]


def _control_charts(report: PeriodicReport, charts: ReportCharts, f: _Flowables) -> list[Flowable]:
    """5. Each attribute's control chart with the summary of the rules that fired in the period under review."""
    story: list[Flowable] = []
    section: list[Flowable] = [f.text("5. Process consistency and drift: control charts (OOS-21)", f.styles.h2)]
    for chart, (attribute, png) in zip(report.analysis.charts, charts.controls, strict=True):
        block = [*section, f.text(attribute, f.styles.h3), f.image(png, 0.6, scale=0.88)]
        section = []  # the section heading stays with the first chart
        if chart.limits is None:
            block.append(f.text(chart.note))
        elif chart.current_violations:
            block.append(f.table(RULE_SUMMARY_HEADERS, rule_summary_rows(chart), escaped=True,
                                 widths=[1.8 * cm, WIDTH - 10.2 * cm, 1.4 * cm, 3.5 * cm, 3.5 * cm]))
        else:
            block.append(f.text(f"No rule fired in {report.period.label}."))
        story.append(KeepTogether(block))
    story.append(f.text("Every rule event, with its detail, is listed in the HTML and JSON renderings of this "
                        "report."))
    return story


def _repeats_capability_method(report: PeriodicReport, f: _Flowables) -> list[Flowable]:
    """6. Repeat failures, 7. capability and near-limit results, 8. the method."""
    analysis, h2 = report.analysis, f.styles.h2
    if analysis.repeat_failures:
        repeats = f.table(["attribute", "scope", "periods", "OOS batches", "batches"],
                          [[r.attribute, r.scope.replace("_", " "), ", ".join(p.label for p in r.periods),
                            str(r.count), clip_ids(r.batch_ids)] for r in analysis.repeat_failures],
                          widths=[3.4 * cm, 3.2 * cm, 3.2 * cm, 2.0 * cm, WIDTH - 11.8 * cm])
    else:
        repeats = f.text("No repeat failure.")
    capability_widths = [3.1, 2.3, 1.0, 1.0, 0.9, 1.5, 1.4, 1.4, 1.2, 1.2, 1.4, 1.5]
    return [
        KeepTogether([f.text("6. Repeat failures (OOS-21, OOS-23)", h2), repeats]),
        KeepTogether([
            f.text("7. Specification appropriateness: capability and near-limit results (OOS-21)", h2),
            f.table(CAPABILITY_HEADERS, capability_rows(report), escaped=True,
                    widths=[w * cm for w in capability_widths]),
        ]),
        f.text("8. Method", h2),
        *(f.text(f"• {note}") for note in method_notes(analysis.thresholds)),
    ]


def _footer(report: PeriodicReport) -> Callable[[Any, Any], None]:
    """The line at the foot of every page: product, period, dataset hash, software, page number."""

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(_FONT, 7)
        canvas.drawString(
            1.5 * cm,
            1.0 * cm,
            f"{report.product_code} periodic review {report.period.label} · dataset SHA-256 "
            f"{report.dataset_sha256[:16]}… · oospath {report.software_version}",
        )
        canvas.drawRightString(A4[0] - 1.5 * cm, 1.0 * cm, f"page {document.page}")
        canvas.restoreState()

    return footer


def render_reportlab(report: PeriodicReport, target: Path, charts: ReportCharts) -> None:
    """Write the report to ``target`` as an A4 PDF laid out by ReportLab."""
    f = _Flowables(_styles())
    story = [*_counts_and_categories(report, charts, f), *_signals(report, f), *_control_charts(report, charts, f),
             *_repeats_capability_method(report, f)]
    document = SimpleDocTemplate(
        str(target),
        pagesize=A4,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.6 * cm,
        title=f"{report.title}: {report.product_code} {report.period.label}",
        author=f"oospath {report.software_version}",
    )
    rl_config.useA85 = 0  # binary streams: ASCII85 text (pure Python without ReportLab's C accelerator) cost seconds
    footer = _footer(report)
    document.build(story, onFirstPage=footer, onLaterPages=footer)


__all__ = ["render_reportlab"]
