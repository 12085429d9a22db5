"""The six-monthly periodic review: report generation and the six-monthly timer (OOS-20 .. OOS-23).

Why this exists: every six months the MAH sends EMA a Quality Defect Report
setting the OOS batches administered against the batches released to
specification (OOS-20), showing trends, drift, repeat failures and
specification appropriateness (OOS-21), and escalating recurring OOS outcomes
to CAPA and management review (OOS-23); EMA's questions and regulatory actions
are then tracked to closure (OOS-22). ``processes/periodic_review.bpmn`` runs
that review; this module gives it its data and starts it, and is the service's
entry point for the API, the CLI and the workers (the names of the modules below
are importable from here).

* :func:`generate_report` analyses one product and period in the database
  (:mod:`engine.services.review_data`), renders HTML, PDF, JSON and the CSV
  annex (:mod:`engine.reporting`) and keeps each file as a content-addressed
  record (OOS-17), listed in ``periodic_reports``. The reporting worker calls
  it for the process's service task; the API and the CLI call it directly.
* :func:`start_due_reviews` is the six-monthly timer. The engine schedules
  date and duration timers; the review cycle (``R/2026-01-01T00:00:00Z/P6M`` by
  default) is run here instead: ``oospath scheduler`` calls it on every pass
  and it starts one ``periodic_review`` instance per authorised
  cell/tissue-based product for the latest six-month period that has ended, if
  none exists for it (:func:`engine.services.review_process.start_review`, also
  the manual start for a period given).
* :func:`load_settings` reads the configuration named by ``Settings`` (``OOSPATH_REVIEW_CONFIG``/``_CYCLE``)
  (:mod:`engine.services.review_settings`); the review's periods are
  :mod:`engine.services.review_periods`; decisions made inside oospath become
  batch outcomes by :func:`engine.services.review_outcomes.map_case_outcomes`.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.domain.specifications import SpecificationError, specification_in_force
from engine.domain.trends import Period, review_signals
from engine.reporting import render_html, render_pdf, software_version, write_json
from engine.reporting.charts import report_charts
from engine.reporting.periodic import DatasetInfo, PeriodicReport, default_comparator_selection
from engine.services import audit, definitions, review_data
from engine.services.audit import AuditEvent
from engine.services.catalog import get_product, specifications_in_effect
from engine.services.errors import InvalidData, NotFound
from engine.services.evidence import record_capture
from engine.services.identity import SYSTEM, Actor
from engine.services.review_outcomes import map_case_outcomes
from engine.services.review_periods import (
    latest_ended_period,
    period_from_days,
    review_periods,
)
from engine.services.review_process import PROCESS_KEY, list_reviews, reviewed_products, start_review
from engine.services.review_settings import (
    DEFAULT_BASELINE_PERIODS,
    DEFAULT_CYCLE,
    ReviewSettings,
    settings_from,
)
from engine.services.runtime import Runtime
from engine.settings import Settings
from engine.store.record_store import read_content, store_content, store_stream
from engine.store.review_models import PeriodicReportRow, PeriodicReviewRow

if TYPE_CHECKING:
    from engine.bootstrap import Oospath

log = logging.getLogger(__name__)

REPORT_TYPE = "periodic_review"
FORMATS: Mapping[str, tuple[str, str]] = {
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "json": ("application/json", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}


# ---- configuration ---------------------------------------------------------------------------------------------
def load_settings(config: Settings | None = None) -> ReviewSettings:
    """The review configuration of ``Settings.review_config`` (``OOSPATH_REVIEW_CONFIG``, a JSON file) and
    ``Settings.review_cycle`` (``OOSPATH_REVIEW_CYCLE``); defaults when neither is set."""
    config = config or Settings()
    data: dict[str, Any] = {}
    path = config.review_config
    if path:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidData(f"OOSPATH_REVIEW_CONFIG {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidData(f"OOSPATH_REVIEW_CONFIG {path}: must be a JSON object")
    return settings_from(data, config.review_cycle, f"OOSPATH_REVIEW_CONFIG {path or '(unset)'}")


# ---- reports ---------------------------------------------------------------------------------------------------
def _file_stem(product_code: str, period: Period) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{product_code}-{period.label}")


def _specification_for(session: Session, product_code: str, period: Period) -> Any:
    specs = specifications_in_effect(session, product_code)  # approved versions only (OOS-24)
    try:
        return specification_in_force(specs, period.end - timedelta(microseconds=1), product_code=product_code)
    except SpecificationError as exc:
        raise InvalidData(str(exc)) from exc


def build_report(session: Session, now: datetime, product_code: str, period: Period,
                 settings: ReviewSettings) -> tuple[PeriodicReport, BinaryIO]:
    """The analysed report of one product and period, and its CSV annex in a temporary file, read from its
    start (nothing is stored; the caller closes the file)."""
    product = get_product(session, product_code)
    if period.end > now:
        raise InvalidData(f"OOS-20: the period {period.label} has not ended yet (it ends {period.end.isoformat()}); "
                          "a periodic review covers a completed period")
    specification = _specification_for(session, product_code, period)
    thresholds, baseline_count = settings.for_product(product_code)
    periods = review_periods(period, baseline_count)
    counts = review_data.period_counts(session, product_code, periods, thresholds.confidence_level)
    while len(periods) > 1 and counts[0].total == 0:  # no batches yet (e.g. before launch): not a comparator
        periods, counts = periods[1:], counts[1:]
    oos = review_data.oos_batches(session, product_code, periods[0].start, period.end)
    annex = tempfile.TemporaryFile()  # noqa: SIM115 — handed to the caller, who closes it
    text = io.TextIOWrapper(annex, encoding="utf-8", newline="")
    dataset = review_data.read_dataset(session, specification, periods, oos, text)  # one pass over the rows
    text.flush()
    text.detach()  # the binary file stays open for the caller
    annex.seek(0)
    analysis = review_data.analyse_in_database(session, specification, periods, thresholds=thresholds,
                                               counts=counts, oos=oos, series=dataset.series)
    stem = _file_stem(product_code, period)
    report = PeriodicReport(
        product_code=product_code, product_name=product.name, specification_version=specification.version,
        period=analysis.current, comparator_selection=default_comparator_selection(analysis),
        dataset_sha256=dataset.sha256, software_version=software_version(), generated_at=now, analysis=analysis,
        signals=tuple(review_signals(analysis)), batches=tuple(oos),
        dataset=DatasetInfo(dataset.rows, "oospath database: counts and rates aggregated in SQL; control-chart "
                                          "series and capability from one streamed pass over the rows",
                            f"annex-{stem}.csv"))
    return report, annex


def render_files(report: PeriodicReport, annex_csv: BinaryIO, record_store: Path) -> dict[str, tuple[str, int]]:
    """The report's four files, kept in the record store as they are rendered: (sha256, size) by format.

    The charts are drawn once for the HTML page and the PDF; the JSON is written to the store piece by piece.
    """
    charts = report_charts(report)
    with tempfile.TemporaryDirectory(prefix="oospath-report-") as directory:
        pdf = Path(directory) / "report.pdf"
        render_pdf(report, pdf, charts=charts)
        pdf_bytes = pdf.read_bytes()
    kept = {"html": render_html(report, charts).encode("utf-8"), "pdf": pdf_bytes}
    stored = {fmt: (store_content(record_store, content), len(content)) for fmt, content in kept.items()}
    stored["json"] = store_stream(record_store, lambda out: write_json(report, out))
    stored["csv"] = store_stream(record_store, lambda out: shutil.copyfileobj(annex_csv, out))
    return {fmt: stored[fmt] for fmt in FORMATS}


@contextmanager
def _older_objects_set_aside() -> Iterator[None]:
    """The objects that exist before the block (the modules, the session, the caches: about a million) left out
    of garbage collection while it runs: a review of 200,000 batches makes millions of short-lived objects, and
    each full collection otherwise went through all of them again (more than half a second in all). A block inside a
    block already set aside leaves them so."""
    set_aside_before = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not set_aside_before:
            gc.unfreeze()


def file_name(product_code: str, period: Period, fmt: str) -> str:
    stem = _file_stem(product_code, period)
    return f"annex-{stem}.csv" if fmt == "csv" else f"periodic-review-{stem}.{FORMATS[fmt][1]}"


def generate_report(session: Session, now: datetime, record_store: Path, actor: Actor, product_code: str,
                    period: Period, settings: ReviewSettings | None = None, *, work: Mapping[str, Any] | None = None
                    ) -> PeriodicReportRow:
    """Analyse, render and keep the report of one product and period (OOS-20, OOS-21, OOS-23).

    ``work`` is the reporting worker's work message when the process's service task asked for it.
    """
    settings = settings or load_settings()
    map_case_outcomes(session)
    with _older_objects_set_aside():
        report, annex = build_report(session, now, product_code, period, settings)
        with annex:
            files = render_files(report, annex, record_store)
    work = dict(work or {})
    artifacts: dict[str, Any] = {}
    for fmt, (digest, size) in files.items():
        name = file_name(product_code, period, fmt)
        record = record_capture(session, now, actor, work, record_type=f"report:{REPORT_TYPE}:{fmt}", sha256=digest,
                                media_type=FORMATS[fmt][0], size=size,
                                meta={"requirement": "OOS-20", "filename": name, "product_code": product_code,
                                      "period": report.period.label, "work_message_id": work.get("message_id")})
        artifacts[fmt] = {"record_id": record.id, "sha256": digest, "media_type": FORMATS[fmt][0],
                          "size": size, "filename": name}
    row = PeriodicReportRow(
        id=str(uuid.uuid4()), product_code=product_code, period_start=report.period.start,
        period_end=report.period.end, period_label=report.period.label,
        specification_version=report.specification_version, dataset_sha256=report.dataset_sha256,
        dataset_rows=report.input_rows, software_version=report.software_version,
        signals_count=len(report.signals),
        signals=[{"kind": s.kind, "attribute": s.attribute, "detail": s.detail, "opens": list(s.opens),
                  "requirement": s.requirement} for s in report.signals],
        thresholds=json.loads(json.dumps(dataclasses.asdict(report.analysis.thresholds))),
        artifacts=artifacts, generated_at=now, generated_by=actor.user, instance_id=work.get("instance_id"),
        work_message_id=work.get("message_id"))
    session.add(row)
    audit.append(session, now, actor, AuditEvent(
        "periodic_report.generated", instance_id=work.get("instance_id"), element_id=work.get("element_id"),
        task_id=work.get("task_id"),
        data_after={"report_id": row.id, "product_code": product_code, "period": row.period_label,
                    "dataset_sha256": row.dataset_sha256, "dataset_rows": row.dataset_rows,
                    "signals_count": row.signals_count, "requirement": "OOS-20"}))
    session.flush()
    return row


def report_result(row: PeriodicReportRow) -> dict[str, Any]:
    """What the process's service task receives (``review_report``): the gateway reads ``signals_count``."""
    return {"report_id": row.id, "product_code": row.product_code, "period_label": row.period_label,
            "dataset_sha256": row.dataset_sha256, "dataset_rows": row.dataset_rows,
            "signals_count": row.signals_count, "signals": [s["kind"] + (f": {s['attribute']}" if s["attribute"]
                                                                          else "") for s in row.signals],
            "artifacts": {fmt: {"record_id": a["record_id"], "sha256": a["sha256"]}
                          for fmt, a in row.artifacts.items()}}


