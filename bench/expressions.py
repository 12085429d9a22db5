"""`python -m bench.expressions`: what bounding diagram expressions costs per evaluation.

Three ways to run the pathway's own expressions (the deadline script of oos_case.bpmn, a
gateway condition, a DMN cell) against a realistic task data set:

- *unbounded*: the allow-list check (cached) and ``exec``/``eval`` of the source text, as
  oospath did before expression budgets;
- *bounded in process* (chosen): the cached, rewritten code of
  :mod:`engine.bpmn.bounded_code` run within :func:`evaluation_budget`, plus the
  storable-JSON check of a script's results;
- *worker process*: the same evaluation sent to a child process over a pipe (task data
  pickled both ways), the alternative the issue names; measured for its round trip only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from collections.abc import Callable
from typing import Any

from engine.bpmn.safe_expressions import SAFE_BUILTINS, SafeEnvironment, check_expression

SCRIPT = """sa_clock_started_at = delivered_to_site_at if sa_clock_start == "delivery_to_site" else supplied_at
sa_due_at = add_hours(sa_clock_started_at, sa_deadline_hours)
sa_escalation_at = add_hours(sa_clock_started_at, sa_deadline_hours * sa_escalation_fraction)
nca_clock_started_at = delivered_to_site_at if nca_clock_start == "delivery_to_site" else supplied_at
nca_due_at = add_hours(nca_clock_started_at, nca_deadline_hours)"""
CONDITION = "written_agreement_required == True and agreement_in_force == False"
DMN_CELL = '(product_kind) == ("authorised")'
DATA: dict[str, Any] = {
    "delivered_to_site_at": "2026-03-02T10:00:00+00:00", "supplied_at": "2026-03-01T09:00:00+00:00",
    "sa_clock_start": "supply", "nca_clock_start": "delivery_to_site", "sa_deadline_hours": 48,
    "sa_escalation_fraction": 0.75, "nca_deadline_hours": 72, "written_agreement_required": True,
    "agreement_in_force": True, "product_kind": "authorised",
    "responsibilities": {f"duty_{n}": {"role": "qa", "party": "site"} for n in range(20)},
    **{f"field_{n}": f"value {n}" for n in range(60)},
}


def _unbounded_execute(script: str, data: dict[str, Any]) -> None:
    check_expression(script, "exec")
    namespace = {**data, "__builtins__": SAFE_BUILTINS}
    exec(script, namespace)


def _unbounded_evaluate(expression: str, data: dict[str, Any]) -> Any:
    check_expression(expression, "eval")
    return eval(expression, {**data, "__builtins__": SAFE_BUILTINS})


def _child(connection: Any) -> None:
    environment = SafeEnvironment()
    while (request := connection.recv()) is not None:
        expression, data = request
        connection.send(environment.evaluate(expression, data))


def _median_us(action: Callable[[], Any], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.expressions")
    parser.add_argument("--rounds", type=int, default=2000)
    rounds = parser.parse_args(argv).rounds
    environment = SafeEnvironment()
    rows = {
        "deadline script (5 statements)": (
            lambda: _unbounded_execute(SCRIPT, dict(DATA)), lambda: environment.execute(SCRIPT, dict(DATA))),
        "gateway condition": (
            lambda: _unbounded_evaluate(CONDITION, DATA), lambda: environment.evaluate(CONDITION, DATA)),
        "DMN input cell": (
            lambda: _unbounded_evaluate(DMN_CELL, DATA), lambda: environment.evaluate(DMN_CELL, DATA)),
    }
    parent, child = multiprocessing.Pipe()
    worker = multiprocessing.get_context("spawn").Process(target=_child, args=(child,), daemon=True)
    worker.start()

    def round_trip() -> Any:
        parent.send((CONDITION, DATA))
        return parent.recv()

    round_trip()  # warm the child
    print(f"median µs per evaluation over {rounds} rounds")
    print(f"{'expression':34} {'unbounded':>10} {'bounded':>10} {'ratio':>7}")
    for name, (before, after) in rows.items():
        old, new = _median_us(before, rounds), _median_us(after, rounds)
        print(f"{name:34} {old:10.1f} {new:10.1f} {new / old:7.2f}")
    print(f"{'worker process round trip':34} {'':>10} {_median_us(round_trip, rounds):10.1f}")
    parent.send(None)
    worker.join(timeout=5)


if __name__ == "__main__":
    main()
