"""processes/periodic_review.bpmn runs through: scheduler and manual starts, CAPA escalation, EMA questions loop.

REQ: OOS-20 (six-monthly review submitted to EMA), OOS-21 (what it shows), OOS-22 (CAT rapporteur,
questions and regulatory actions tracked to closure), OOS-23 (signals open CAPA and management review).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from engine.domain import catalogue as cat
from engine.domain.trends import Period
from engine.reporting import software_version
from engine.reporting.json_report import report_from_json
from engine.reporting.periodic import dataset_sha256
from engine.services import periodic_review, tasks
from engine.services.errors import Conflict, InvalidData, ValidationFailed
from engine.services.identity import Actor
from engine.services.scheduling import fire_due
from engine.store.evidence_models import RecordRow
from engine.store.identity_models import SignatureRow
from engine.store.models import AuditEntry, ProcessInstance, Timer
from engine.store.record_store import read_content
from engine.store.review_models import PeriodicReportRow
from oospath.demo_people import credentials_of
from oospath.review_demo import review_form_data, work_review
from tests.integration.test_periodic_review_data import dataset, import_bytes, lims_csv
from workers.embedded import EmbeddedMessaging

MAH = Actor("sofia.lindqvist", frozenset({"mah_ra"}))
H1_2026 = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
NO_SIGNALS = {"thresholds": {"control_rules": [], "repeat_failures": 1000, "repeat_consecutive_periods": 50,
                             "min_cpk": 0.01, "min_ppk": 0.01, "near_limit_share": 0.99, "alpha": 1e-9}}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))


def instance_of(app: Oospath, instance_id: str) -> ProcessInstance:
    with app.uow() as uow:
        row = uow.session.get(ProcessInstance, instance_id)
        assert row is not None
        return row


def report_of(app: Oospath, instance_id: str) -> PeriodicReportRow:
    with app.uow() as uow:
        (row,) = uow.session.scalars(select(PeriodicReportRow).where(PeriodicReportRow.instance_id == instance_id))
        return row


def test_the_scheduler_starts_one_review_per_product_for_the_ended_period_and_it_runs_to_closure(
        app: Oospath, pathway: EmbeddedMessaging, clock: FrozenClock) -> None:
    # REQ: OOS-20, OOS-21, OOS-22, OOS-23 — drift in 2026-H1: signals open CAPA and management review
    batches = dataset()
    import_bytes(app, lims_csv(batches))
    with app.uow() as uow:
        started = periodic_review.start_due_reviews(uow.session, app.runtime, periodic_review.ReviewSettings())
        again = periodic_review.start_due_reviews(uow.session, app.runtime, periodic_review.ReviewSettings())
        uow.commit()
    assert [(r.product_code, r.period_start, r.period_end, r.trigger) for r in started] == [
        (cat.CART19_AUTH, H1_2026.start, H1_2026.end, "scheduler")]
    assert again == []  # one review per product and period
    pathway.pump()
    review = started[0]
    report = report_of(app, review.instance_id)
    assert report.signals_count > 0 and report.dataset_rows == len(batches)
    assert report.dataset_sha256 == dataset_sha256(batches)
    steps = work_review(app, review.instance_id, pathway.pump, clock.advance)
    assert steps[0] == "qa_review"
    assert {"open_capa", "management_review"} <= set(steps)  # OOS-23
    assert steps.count("record_ema_questions") == 2 and steps.count("answer_ema_questions") == 1  # OOS-22 loop
    assert steps.index("answer_ema_questions") < steps.index("record_regulatory_actions")
    instance = instance_of(app, review.instance_id)
    assert (instance.status, instance.end_event) == ("completed", "review_closed")
    with app.uow() as uow:
        closure = uow.session.scalars(select(RecordRow).where(RecordRow.record_type == "periodic_review_closure")
                                      ).all()
        actions = {a.action for a in uow.session.scalars(
            select(AuditEntry).where(AuditEntry.instance_id == review.instance_id))}
    assert len(closure) == 1
    assert {"periodic_review.started", "periodic_report.generated", "task.completed"} <= actions
    # OOS-24: the MAH's approval is an electronic signature bound to the report files it approves
    with app.uow() as uow:
        (approval,) = [s for s in uow.session.scalars(select(SignatureRow).where(
            SignatureRow.instance_id == review.instance_id)) if s.element_id == "approve_review"]
    assert (approval.signer, approval.meaning, approval.printed_name) == ("sofia.lindqvist", "approval",
                                                                          "Sofia Lindqvist")
    assert approval.signed_content["documents"] == sorted(a["sha256"] for a in report.artifacts.values())


def test_without_signals_no_capa_or_management_review_is_opened(
        app: Oospath, pathway: EmbeddedMessaging, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # REQ: OOS-23 — thresholds from the configuration file decide; none crossed, no escalation
    config = tmp_path / "review.json"
    config.write_text(json.dumps(NO_SIGNALS))
    monkeypatch.setenv("OOSPATH_REVIEW_CONFIG", str(config))
    import_bytes(app, lims_csv(dataset(drift=0.0)))
    with app.uow() as uow:
        review = periodic_review.start_review(uow.session, app.runtime, cat.CART19_AUTH, H1_2026, MAH)
        uow.commit()
    pathway.pump()
    report = report_of(app, review.instance_id)
    assert report.signals_count == 0 and report.thresholds["repeat_failures"] == 1000
    with app.uow() as uow:  # QA names the dataset it reviewed (OOS-20: which data); a malformed hash is refused
        (task,) = tasks.list_tasks(uow.session, instance_id=review.instance_id)
        form = review_form_data("qa_review", app.clock.now(), {"review_report": {"dataset_sha256": "not-a-hash"}})
        with pytest.raises(ValidationFailed) as failed:
            tasks.complete_task(uow.session, app.runtime, task.id, form, Actor("anna.keller", frozenset({"qa"})),
                                signature=credentials_of("anna.keller"))
    assert failed.value.errors[0]["field"] == "qa_reviewed_dataset_sha256"
    steps = work_review(app, review.instance_id, pathway.pump)
    assert "open_capa" not in steps and "management_review" not in steps
    assert instance_of(app, review.instance_id).end_event == "review_closed"


def test_a_manual_start_waits_for_the_period_end_as_a_timer_the_scheduler_fires(
        app: Oospath, pathway: EmbeddedMessaging, clock: FrozenClock) -> None:
    # REQ: OOS-20 — the start event is a timer on the period's end; before it, no review can start
    future = Period(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 7, 1, tzinfo=UTC))
    with app.uow() as uow, pytest.raises(InvalidData, match="has not ended yet"):
        periodic_review.start_review(uow.session, app.runtime, cat.CART19_AUTH, future, MAH)
    clock.advance(future.end - clock.now())
    with app.uow() as uow:
        review = periodic_review.start_review(uow.session, app.runtime, cat.CART19_AUTH, future, MAH)
        uow.commit()
    with app.uow() as uow:
        (timer,) = uow.session.scalars(select(Timer).where(Timer.instance_id == review.instance_id))
        assert (timer.element_id, timer.due_at, timer.status) == ("review_period_ended", future.end, "fired")
        with pytest.raises(Conflict, match="already running"):
            periodic_review.start_review(uow.session, app.runtime, cat.CART19_AUTH, future, MAH)
    assert fire_due(app) == 0
    pathway.pump()
    report = report_of(app, review.instance_id)  # a period without batches: nothing to escalate
    assert (report.dataset_rows, report.signals_count) == (0, 0)
    with app.uow() as uow:
        (task,) = tasks.list_tasks(uow.session, instance_id=review.instance_id)
    assert (task.element_id, task.role) == ("qa_review", "qa")


def test_the_report_states_period_comparators_dataset_hash_and_software_version(
        app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-20, OOS-21
    batches = dataset()
    import_bytes(app, lims_csv(batches))
    assert app.settings.record_store is not None
    with app.uow() as uow:
        row = periodic_review.generate_report(uow.session, app.clock.now(), app.settings.record_store, MAH,
                                              cat.CART19_AUTH, H1_2026, periodic_review.ReviewSettings())
        uow.commit()
    files = {fmt: read_content(app.settings.record_store, a["sha256"]) for fmt, a in row.artifacts.items()}
    html = files["html"].decode()
    report = report_from_json(files["json"].decode())
    assert report.period == H1_2026 and "2026-H1" in html
    assert "Comparators are all" in report.comparator_selection and "2024-H2, 2025-H1, 2025-H2" in html
    assert report.dataset_sha256 == row.dataset_sha256 == dataset_sha256(batches) and row.dataset_sha256 in html
    assert report.software_version == software_version() and f"oospath {software_version()}" in html
    assert report.dataset is not None and report.dataset.rows == len(batches)
    assert files["pdf"].startswith(b"%PDF")
    annex = files["csv"].decode().splitlines()
    assert len(annex) == len(batches) + 1 and annex[0].startswith("batch_id,product_code,decided_at_utc,period")