def _parse_moment(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidData(f"{what}: '{value}' is not an ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        raise InvalidData(f"{what}: '{value}' has no time zone")
    return moment


def report_for_work(session: Session, now: datetime, record_store: Path, actor: Actor, work: Mapping[str, Any]
                    ) -> dict[str, Any]:
    """The reporting worker's entry point: params ``product_code``, ``period_start``, ``period_end``."""
    params = work.get("params") or {}
    period = Period(_parse_moment(params.get("period_start"), "period_start"),
                    _parse_moment(params.get("period_end"), "period_end"))
    return report_result(generate_report(session, now, record_store, actor, str(params.get("product_code")),
                                         period, work=work))


def report_for_message(session: Session, message_id: str) -> PeriodicReportRow | None:
    return session.scalar(select(PeriodicReportRow).where(PeriodicReportRow.work_message_id == message_id))


def list_reports(session: Session, product_code: str | None = None) -> list[PeriodicReportRow]:
    query = select(PeriodicReportRow).order_by(PeriodicReportRow.generated_at.desc(), PeriodicReportRow.id)
    if product_code:
        query = query.where(PeriodicReportRow.product_code == product_code)
    return list(session.scalars(query))


def get_report(session: Session, report_id: str) -> PeriodicReportRow:
    row = session.get(PeriodicReportRow, report_id)
    if row is None:
        raise NotFound(f"periodic review report {report_id} does not exist")
    return row


def report_file(session: Session, record_store: Path, report_id: str, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) of one of the report's files; the content is checked against its hash."""
    row = get_report(session, report_id)
    if fmt not in row.artifacts:
        raise NotFound(f"format '{fmt}' does not exist; a report has {', '.join(sorted(row.artifacts))}")
    artifact = row.artifacts[fmt]
    content = read_content(record_store, artifact["sha256"])
    return content, artifact["media_type"], artifact["filename"]


# ---- the six-monthly timer ----------------------------------------------------------------------------------------
def start_due_reviews(session: Session, runtime: Runtime, settings: ReviewSettings | None = None
                      ) -> list[PeriodicReviewRow]:
    """The six-monthly timer (OOS-20): one review per reviewed product for the latest ended period, if none exists."""
    settings = settings or load_settings()
    if settings.cycle is None:
        return []
    period = latest_ended_period(settings.cycle, runtime.clock.now())
    if period is None:
        return []
    if definitions.latest_approved_definition(session, PROCESS_KEY) is None:
        log.warning("process '%s' has no approved version (oospath deploy): no periodic review started", PROCESS_KEY)
        return []
    started = []
    for code in reviewed_products(session):
        exists = session.scalar(select(func.count()).select_from(PeriodicReviewRow).where(
            PeriodicReviewRow.product_code == code, PeriodicReviewRow.period_start == period.start,
            PeriodicReviewRow.period_end == period.end))
        if not exists:
            started.append(start_review(session, runtime, code, period, SYSTEM, trigger="scheduler"))
    return started


def start_due(app: Oospath) -> int:
    """One scheduler pass of the six-monthly timer in its own transaction (``oospath scheduler``)."""
    with app.uow() as uow:
        started = start_due_reviews(uow.session, app.runtime)
        uow.commit()
    return len(started)


__all__ = [
    "DEFAULT_BASELINE_PERIODS",
    "DEFAULT_CYCLE",
    "FORMATS",
    "PROCESS_KEY",
    "REPORT_TYPE",
    "ReviewSettings",
    "build_report",
    "generate_report",
    "get_report",
    "latest_ended_period",
    "list_reports",
    "list_reviews",
    "load_settings",
    "map_case_outcomes",
    "period_from_days",
    "render_files",
    "report_file",
    "report_for_message",
    "report_for_work",
    "report_result",
    "review_periods",
    "reviewed_products",
    "settings_from",
    "start_due",
    "start_due_reviews",
    "start_review",
]
