"""The engine's clock is the only clock, and recorded facts must be able to be true.

# REQ: OOS-13 (deadline from the recorded supply, visible, escalated, late flagged never hidden)
# REQ: OOS-01 OOS-07 OOS-19 (plausible specifications, batches and administrations)
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.domain import catalogue
from engine.services import cases, catalog, deadlines, instances, tasks
from engine.services.errors import RuleViolation
from engine.services.scheduling import fire_due, scheduler_pass
from engine.store.models import AuditEntry, CaseRow, Timer
from oospath.cli import main
from oospath.demo import run_scenario, upload_scripted_records
from oospath.demo_people import credentials_of
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, SCENARIOS, form_data
from tests.integration.test_deadlines import (
    act,
    actor_for,
    drive_until,
    notified,
    open_authorised_case,
    ready,
)
from workers.embedded import EmbeddedMessaging


def complete_with(app: Oospath, task: Any, scenario: str = "authorised", **entered: Any) -> None:
    """The persona of the task's role completes it with the scripted data, except what the test enters."""
    upload_scripted_records(app, task.case_id, task.element_id)
    persona = PERSONAS[task.role]
    with app.uow() as uow:
        seen = tasks.task_data(uow.session, app.runtime, task)
        data = form_data(task.element_id, scenario, app.clock.now(), seen) | entered
        tasks.complete_task(uow.session, app.runtime, task.id, data, actor_for(persona.role),
                            signature=credentials_of(persona.user))
        uow.commit()


def sa_timers(app: Oospath, case_id: str) -> dict[str, Timer]:
    with app.uow() as uow:
        return {t.element_id: t for t in instances.timers_of(uow.session, cases.get_case(uow.session, case_id)
                                                                .instance_id)}


def sa_deadline(app: Oospath, case_id: str) -> dict[str, Any]:
    """The Supervisory Authority deadline as the case view shows it."""
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        shown = deadlines.case_deadlines(uow.session, case, app.settings, app.clock.now())
    return next(d for d in shown if d["requirement"] == "OOS-13")


def qa_head_alerts(app: Oospath, case_id: str) -> list[str]:
    """The head of QA's alerts, without the case reference their subjects start with."""
    return [subject.split("] ", 1)[1] for party, subject in notified(app, case_id) if party == "qa_head"]


# ---- the engine's clock is the only clock ------------------------------------------------------------


def test_oos_13_a_supply_recorded_after_its_deadline_is_overdue_at_once_and_the_late_notice_says_how_late(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "supply_batch")
    clock.advance(timedelta(hours=60))
    supplied = clock.now() - timedelta(hours=50)  # recorded two hours after its 48 h had run out
    complete_with(app, ready(app, case_id, "supply_batch"), supplied_at=supplied.isoformat(),
                  delivered_to_site_at=supplied.isoformat())
    pathway.pump()

    timers = sa_timers(app, case_id)
    assert {name: (t.due_at, t.status) for name, t in timers.items()} == {
        "sa_deadline_escalation": (supplied + timedelta(hours=36), "waiting"),
        "sa_deadline_overdue": (supplied + timedelta(hours=48), "waiting")}
    assert ready(app, case_id, "approve_sa_notification").due_at == supplied + timedelta(hours=48)
    shown = sa_deadline(app, case_id)
    assert (shown["status"], shown["late_by_hours"]) == ("overdue", 2.0)
    assert qa_head_alerts(app, case_id) == []  # SpiffWorkflow did not fire them by itself

    assert scheduler_pass(app, pathway.pump) == 2  # escalation and overdue, delivered by the pass itself
    assert len(qa_head_alerts(app, case_id)) == 2 and any("overdue" in s for s in qa_head_alerts(app, case_id))

    clock.advance(timedelta(hours=1))
    act(app, ready(app, case_id, "approve_sa_notification"))
    pathway.pump()
    shown = sa_deadline(app, case_id)
    assert (shown["status"], shown["late_by_hours"]) == ("late", 3.0)


@pytest.mark.parametrize("offset", [timedelta(days=-30), timedelta(days=30)], ids=["behind", "ahead"])
def test_oos_13_timers_fire_by_the_engines_clock_behind_or_ahead_of_real_time(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging, offset: timedelta
) -> None:
    clock.set(datetime.now(UTC).replace(microsecond=0) + offset)
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "approve_sa_notification")
    timers = sa_timers(app, case_id)
    escalation, overdue = timers["sa_deadline_escalation"].due_at, timers["sa_deadline_overdue"].due_at
    assert {t.status for t in timers.values()} == {"waiting"} and qa_head_alerts(app, case_id) == []

    clock.set(escalation - timedelta(minutes=1))
    assert fire_due(app) == 0
    clock.set(escalation)
    assert scheduler_pass(app, pathway.pump) == 1
    assert qa_head_alerts(app, case_id) == ["Supervisory Authority notification due within 12 hours"]
    clock.set(overdue - timedelta(minutes=1))
    assert fire_due(app) == 0
    clock.set(overdue)
    assert scheduler_pass(app, pathway.pump) == 1
    assert any("overdue" in subject for subject in qa_head_alerts(app, case_id))


