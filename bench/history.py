"""`python -m bench history`: does the cost of a step grow with the instance's past? (issue 10, item 3)

One instance of a looping review (tests/fixtures/engine/looping_review.bpmn: a user task with a boundary
timer, a script task and a gateway that loops back to the user task) is driven through the service layer on
SQLite, one user-task completion per step, each step its own transaction, exactly as the API does it.
For each sample step N (10, 50, 100, 200), ``--instances`` instances are driven to step N-5, then steps
N-4..N+5 of all of them are run round-robin (every sample sees the same machine load) and timed; the figure
for step N is their median. ``growth`` is step 200 / step 10 (goal ≤ 1.5). State bytes, live task tree size
and serialization time are read from the stored state; the raw SpiffWorkflow figures are the same loop in
memory without persistence and without flat history, for comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine.bootstrap import Oospath, bootstrap
from engine.bpmn.loader import load_bundle
from engine.bpmn.safe_expressions import safe_script_engine
from engine.clock import FrozenClock
from engine.services import definitions, instances, tasks
from engine.services.identity import SYSTEM, Actor
from engine.settings import Settings
from engine.store.models import TaskRow

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "engine"
PROCESS = "looping_review"
REVIEWER = Actor("anna.keller", frozenset({"qa"}))
SAMPLES = (10, 50, 100, 200)
WINDOW = 5


def looping_bundle() -> dict[str, bytes]:
    return {name: (FIXTURES / name).read_bytes() for name in ("looping_review.bpmn", "review_round.schema.json")}


def deployed_app(directory: Path, clock: FrozenClock, database_url: str | None) -> Oospath:
    settings = Settings(var_dir=directory, database_url=database_url or f"sqlite:///{directory / 'bench.db'}")
    app = bootstrap(settings, clock)
    with app.uow() as uow:
        definitions.deploy(uow.session, app.runtime, looping_bundle(), SYSTEM)
        uow.commit()
    return app


def start(app: Oospath) -> str:
    with app.uow() as uow:
        instance_id = instances.start_instance(uow.session, app.runtime, PROCESS, {"rounds": 0}, SYSTEM).id
        uow.commit()
    return instance_id


def ready_review(app: Oospath, instance_id: str) -> str:
    with app.uow() as uow:
        return uow.session.scalars(select(TaskRow.id).where(
            TaskRow.instance_id == instance_id, TaskRow.state == "ready")).one()


def state_figures(app: Oospath, instance_id: str) -> tuple[int, int, float]:
    """Stored state bytes, tasks in the live tree (top workflow), and the time to serialize it (best of 5)."""
    with app.uow() as uow:
        loaded = app.runtime.load(uow.session, instance_id)
        state = loaded.row.state
        best = min(_timed(loaded.process.state_json) for _ in range(5))
    return len(state.encode()), len(json.loads(state)["tasks"]), best


def _timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def step(app: Oospath, instance_id: str) -> float:
    """One user-task completion in its own transaction, as the API does it: seconds."""
    task_id = ready_review(app, instance_id)
    started = time.perf_counter()
    with app.uow() as uow:
        tasks.complete_task(uow.session, app.runtime, task_id, {"another_round": True}, REVIEWER)
        uow.commit()
    return time.perf_counter() - started


def interleaved_steps(
    app: Oospath, instances: int
) -> tuple[dict[int, list[float]], dict[int, tuple[int, int, float]]]:
    """Seconds per step around each sample step N, and the state figures at N+WINDOW: for every sample,
    ``instances`` instances are first driven to step N-WINDOW; then the steps N-WINDOW+1..N+WINDOW of all of
    them are run round-robin, so load changes on the machine hit every sample alike."""
    cohorts = {sample: [start(app) for _ in range(instances)] for sample in SAMPLES}
    for sample, ids in cohorts.items():
        for instance_id in ids:
            for _ in range(sample - WINDOW):
                step(app, instance_id)
    timings: dict[int, list[float]] = {sample: [] for sample in SAMPLES}
    for _ in range(2 * WINDOW):
        for index in range(instances):
            for sample, ids in cohorts.items():
                timings[sample].append(step(app, ids[index]))
    return timings, {sample: state_figures(app, ids[0]) for sample, ids in cohorts.items()}


def raw_loop(steps: int) -> list[float]:
    """The same loop in SpiffWorkflow alone, in memory (no persistence): seconds per step."""
    bundle = load_bundle(looping_bundle())
    workflow = BpmnWorkflow(bundle.specs[PROCESS], bundle.subprocess_specs[PROCESS], script_engine=safe_script_engine())
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update({"rounds": 0})
    workflow.do_engine_steps()
    timings = []
    for _ in range(steps):
        started = time.perf_counter()
        task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(another_round=True)
        task.run()
        workflow.do_engine_steps()
        timings.append(time.perf_counter() - started)
    return timings


def at_step(timings: list[float], step: int) -> float:
    """Median of the steps around ``step`` (1-based), in ms."""
    window = timings[max(0, step - 1 - WINDOW):step - 1 + WINDOW]
    return statistics.median(window) * 1000


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench history")
    parser.add_argument("--instances", type=int, default=3, help="instances per sample step")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="oospath-bench-") as directory:
        app = deployed_app(Path(directory), FrozenClock(), args.database_url)
        warm_up = start(app)
        for _ in range(20):  # spec cache, SQLite pages
            step(app, warm_up)
        timings, figures = interleaved_steps(app, args.instances)
        app.db.dispose()
    ours = {sample: statistics.median(values) * 1000 for sample, values in timings.items()}
    raw = [min(column) for column in zip(*(raw_loop(max(SAMPLES) + WINDOW) for _ in range(3)), strict=True)]

    print(f"looping instances: {args.instances} per sample step, steps N-{WINDOW - 1}..N+{WINDOW} of all of them "
          "run round-robin (medians)")
    print("  step   oospath ms/step   state bytes   live tasks   serialize ms   raw SpiffWorkflow ms/step")
    for sample in SAMPLES:
        size, live, serialize = figures[sample]
        print(f"  {sample:4d}   {ours[sample]:15.2f}   {size:11d}   {live:10d}   {serialize * 1000:12.2f}"
              f"   {at_step(raw, sample):25.3f}")
    growth = ours[200] / ours[10]
    raw_growth = at_step(raw, 200) / at_step(raw, 10)
    print(f"  growth step 200 / step 10: oospath {growth:.2f} x (goal <= 1.5), raw SpiffWorkflow {raw_growth:.2f} x")
    print(json.dumps({
        "growth": round(growth, 3), "raw_growth": round(raw_growth, 3),
        **{f"step{sample}_ms": round(ours[sample], 3) for sample in SAMPLES},
        **{f"state_bytes_{sample}": figures[sample][0] for sample in SAMPLES},
        **{f"live_tasks_{sample}": figures[sample][1] for sample in SAMPLES},
        **{f"serialize_ms_{sample}": round(figures[sample][2] * 1000, 3) for sample in SAMPLES},
    }))
