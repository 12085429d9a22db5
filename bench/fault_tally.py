"""Settling and the tally of the fault injection run: nothing lost, nothing doubled.

Part of ``python -m bench fault_injection`` (:mod:`bench.fault_injection`).
"""

from __future__ import annotations

import collections
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.fault_driving import MIX, DrivenCase, Driving
from bench.fault_environment import NAMESPACE, SmtpRecorder
from bench.fault_killer import Faults
from engine.bootstrap import Oospath
from engine.services.audit_views import chain_intact
from engine.store.evidence_models import NotificationRow, RecordRow
from engine.store.models import CaseRow, Incident, OutboxMessage, TaskRow


def unsettled(app: Oospath) -> tuple[int, int]:
    with app.uow() as uow:
        unpublished = uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                         .where(OutboxMessage.published_at.is_(None))) or 0
        waiting = uow.session.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.state == "waiting")) or 0
    return unpublished, waiting


def queued_messages() -> dict[str, int]:
    """Messages (ready and unacknowledged) in every queue of the namespace, retry queues included."""
    listing = subprocess.run(["rabbitmqctl", "list_queues", "name", "messages", "--no-table-headers", "-q"],
                             check=True, capture_output=True, text=True, timeout=60).stdout
    counts = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(NAMESPACE + ".") and parts[0] != f"{NAMESPACE}.dead":
            counts[parts[0]] = int(parts[1])
    return counts


def settle(app: Oospath, timeout: float) -> tuple[bool, float, str]:
    began = time.monotonic()
    quiet_since: float | None = None
    state = ""
    while time.monotonic() - began < timeout:
        unpublished, waiting = unsettled(app)
        queued = sum(queued_messages().values())
        state = f"{unpublished} unpublished outbox row(s), {waiting} waiting task(s), {queued} queued message(s)"
        if not unpublished and not waiting and not queued:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 2.0:  # quiet for a while: nothing is in a handler either
                return True, time.monotonic() - began, state
        else:
            quiet_since = None
        time.sleep(0.5)
    return False, time.monotonic() - began, state


def explain_duplicates(smtp: SmtpRecorder, faults: Faults, logs: Path, limit: int = 10) -> list[str]:
    """For each Message-ID received twice: when, the kills just before, and what the process logs say about it."""
    arrivals: dict[str, list[float]] = collections.defaultdict(list)
    for message_id, at in zip(smtp.message_ids, smtp.received_at, strict=True):
        arrivals[message_id].append(at)
    lines = []
    for message_id, times in [(m, t) for m, t in arrivals.items() if len(t) > 1][:limit]:
        work_id = message_id.strip("<>").split("@")[0]
        # Who can send one message twice: a notifications worker (killed after sending, before committing) or
        # the relay (killed after the broker confirmed, before committing: published again) or the broker.
        kills = [f"{name} (pid {pid}) killed at {at:.1f} s" for at, name, pid in faults.kills
                 if times[0] - 2 <= at <= times[-1] + 0.5 and name.startswith(("notifications", "relay"))]
        broker = [f"broker down {a:.1f}-{b:.1f} s" for a, b in faults.broker_windows
                  if times[0] - 10 <= b and a <= times[-1]]
        lines.append(f"{message_id} received at {', '.join(f'{t:.1f} s' for t in times)}; "
                     f"faults just before: {'; '.join(kills + broker) or 'none'}")
        for log in sorted(logs.glob("*.log")):
            for entry in log.read_text(errors="replace").splitlines():
                if work_id in entry:
                    lines.append(f"  {log.stem}: {entry[:200]}")
    return lines


@dataclass
class Tally:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def show(self, label: str, value: object) -> None:
        self.lines.append(f"  {label:58s} {value}")

    def check(self, ok: bool, label: str, value: object) -> None:
        self.show(f"{label} [{'ok' if ok else 'FAIL'}]", value)
        if not ok:
            self.failures.append(label)


def tally(app: Oospath, plan: list[DrivenCase], smtp: SmtpRecorder, dead: int, faults: Faults, logs: Path,
          result: Tally) -> None:
    """Check the cases, the notifications and their evidence, the SMTP messages, the records, the dead letters,
    the incidents and the audit chains; every figure goes to ``result``."""
    with app.uow() as uow:
        s = uow.session
        ids = [c.case_id for c in plan if c.case_id]
        rows = {c.id: c for c in s.scalars(select(CaseRow).where(CaseRow.id.in_(ids)))}
        tally_cases(s, plan, rows, result)
        work = list(s.scalars(select(OutboxMessage).where(OutboxMessage.routing_key.like("work.%"))))
        evidence = tally_notifications(s, work, result)
        tally_smtp(smtp, evidence, faults, logs, result)
        tally_records(s, work, result)
        result.check(dead == 0, "dead-letter queue", f"{dead} message(s)")
        incidents = list(s.scalars(select(Incident).where(Incident.status == "open")))
        result.check(not incidents, "open incidents", len(incidents))
        for incident in incidents[:10]:
            result.show(f"    incident {incident.queue} {incident.routing_key}", incident.error[:100])
        instances = [rows[i].instance_id for i in ids if i in rows]
        broken = {i: chain_intact(s, i) for i in instances}
        broken = {i: b for i, b in broken.items() if b}
        result.show("audit hash chains broken (per instance; not in the exit code)",
                    f"{len(broken)} of {len(instances)} ({sum(map(len, broken.values()))} row(s))")