def test_oos_13_the_scheduler_command_delivers_the_alerts_it_raises_without_waiting_for_the_api(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging, tmp_path: Path
) -> None:
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "approve_sa_notification")
    clock_file = tmp_path / "clock.txt"
    clock_file.write_text((clock.now() + timedelta(hours=49)).isoformat())
    settings = app.settings
    result = CliRunner().invoke(main, ["scheduler", "--once"], env={
        "OOSPATH_DATABASE_URL": settings.database_url, "OOSPATH_CLOCK_FILE": str(clock_file),
        "OOSPATH_VAR_DIR": str(settings.var_dir), "OOSPATH_RECORD_STORE": str(settings.record_store),
        "OOSPATH_MAIL_OUTBOX": str(settings.mail_outbox), "OOSPATH_EMBEDDED_MESSAGING": "true"})
    assert result.exit_code == 0, result.output
    assert "fired 2 timer(s)" in result.output
    # Nothing was pumped here: the scheduler's own pass delivered the escalation and the overdue alert.
    alerts = qa_head_alerts(app, case_id)
    assert len(alerts) == 2 and any("overdue" in subject for subject in alerts)


def test_oos_13_two_schedulers_running_at_once_fire_each_timer_once(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "approve_sa_notification")
    clock.advance(timedelta(hours=49))
    second = bootstrap(app.settings, clock, migrate=False)
    start = threading.Barrier(2)
    fired: list[int] = []
    failures: list[BaseException] = []

    def scheduler(container: Oospath) -> None:
        start.wait()
        try:
            fired.append(fire_due(container) + fire_due(container))
        except BaseException as exc:  # reported below, with the test's assertion
            failures.append(exc)

    threads = [threading.Thread(target=scheduler, args=(c,)) for c in (app, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    second.db.dispose()
    assert not failures, failures
    assert sum(fired) == 2
    with app.uow() as uow:
        firings = list(uow.session.scalars(select(AuditEntry.element_id).where(
            AuditEntry.case_id == case_id, AuditEntry.action == "timer.fired")))
    assert sorted(firings) == ["sa_deadline_escalation", "sa_deadline_overdue"]
    pathway.pump()
    assert len(qa_head_alerts(app, case_id)) == 2


# ---- plausible facts ---------------------------------------------------------------------------------


def supply_refusal(app: Oospath, pathway: EmbeddedMessaging, **entered: Any) -> RuleViolation:
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "supply_batch")
    with pytest.raises(RuleViolation) as refused:
        complete_with(app, ready(app, case_id, "supply_batch"), **entered)
    return refused.value


def test_oos_13_a_supply_in_the_future_cannot_move_the_deadline(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    refused = supply_refusal(app, pathway, supplied_at=(clock.now() + timedelta(days=30)).isoformat(),
                             delivered_to_site_at=(clock.now() - timedelta(days=30)).isoformat())
    assert refused.requirement == "OOS-13" and "supplied_at" in refused.detail and "future" in refused.detail


def test_oos_13_a_delivery_before_the_supply_is_refused(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    refused = supply_refusal(app, pathway, supplied_at=(clock.now() - timedelta(hours=2)).isoformat(),
                             delivered_to_site_at=(clock.now() - timedelta(hours=5)).isoformat())
    assert refused.requirement == "OOS-13" and "delivered_to_site_at" in refused.detail


def test_oos_13_the_future_tolerance_is_configurable(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "supply_batch")
    soon = (clock.now() + timedelta(minutes=10)).isoformat()  # clocks ten minutes apart
    with pytest.raises(RuleViolation, match="tolerance 5 min"):
        complete_with(app, ready(app, case_id, "supply_batch"), supplied_at=soon, delivered_to_site_at=soon)
    monkeypatch.setenv("OOSPATH_FUTURE_TOLERANCE_MINUTES", "15")
    complete_with(app, ready(app, case_id, "supply_batch"), supplied_at=soon, delivered_to_site_at=soon)
    assert sa_timers(app, case_id)["sa_deadline_overdue"].due_at == clock.now() + timedelta(hours=48, minutes=10)


@pytest.mark.parametrize("when", ["2020-06-01T10:00:00+00:00", "future"])
def test_oos_19_an_administration_before_supply_or_in_the_future_is_refused(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging, when: str
) -> None:
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "confirm_patient_informed_and_administration")
    administered = (clock.now() + timedelta(days=2)).isoformat() if when == "future" else when
    with pytest.raises(RuleViolation) as refused:
        complete_with(app, ready(app, case_id, "confirm_patient_informed_and_administration"),
                      administered_at=administered)
    assert refused.value.requirement == "OOS-19" and "administered_at" in refused.value.detail


def test_oos_07_a_batch_whose_disposition_is_recorded_starts_no_new_case(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    result = run_scenario(app, pathway.pump, "declined", clock.advance)  # the batch is destroyed
    assert result.case.outcome == "not_supplied"
    with app.uow() as uow, pytest.raises(RuleViolation) as refused:
        cases.open_case(uow.session, app.runtime, SCENARIOS["declined"], EXCEPTIONAL_USE_REASON, actor_for("qa"))
    assert refused.value.requirement == "OOS-07" and "not_supplied" in refused.value.detail
    with app.uow() as uow:
        assert len(list(uow.session.scalars(select(CaseRow).where(CaseRow.batch_id == SCENARIOS["declined"])))) == 1


def test_oos_01_two_specification_versions_cannot_take_effect_at_the_same_instant(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    with app.uow() as uow:
        current = catalog.list_specifications(uow.session, catalogue.CART19_AUTH)[-1]
        clash = replace(catalog.specification_from_row(current), version=current.version + 1)
        with pytest.raises(RuleViolation) as refused:
            catalog.add_specification(uow.session, clock, clash, actor_for("qa"))
    assert refused.value.requirement == "OOS-01" and "effective_from" in refused.value.detail
    with app.uow() as uow:  # the product's batches are still judged against one version in force
        assert catalog.assess_batch(uow.session, catalogue.BATCH_VIABILITY_OOS).out_of_specification
