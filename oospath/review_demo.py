"""`oospath demo --scenario periodic-review`: two years of one product, the review process run to its end.

What it does, on embedded defaults (SQLite in a fresh directory, in-process workers, a
simulated clock):

1. seeds the demo products and specifications and writes a realistic LIMS export of
   two years of CART19-AUTH batches (:mod:`engine.reporting.synthetic`: ~20 batches
   a month, a few viability OOS batches administered or not, one sterility failure,
   the vector copy number drifting in the last six months), then imports it through
   the real importer (``oospath import batches``);
2. runs the scheduler's six-monthly pass, which starts ``periodic_review`` for the
   period that ended last; the reporting worker assembles the report;
3. scripted actors (QA, MAH regulatory affairs, management) work every task: QA
   review, CAPA and management review for the signals (OOS-23), approval,
   submission, forwarding to the CAT rapporteur, one round of EMA questions and the
   regulatory actions (OOS-22);
4. copies the report's files out of the record store and prints their paths.

The scripted inputs are shared with the tests (``review_form_data``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FileClock
from engine.domain import catalogue
from engine.domain.trends import Period, six_monthly_periods
from engine.reporting.periodic import annex_header, annex_row
from engine.reporting.synthetic import generate_dataset
from engine.services import batch_import, catalog, instances, periodic_review, tasks
from engine.services.errors import Conflict
from engine.services.identity import Actor
from engine.settings import Settings
from engine.store.models import ProcessInstance
from engine.store.review_models import PeriodicReportRow
from oospath.demo import ADMIN, deploy_processes
from oospath.demo_people import credentials_of, seed_people
from workers.embedded import EmbeddedMessaging

REVIEW_PERSONAS = {
    "qa": Actor("anna.keller", frozenset({"qa"})),
    "mah_ra": Actor("sofia.lindqvist", frozenset({"mah_ra"})),
    "management": Actor("marta.ruiz", frozenset({"management"})),
}
STEP_DURATION = {
    "qa_review": timedelta(days=5), "open_capa": timedelta(days=2), "management_review": timedelta(days=6),
    "approve_review": timedelta(days=2), "record_ema_submission": timedelta(days=1),
    "record_cat_forwarding": timedelta(days=9), "record_ema_questions": timedelta(days=20),
    "answer_ema_questions": timedelta(days=12), "record_regulatory_actions": timedelta(days=14),
}


def review_form_data(element_id: str, now: datetime, data: dict[str, Any], round_: int = 0) -> dict[str, Any]:
    """What the scripted actor submits at one task of the review, having read its process data.

    ``round_`` counts the EMA question rounds already recorded: the first brings questions, the next none.
    """
    report = data.get("review_report", {})
    stamp = now.isoformat()
    forms: dict[str, dict[str, Any]] = {
        "qa_review": {
            "qa_reviewed_dataset_sha256": report.get("dataset_sha256", "0" * 64),
            "process_consistent": not report.get("signals_count"),
            "specification_appropriate": True,
            "trends_summary": "Vector copy number drifts upwards over the period (WE4 and WE1 named on the "
                              "control chart, Ppk below 1.0); viability OOS rate in line with the baseline.",
            "improvements": "Investigate the transduction step (MOI, vector lot); tighten the in-process VCN check.",
        },
        "open_capa": {
            "capa_reference": "CAPA-2026-044", "capa_root_cause": "Vector lot change in month 19 suspected; "
                                                                   "investigation plan QI-2026-112.",
            "capa_actions": "Re-qualify vector lots for functional titre; in-process VCN alert at 3.5.",
            "capa_change_route": "comparability_or_validation_update", "capa_due_date": (now + timedelta(days=90))
            .date().isoformat(),
        },
        "management_review": {
            "management_reviewed_at": stamp, "management_decision": "capa_endorsed",
            "management_conclusions": "CAPA endorsed; comparability protocol for the vector lot funded.",
        },
        "approve_review": {
            "review_signatory_name": "Sofia Lindqvist, Head of Regulatory Affairs",
            "review_signature_meaning": "I approve this periodic review for submission to EMA as the Quality "
                                        "Defect Report",
            "review_approved": True,
        },
        "record_ema_submission": {"ema_submitted_at": stamp, "ema_submission_reference": "EMA/QDR/2026/0815"},
        "record_cat_forwarding": {"cat_forwarded_at": stamp, "cat_rapporteur": "CAT rapporteur (NL)"},
        "record_ema_questions": (
            {"questions_received": True, "questions_received_at": stamp,
             "questions": "Provide the VCN trend by vector lot and the CAPA timelines."}
            if round_ == 0 else {"questions_received": False}),
        "answer_ema_questions": {"answer_summary": "VCN by vector lot provided; CAPA-2026-044 timelines attached.",
                                 "answered_at": stamp, "answer_reference": "EMA/QDR/2026/0815/R1"},
        "record_regulatory_actions": {
            "regulatory_actions": [{"action": "Post-authorisation measure: report the VCN trend in the next review",
                                    "reference": "PAM-2026-07", "closed_at": stamp}],
            "regulatory_closure_summary": "EMA accepted the answers; one post-authorisation measure agreed.",
        },
    }
    return forms[element_id]


def work_review(app: Oospath, instance_id: str, settle: Callable[[], object],
                advance: Callable[[timedelta], object] | None = None, max_steps: int = 40) -> list[str]:
    """Scripted actors complete the instance's ready tasks until it ends; returns the element ids in order."""
    done: list[str] = []
    rounds = 0
    for _ in range(max_steps):
        with app.uow() as uow:
            ready = tasks.list_tasks(uow.session, instance_id=instance_id)
        if not ready:
            return done
        task = ready[0]
        if advance is not None:
            advance(STEP_DURATION.get(task.element_id, timedelta(days=1)))
        with app.uow() as uow:
            data = instances.instance_data(uow.session, app.runtime, instance_id)
            form = review_form_data(task.element_id, app.clock.now(), data, rounds)
            persona = REVIEW_PERSONAS[task.role or "qa"]
            tasks.complete_task(uow.session, app.runtime, task.id, form, persona,
                                signature=credentials_of(persona.user))
            uow.commit()
        rounds += task.element_id == "record_ema_questions"
        done.append(task.element_id)
        settle()
    raise RuntimeError(f"the review did not end in {max_steps} steps")