def tally_cases(s: Session, plan: list[DrivenCase], rows: dict[str, CaseRow], result: Tally) -> None:
    """Every driven case closed, with its outcome per scenario; the open tasks of those that did not."""
    not_closed = [c for c in plan if not c.case_id or rows[c.case_id].status != "closed"]
    outcomes = collections.Counter((c.scenario, rows[c.case_id].outcome) for c in plan if c.case_id)
    result.show("cases driven (authorised / clinical-trial / declined)",
                f"{len(plan)} ({' / '.join(str(sum(c.scenario == k for c in plan)) for k in MIX)})")
    result.show("outcomes per scenario", ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items(), key=str)))
    result.check(not not_closed, "cases closed", f"{len(plan) - len(not_closed)} of {len(plan)}")
    for case in not_closed[:20]:
        open_tasks = [f"{t.element_id}({t.kind},{t.state})" for t in s.scalars(select(TaskRow).where(
            TaskRow.case_id == case.case_id, TaskRow.state.in_(("ready", "waiting"))))]
        result.show(f"    not closed: #{case.number} {case.scenario} {case.case_id}", ", ".join(open_tasks))


def tally_notifications(s: Session, work: list[OutboxMessage], result: Tally) -> list[NotificationRow]:
    """Exactly one delivery evidence row per requested notification task; returns the evidence rows."""
    notify = [m for m in work if m.routing_key == "work.notify"]
    notify_tasks = {m.body["task_id"] for m in notify}
    service = {t.id: t for t in s.scalars(select(TaskRow).where(TaskRow.kind == "service"))}
    evidence = list(s.scalars(select(NotificationRow)))
    per_task = collections.Counter(e.task_id for e in evidence)
    duplicates = sum(n - 1 for n in per_task.values() if n > 1)
    missing = sorted(notify_tasks - set(per_task))
    unrequested = sorted(set(per_task) - notify_tasks)
    result.show("service tasks (tasks.kind = 'service') / completed",
                f"{len(service)} / {sum(t.state == 'completed' for t in service.values())}")
    result.show("notification work messages requested (outbox work.notify)",
                f"{len(notify)} for {len(notify_tasks)} task(s), all service tasks: "
                f"{'yes' if notify_tasks <= set(service) else 'no'}")
    result.check(not duplicates and not missing and not unrequested,
                 "evidence rows exactly once per (case, notification task)",
                 f"{len(evidence)} rows; duplicates {duplicates}, missing {len(missing)}, "
                 f"without a request {len(unrequested)}")
    for task_id in missing[:10]:
        task = service.get(task_id)
        result.show("    missing evidence for task", f"{task_id} {task.element_id if task else '?'} "
                    f"{task.state if task else ''}")
    return evidence


def tally_smtp(smtp: SmtpRecorder, evidence: list[NotificationRow], faults: Faults, logs: Path,
               result: Tally) -> None:
    """Every evidence row's Message-ID reached the SMTP server, and nothing else did; duplicates explained."""
    smtp_ids = list(smtp.message_ids)
    distinct = set(smtp_ids)
    evidence_ids = {e.message_id.strip() for e in evidence}
    result.show("SMTP messages received", len(smtp.messages))
    result.show("distinct Message-IDs received", len(distinct))
    result.show("SMTP duplicates (same Message-ID again)",
                f"{len(smtp_ids) - len(distinct)} (a worker killed between the SMTP send and its commit, "
                "or one work message handled twice at once)")
    for line in explain_duplicates(smtp, faults, logs):
        result.show("   ", line)
    result.check(len(distinct) == len(evidence) and distinct == evidence_ids,
                 "evidence rows == distinct SMTP Message-IDs",
                 f"{len(evidence)} == {len(distinct)}; evidence never received {len(evidence_ids - distinct)}, "
                 f"received without evidence {len(distinct - evidence_ids)}")


def tally_records(s: Session, work: list[OutboxMessage], result: Tally) -> None:
    """Exactly one captured record per work message of the records and reporting workers."""
    records = [m for m in work if m.routing_key != "work.notify"]  # records and reporting workers' work
    kinds = collections.Counter(m.routing_key.removeprefix("work.") for m in records)
    captured = collections.Counter(r.meta.get("work_message_id") for r in s.scalars(select(RecordRow)))
    record_dups = sum(captured[m.message_id] - 1 for m in records if captured[m.message_id] > 1)
    record_missing = sum(1 for m in records if not captured[m.message_id])
    result.check(not record_dups and not record_missing, "records exactly once per other work message",
                 f"{len(records)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
                 f"duplicates {record_dups}, missing {record_missing}")


def tally_faults(result: Tally, faults: Faults, driving: Driving, kills: int, broker_down: float) -> None:
    """The faults performed (kills per process, broker restarts) and how the driving coped with them."""
    result.check(len(faults.kills) >= kills, "kills performed (SIGKILL + restart)", len(faults.kills))
    per_process = collections.Counter(name for _, name, _ in faults.kills)
    result.show("    kills per process", ", ".join(f"{k} {v}" for k, v in sorted(per_process.items())))
    result.check(faults.broker_restarts >= (1 if broker_down > 0 else 0),
                 "broker restarts (stop_app/start_app)",
                 f"{faults.broker_restarts} (down {faults.broker_down_s:.1f} s)")
    result.show("user steps / conflicts retried / database errors retried",
                f"{driving.steps} / {driving.conflicts} / {driving.database_errors}")
    result.show("timers fired", driving.timers_fired)
    for refusal, count in driving.refusals.most_common(5):
        result.show(f"    step refused {count}x", refusal)
