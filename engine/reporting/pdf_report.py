"""The periodic review as a PDF for submission with the Quality Defect Report (OOS-20, OOS-21, OOS-23).

Why two back ends: the PDF is what goes to EMA, so it must always be
producible. With ReportLab installed (the normal case) the PDF has real,
selectable tables and text, laid out on A4 with the charts; without it,
matplotlib's ``PdfPages`` writes the same content as figure pages (text and
tables drawn, charts identical), which is less elegant but complete.
:func:`render_pdf` says which one it used.

Fonts: ReportLab's built-in Helvetica has no σ, ≥ or α, so the DejaVu Sans
fonts shipped inside matplotlib are embedded instead: no system font needed.
"""

from __future__ import annotations

import importlib.util
import io
import textwrap
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any, Literal

import matplotlib
from matplotlib import image as mpl_image
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from engine.reporting.charts import ReportCharts, report_charts
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
from engine.reporting.periodic import PeriodicReport

Backend = Literal["auto", "reportlab", "matplotlib"]

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONT, _FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"


#: A table cell taller than a page cannot be laid out; longer texts are shortened in the PDF (never in HTML/JSON).
CELL_LIMIT = 700
ID_LIMIT = 25


def clip(value: str, limit: int = CELL_LIMIT) -> str:
    """``value``, or its start and a note where to read the rest when it would not fit a table cell."""
    if len(value) <= limit:
        return value
    return f"{value[:limit].rstrip()} … ({len(value) - limit} more characters in the HTML and JSON renderings)"


def clip_ids(batch_ids: Sequence[str], limit: int = ID_LIMIT) -> str:
    """The first ``limit`` batch ids and how many more there are (all are in the HTML, JSON and CSV annex)."""
    shown = ", ".join(batch_ids[:limit])
    return shown if len(batch_ids) <= limit else f"{shown} … and {len(batch_ids) - limit} more"


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
        _render_reportlab(report, target, charts or report_charts(report))
        return "reportlab"
    if backend not in ("auto", "matplotlib"):
        raise ValueError(f"unknown PDF back end {backend!r}")
    _render_matplotlib(report, target, charts or report_charts(report))
    return "matplotlib"


def _metadata(report: PeriodicReport) -> list[tuple[str, str]]:
    return [
        ("Product", f"{report.product_name} ({report.product_code})"),
        (
            "Review period",
            f"{report.period.label} ({report.period.start.date()} to {report.period.end.date()}, end exclusive)",
        ),
        ("Periods analysed", ", ".join(p.label for p in report.analysis.periods)),
        ("Specification", f"{report.product_code} v{report.specification_version}"),
        ("Input batches", report.input_description()),
        ("Dataset SHA-256", report.dataset_sha256),
        ("Software", f"oospath {report.software_version}"),
        ("Generated at", report.generated_at.isoformat()),
        ("Requirements", "OOS-20, OOS-21, OOS-23"),
    ]


def _category_rows(report: PeriodicReport) -> tuple[list[str], list[list[str]]]:
    periods = report.analysis.periods
    counts = {(c.period, c.category): c for c in report.analysis.categories}
    rows = []
    for category in sorted({c.category for c in report.analysis.categories}):
        row = [category.type, category.attribute, category.severity]
        for period in periods:
            item = counts.get((period, category))
            row.append("0" if item is None else f"{item.total} ({item.administered} adm.)")
        rows.append(row)
    return ["type", "attribute", "severity", *(p.label for p in periods)], rows


def _oos_rows(report: PeriodicReport) -> list[list[str]]:
    return [
        [
            b.batch_id,
            b.decided_at.strftime("%Y-%m-%d"),
            b.status.replace("_", " "),
            "; ".join(f"{c.type} / {c.attribute} / {c.severity}" for c in b.oos_categories),
        ]
        for b in report.batches
        if b.is_oos and report.period.contains(b.decided_at)
    ]


