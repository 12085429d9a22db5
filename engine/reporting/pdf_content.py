"""What the PDF of the periodic review says besides the rows it shares with the HTML page (OOS-20, OOS-21).

Both PDF back ends (:mod:`engine.reporting.pdf_report`) print these: the
metadata block, the OOS categories by period, the current period's OOS batches,
and texts shortened where a table cell could not hold them.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.reporting.periodic import PeriodicReport

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


def metadata_rows(report: PeriodicReport) -> list[tuple[str, str]]:
    """The report's provenance: product, periods, specification, input, dataset hash, software, time."""
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


def category_rows(report: PeriodicReport) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the OOS categories (type, attribute, severity) with their count in each period."""
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


def oos_rows(report: PeriodicReport) -> list[list[str]]:
    """The OOS batches decided in the period under review: id, decision day, status, categories."""
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


__all__ = ["CELL_LIMIT", "ID_LIMIT", "category_rows", "clip", "clip_ids", "metadata_rows", "oos_rows"]