def seed_products(app: Oospath) -> None:
    """The demo products and specification versions (the batches come from the LIMS export), and its people."""
    seed_people(app)
    with app.uow() as uow:
        for product in catalogue.products():
            try:
                catalog.add_product(uow.session, app.clock, product, ADMIN)
                uow.session.flush()
            except Conflict:
                continue
        known = {(r.product_code, r.version) for r in catalog.list_specifications(uow.session)}
        for spec in catalogue.specifications():
            if (spec.product_code, spec.version) not in known:
                catalog.add_specification(uow.session, app.clock, spec, ADMIN)
        uow.commit()


def lims_export(period: Period, seed: int = 7) -> bytes:
    """Two years of CART19-AUTH up to the end of ``period``, as a LIMS CSV export (the report's annex format)."""
    start = period.end.replace(year=period.end.year - 2)
    batches = generate_dataset(seed, start=start, months=24)
    periods = six_monthly_periods(start, period.end)
    attributes = list(dict.fromkeys(a for b in batches for a in b.results))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(annex_header(attributes))
    for batch in batches:
        writer.writerow(annex_row(batch, attributes, periods))
    return buffer.getvalue().encode()


def run_demo(console: Console, var_dir: Path | None = None, seed: int = 7) -> int:
    started = time.perf_counter()
    var_dir = (var_dir or Path(tempfile.mkdtemp(prefix="oospath-review-demo-"))).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    clock = FileClock(var_dir / "clock")
    clock.set(datetime.now(UTC).replace(microsecond=0))
    app = bootstrap(Settings(var_dir=var_dir, database_url=f"sqlite:///{var_dir / 'oospath.db'}"), clock)
    deploy_processes(app)
    seed_products(app)
    settings = periodic_review.load_settings(app.settings)
    cycle = settings.cycle or periodic_review.DEFAULT_CYCLE
    period = periodic_review.latest_ended_period(cycle, clock.now())
    if period is None:
        console.print(f"[red]no six-month period of the cycle {cycle} has ended yet[/]")
        return 1
    export = var_dir / f"lims-export-{catalogue.CART19_AUTH}.csv"
    export.write_bytes(lims_export(period, seed))
    with app.uow() as uow:
        summary = batch_import.import_batches(uow.session, clock.now(), ADMIN, export.read_bytes(), "csv",
                                              source=str(export))
        uow.commit()
    console.print(f"imported {summary.rows} batches from {export} ({summary.by_status})")
    messaging = EmbeddedMessaging(app)
    with app.uow() as uow:  # the scheduler's six-monthly pass (what `oospath scheduler` runs)
        reviews = periodic_review.start_due_reviews(uow.session, app.runtime,
                                                    dataclasses.replace(settings, cycle=cycle))
        uow.commit()
    review = next(r for r in reviews if r.product_code == catalogue.CART19_AUTH)
    messaging.pump()
    steps = work_review(app, review.instance_id, messaging.pump, clock.advance)
    with app.uow() as uow:
        instance = uow.session.get(ProcessInstance, review.instance_id)
        assert instance is not None
        report = next(r for r in periodic_review.list_reports(uow.session, catalogue.CART19_AUTH)
                      if r.instance_id == review.instance_id)
        paths = export_files(app, report, var_dir / "reports")
        status, end_event = instance.status, instance.end_event
    table = Table("signal (OOS-23)", "attribute", "detail", title=f"Periodic review {report.period_label}")
    for signal in report.signals:
        table.add_row(signal["kind"], signal["attribute"] or "all", signal["detail"][:110])
    console.print(table)
    console.print(f"review {review.id}: {status} at {end_event} after {len(steps)} tasks ({', '.join(steps)})")
    console.print(f"dataset SHA-256 {report.dataset_sha256} over {report.dataset_rows} batches; "
                  f"software {report.software_version}; took {time.perf_counter() - started:.1f} s")
    for path in paths:
        console.print(str(path), soft_wrap=True, highlight=False)
    return 0 if status == "completed" else 1


def export_files(app: Oospath, report: PeriodicReportRow, directory: Path) -> list[Path]:
    """Write the report's files from the record store to ``directory``; returns their paths."""
    assert app.settings.record_store is not None
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in ("html", "pdf", "json", "csv"):
        with app.uow() as uow:
            content, _, name = periodic_review.report_file(uow.session, app.settings.record_store, report.id, fmt)
        path = directory / name
        path.write_bytes(content)
        paths.append(path)
    return paths
