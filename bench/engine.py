"""Median time per complete OOS case: oospath's service layer on SQLite vs raw SpiffWorkflow in memory.

Both drive the same BPMN (processes/oos_case.bpmn) with the same scripted inputs
(oospath.scenarios). The oospath figure includes everything a real case costs:
case opening, OOS detection, persistence after every step, task projection, outbox,
in-process relay and workers (.eml files, record capture), audit rows.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import pstats
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bootstrap import Oospath, bootstrap
from engine.bpmn.loader import load_bundle
from engine.bpmn.safe_expressions import safe_script_engine
from engine.clock import FrozenClock
from engine.domain import catalogue
from engine.services import accounts, catalog, definitions
from engine.settings import Settings
from oospath.demo import ADMIN, deploy_processes, put_agreement_in_force, run_scenario, seed_catalogue
from oospath.scenarios import SCENARIOS, form_data
from workers.embedded import EmbeddedMessaging

CASE_DATA = {
    "case_id": "bench", "case_reference": "OOS-BENCH", "batch_id": "B", "product_code": catalogue.CART19_AUTH,
    "product_kind": "authorised", "parties_same_legal_entity": False, "imported": True,
    "treating_country": "DE", "nca_notification_required": False, "nca_confirmation_needed": False,
    "agreement_in_force": True, "responsibilities": {}, "exceptional_use_reason": "bench",
    "oos_findings": [{"attribute": "viability", "measured": "74.0 %", "limit": "≥ 80 %"}],
}


def raw_case(spec: Any, subprocess_specs: Any, clock: FrozenClock) -> None:
    """The pathway driven by SpiffWorkflow alone: no persistence, workers answered inline."""
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=safe_script_engine())
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(CASE_DATA)
    workflow.do_engine_steps()
    while not workflow.is_completed():
        for task in workflow.get_tasks(state=TaskState.STARTED):
            task.data[task.task_spec.result_variable] = {"delivered": True}
            task.complete()
        workflow.do_engine_steps()
        for task in workflow.get_tasks(state=TaskState.READY, manual=True)[:1]:
            task.set_data(**form_data(task.task_spec.bpmn_id, "authorised", clock.now(), task.data))
            task.run()
            workflow.do_engine_steps()


def oospath_app(directory: Path, clock: FrozenClock) -> Oospath:
    settings = Settings(var_dir=directory, database_url=f"sqlite:///{directory / 'bench.db'}")
    app = bootstrap(settings, clock)
    deploy_processes(app)
    seed_catalogue(app)
    put_agreement_in_force(app, EmbeddedMessaging(app).pump)
    return app


BATCH_NUMBERS = itertools.count(1)
USER_TASKS: set[int] = set()


def add_oos_batch(app: Oospath) -> str:
    """A fresh copy of the viability-OOS batch, so every case opens on its own batch."""
    batch = replace(catalogue.sample_batch(catalogue.BATCH_VIABILITY_OOS),
                    batch_id=f"BENCH-{next(BATCH_NUMBERS):05d}")
    with app.uow() as uow:
        catalog.register_batch(uow.session, app.clock, batch, ADMIN)
        uow.commit()
    return batch.batch_id


class TimedPasswordChecks:
    """The Argon2 hasher of accounts, counting the time spent verifying passwords (each signature, OOS-24)."""

    def __init__(self, hasher: Any) -> None:
        self.hasher, self.seconds = hasher, 0.0

    def verify(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.hasher.verify(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self.hasher, name)


PASSWORD_CHECKS = TimedPasswordChecks(accounts.HASHER)
accounts.HASHER = PASSWORD_CHECKS  # measured, not changed: every signature still re-verifies its password


def time_oospath_cases(app: Oospath, cases: int, profile: cProfile.Profile | None
                       ) -> tuple[list[float], list[float]]:
    """Each case's time, and the part of it spent verifying signatures' passwords."""
    messaging = EmbeddedMessaging(app)
    clock = app.clock
    assert isinstance(clock, FrozenClock)
    timings, signing = [], []
    for _ in range(cases):
        batch_id = add_oos_batch(app)
        SCENARIOS["bench"] = batch_id
        checked = PASSWORD_CHECKS.seconds
        started = time.perf_counter()
        if profile:
            profile.enable()
        result = run_scenario(app, messaging.pump, "bench", clock.advance)
        if profile:
            profile.disable()
        timings.append(time.perf_counter() - started)
        signing.append(PASSWORD_CHECKS.seconds - checked)
        assert result.case.status == "closed", result.case.status
        USER_TASKS.add(result.steps)
    return timings, signing


def where_the_time_goes(profile: cProfile.Profile, total: float) -> list[tuple[str, float]]:
    stats = pstats.Stats(profile)
    buckets = {
        "SpiffWorkflow engine steps": ("workflow.py", "do_engine_steps"),
        "instance serialize (state -> JSON)": ("serializer.py", "state_to_json"),
        "instance deserialize (JSON -> workflow)": ("serializer.py", "state_from_json"),
        "database commit": ("uow.py", "commit"),
        "audit trail (hash chain)": ("audit.py", "append"),
        "audit rows inserted (one statement a flush)": ("audit.py", "insert_pending"),
        "signature passwords (Argon2id)": ("bench/engine.py", "verify"),
        "outbox relay": ("relay.py", "relay_pending"),
        "workers (render, deliver, evidence)": ("base.py", "handle"),
        "form validation (JSON Schema)": ("validation.py", "validate_against"),
        "SQLite statements (driver execute)": ("~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
        "SQLite commits (fsync)": ("~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    }
    figures = []
    for label, (filename, function) in buckets.items():
        cumulative = sum(
            value[3] for (path, _, name), value in stats.stats.items()  # type: ignore[attr-defined]
            if path.endswith(filename) and name == function
        )
        figures.append((label, cumulative / total))
    return figures


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench engine")
    parser.add_argument("--cases", type=int, default=30)
    args = parser.parse_args(argv)
    clock = FrozenClock()

    bundle = load_bundle(definitions.bundle_from_directory(Path("processes")))
    spec, subprocess_specs = bundle.specs["oos_case"], bundle.subprocess_specs["oos_case"]
    raw: list[float] = []
    ours: list[float] = []
    signing: list[float] = []
    with tempfile.TemporaryDirectory(prefix="oospath-bench-") as directory:
        app = oospath_app(Path(directory), clock)
        time_oospath_cases(app, 3, None)  # warm-up: spec cache, SQLite pages
        for _ in range(args.cases):  # interleaved: a change of the machine's load hits both alike
            started = time.perf_counter()
            raw_case(spec, subprocess_specs, clock)
            raw.append(time.perf_counter() - started)
            case, signed = time_oospath_cases(app, 1, None)
            ours += case
            signing += signed
        profile = cProfile.Profile()
        profiled, _ = time_oospath_cases(app, max(5, args.cases // 3), profile)
        app.db.dispose()

    raw_median, our_median = statistics.median(raw), statistics.median(ours)
    unsigned_median = statistics.median(case - signed for case, signed in zip(ours, signing, strict=True))
    tasks_per_case = "/".join(str(n) for n in sorted(USER_TASKS))
    print(f"complete authorised OOS case ({args.cases} cases, medians; user tasks per case: {tasks_per_case})")
    print(f"  oospath service layer, SQLite : {our_median * 1000:8.1f} ms/case")
    print(f"    of which signature passwords: {statistics.median(signing) * 1000:8.1f} ms/case (Argon2id, OOS-24)")
    print(f"    the rest                    : {unsigned_median * 1000:8.1f} ms/case")
    print(f"  raw SpiffWorkflow, in memory  : {raw_median * 1000:8.1f} ms/case")
    print(f"  ratio oospath / raw           : {our_median / raw_median:8.1f} x")
    print(f"  ratio without signatures      : {unsigned_median / raw_median:8.1f} x")
    print(f"  oospath p90                   : {statistics.quantiles(ours, n=10)[-1] * 1000:8.1f} ms/case")
    print("where the oospath time goes (share of profiled case time, cumulative, overlapping):")
    for label, share in where_the_time_goes(profile, sum(profiled)):
        print(f"  {label:42s} {share * 100:5.1f} %")
    print(json.dumps({
        "oospath_ms": round(our_median * 1000, 1), "raw_ms": round(raw_median * 1000, 2),
        "signature_ms": round(statistics.median(signing) * 1000, 1), "ratio": round(our_median / raw_median, 2),
        "ratio_without_signatures": round(unsigned_median / raw_median, 2), "cases": args.cases,
    }))
