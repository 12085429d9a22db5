"""In-process instruments of the engine and the workers: step latency, message retries, dead letters.

Figures counted from the database at scrape time (open cases, tasks, outbox, incidents,
deadlines) live in :mod:`engine.services.metrics`; these are the ones only the process that
does the work can see. Each container (``Runtime``) holds its own instruments, registered in no
global registry, so several applications in one process (tests) keep separate figures.

Per process: with several API processes (gunicorn workers), a relay, worker and scheduler
processes, each counts what it did itself. When ``PROMETHEUS_MULTIPROC_DIR`` is set (before the
process starts, one shared, emptied directory per host) prometheus_client's multiprocess mode
writes every process's values there and ``/metrics`` sums them; otherwise ``/metrics`` shows the
serving process's own figures (embedded messaging: every step is done by it).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Histogram

from engine.logging_setup import log_context

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

#: The engine steps whose latency is measured (the ``operation`` label).
STEP_OPERATIONS = ("start_instance", "complete_task", "complete_worker_task", "fire_timer")
#: The consumer queues whose retries and dead letters are counted (the ``queue`` label).
QUEUES = ("notifications", "records", "reporting", "results", "inbound")
#: Seconds: a step is a database transaction with one engine run; 10 s is far beyond any normal step.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Instruments:
    """The step latency histogram and the retry and dead-letter counters of one container."""

    def __init__(self) -> None:
        self.step_seconds = Histogram(
            "oospath_step_duration_seconds", "Duration of one engine step (a task completed, a timer fired, ...)",
            ["operation"], buckets=STEP_BUCKETS, registry=None)
        self.message_retries = Counter(
            "oospath_message_retries", "Messages whose handler failed and that were queued for another attempt",
            ["queue"], registry=None)
        self.dead_letters = Counter(
            "oospath_dead_letters", "Messages given up after their attempts (each becomes an incident)",
            ["queue"], registry=None)
        for operation in STEP_OPERATIONS:
            self.step_seconds.labels(operation=operation)
        for queue in QUEUES:
            self.message_retries.labels(queue=queue)
            self.dead_letters.labels(queue=queue)

    def collectors(self) -> tuple[Any, ...]:
        return self.step_seconds, self.message_retries, self.dead_letters

    def retried(self, queue: str) -> None:
        self.message_retries.labels(queue=_queue_label(queue)).inc()

    def dead_lettered(self, queue: str) -> None:
        self.dead_letters.labels(queue=_queue_label(queue)).inc()


def _queue_label(queue: str) -> str:
    return queue if queue in QUEUES else "other"


def timed_step(operation: str) -> Callable[[F], F]:
    """Measure a step of the engine (a service function taking ``runtime``, or a ``Runtime`` method) and give
    its log lines the ids of the task or timer it works on; the runtime adds the instance and case ids."""
    if operation not in STEP_OPERATIONS:
        raise ValueError(f"unknown step operation {operation!r}")

    def decorate(step: F) -> F:
        signature = inspect.signature(step)

        @functools.wraps(step)
        def measured(*args: Any, **kwargs: Any) -> Any:
            given = signature.bind_partial(*args, **kwargs).arguments
            runtime = given.get("runtime", given.get("self"))
            ids = {"task_id": given.get("task_id") or given.get("timer_id")}
            started = time.perf_counter()
            with log_context(**ids):
                result = step(*args, **kwargs)
                seconds = time.perf_counter() - started
                log.info("%s step done in %.3f s", operation, seconds)  # with the instance and case ids
            instruments = getattr(runtime, "instruments", None)
            if instruments is not None:
                instruments.step_seconds.labels(operation=operation).observe(seconds)
            return result

        return measured  # type: ignore[return-value]

    return decorate