def _render_reportlab(report: PeriodicReport, target: Path, charts: ReportCharts) -> None:
    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import (
        Image,
        KeepTogether,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_FONT, str(_FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(_FONT_BOLD, str(_FONT_DIR / "DejaVuSans-Bold.ttf")))
    body = ParagraphStyle("body", fontName=_FONT, fontSize=8.5, leading=11, spaceAfter=4)
    cell = ParagraphStyle("cell", fontName=_FONT, fontSize=7, leading=8.5)
    head = ParagraphStyle("head", fontName=_FONT_BOLD, fontSize=7, leading=8.5)
    h1 = ParagraphStyle("h1", fontName=_FONT_BOLD, fontSize=14, leading=18, spaceAfter=8)
    h2 = ParagraphStyle("h2", fontName=_FONT_BOLD, fontSize=11, leading=14, spaceBefore=10, spaceAfter=5)
    h3 = ParagraphStyle("h3", fontName=_FONT_BOLD, fontSize=9, leading=12, spaceBefore=6, spaceAfter=3)
    width = A4[0] - 3 * cm

    def text(value: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(value), style)

    def table(
        headers: Sequence[str] | None,
        rows: Sequence[Sequence[str]],
        *,
        escaped: bool = False,
        widths: Sequence[float] | None = None,
    ) -> Table:
        """A grid table of paragraphs; without ``headers`` the first column is shaded as labels."""

        def para(value: str, style: ParagraphStyle) -> Paragraph:
            return Paragraph(value if escaped else escape(value), style)

        data = [[para(c, cell) for c in row] for row in rows]
        if headers is not None:
            data.insert(0, [Paragraph(escape(h), head) for h in headers])
        result = Table(data, colWidths=widths, repeatRows=1 if headers is not None else 0, hAlign="LEFT")
        result.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                    (
                        "BACKGROUND",
                        (0, 0),
                        (0 if headers is None else -1, 0 if headers is not None else -1),
                        colors.HexColor("#eeeeee"),
                    ),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        return result

    def image(png: bytes, height_ratio: float, scale: float = 1.0) -> Image:
        return Image(io.BytesIO(png), width=width * scale, height=width * scale * height_ratio, hAlign="LEFT")

    rate_png, chart_pngs = charts.rate, charts.controls
    analysis = report.analysis
    story: list = [
        text(report.title, h1),
        table(None, [[k, v] for k, v in _metadata(report)], widths=[3.5 * cm, width - 3.5 * cm]),
        text("1. Comparator selection", h2),
        text(report.comparator_selection),
        text("2. OOS batches administered versus batches released to specification (OOS-20)", h2),
        table(
            COUNTS_HEADERS,
            counts_rows(analysis.counts),
            escaped=True,
            widths=[1.5 * cm, 2.3 * cm, 2.3 * cm, 2.3 * cm, 1.2 * cm, 1.4 * cm, 2.2 * cm, 2.4 * cm, 2.2 * cm],
        ),
        Spacer(1, 4),
        text(rate_comparison_text(report)),
        image(rate_png, 4.2 / 9),
        PageBreak(),
        text("3. OOS cases by type, attribute and severity (OOS-21)", h2),
    ]
    headers, rows = _category_rows(report)
    story.append(table(headers, rows) if rows else text("No OOS batches in the review periods."))
    story.append(text(f"OOS batches in {report.period.label}", h3))
    oos_rows = _oos_rows(report)
    story.append(
        table(
            ["batch", "decided", "status", "categories (type / attribute / severity)"],
            oos_rows,
            widths=[3 * cm, 2.2 * cm, 3.2 * cm, width - 8.4 * cm],
        )
        if oos_rows
        else text(f"No OOS batch in {report.period.label}.")
    )
    story.append(text("4. Signals: CAPA and management review (OOS-23)", h2))
    if report.signals:
        story.append(
            table(
                ["signal", "attribute", "detail (rule named)", "opens"],
                [[s.kind, s.attribute or "all", clip(s.detail), " + ".join(s.opens)] for s in report.signals],
                widths=[2.6 * cm, 3.8 * cm, width - 9.6 * cm, 3.2 * cm],
            )
        )
    else:
        story.append(text("No signal: nothing in this period requires CAPA or management review."))
    section: list = [text("5. Process consistency and drift: control charts (OOS-21)", h2)]
    for chart, (attribute, png) in zip(analysis.charts, chart_pngs, strict=True):
        block = [*section, text(attribute, h3), image(png, 0.6, scale=0.88)]
        section = []  # the section heading stays with the first chart
        if chart.limits is None:
            block.append(text(chart.note))
        elif chart.current_violations:
            block.append(
                table(
                    RULE_SUMMARY_HEADERS,
                    rule_summary_rows(chart),
                    escaped=True,
                    widths=[1.8 * cm, width - 10.2 * cm, 1.4 * cm, 3.5 * cm, 3.5 * cm],
                )
            )
        else:
            block.append(text(f"No rule fired in {report.period.label}."))
        story.append(KeepTogether(block))
    story.append(text("Every rule event, with its detail, is listed in the HTML and JSON renderings of this report."))
    repeats_heading = text("6. Repeat failures (OOS-21, OOS-23)", h2)
    if analysis.repeat_failures:
        repeats = table(
            ["attribute", "scope", "periods", "OOS batches", "batches"],
            [
                [
                    r.attribute,
                    r.scope.replace("_", " "),
                    ", ".join(p.label for p in r.periods),
                    str(r.count),
                    clip_ids(r.batch_ids),
                ]
                for r in analysis.repeat_failures
            ],
            widths=[3.4 * cm, 3.2 * cm, 3.2 * cm, 2.0 * cm, width - 11.8 * cm],
        )
    else:
        repeats = text("No repeat failure.")
    story.append(KeepTogether([repeats_heading, repeats]))
    capability_widths = [3.1, 2.3, 1.0, 1.0, 0.9, 1.5, 1.4, 1.4, 1.2, 1.2, 1.4, 1.5]
    story.append(
        KeepTogether(
            [
                text("7. Specification appropriateness: capability and near-limit results (OOS-21)", h2),
                table(
                    CAPABILITY_HEADERS,
                    capability_rows(report),
                    escaped=True,
                    widths=[w * cm for w in capability_widths],
                ),
            ]
        )
    )
    story.append(text("8. Method", h2))
    story.extend(text(f"• {note}") for note in method_notes(analysis.thresholds))

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
    document.build(story, onFirstPage=footer, onLaterPages=footer)


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
    summary = [f"{k}: {v}" for k, v in _metadata(report)]
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
    summary += [" · ".join(row) for row in _oos_rows(report)] or ["none"]
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
