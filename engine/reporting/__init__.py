"""Periodic-review reporting (OOS-20, OOS-21, OOS-23): report model, renderers, synthetic demo data.

The analysis is :mod:`engine.domain.trends`; this package adds provenance and
renders the result as HTML, PDF, JSON and a CSV annex. Like the domain layer it
does no I/O except :func:`render_pdf` and :func:`write_json`, which write to the
file or stream they are given.
"""

from engine.reporting.html_report import render_html
from engine.reporting.json_report import render_json, report_from_json, write_json
from engine.reporting.pdf_report import render_pdf
from engine.reporting.periodic import (
    PeriodicReport,
    build_periodic_report,
    dataset_sha256,
    render_csv_annex,
    software_version,
)

__all__ = [
    "PeriodicReport",
    "build_periodic_report",
    "dataset_sha256",
    "render_csv_annex",
    "render_html",
    "render_json",
    "render_pdf",
    "report_from_json",
    "software_version",
    "write_json",
]
