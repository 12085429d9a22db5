"""Embedded messaging: relay, workers and the result consumer in one process (demo, tests, API default)."""

from __future__ import annotations

from engine.bootstrap import Oospath
from workers.base import Worker
from workers.engine_results import ResultConsumer
from workers.notifications import NotificationWorker
from workers.records import RecordsWorker
from workers.relay import relay_pending
from workers.transport.base import RESULTS
from workers.transport.inprocess import InProcessTransport


class EmbeddedMessaging:
    def __init__(self, app: Oospath, transport: InProcessTransport | None = None) -> None:
        self.app = app
        self.transport = transport or InProcessTransport()
        self.workers: list[Worker] = [NotificationWorker(app, self.transport), RecordsWorker(app, self.transport)]
        for worker in self.workers:
            for binding in worker.bindings():
                self.transport.subscribe(f"{worker.queue}:{binding}", binding, worker.handle)
        results = ResultConsumer(app)
        self.transport.subscribe(results.queue, RESULTS, results.handle)

    def pump(self) -> int:
        """Relay and deliver until nothing moves; returns the number of messages handled."""
        total = 0
        while True:
            relayed = relay_pending(self.app, self.transport)
            handled = self.transport.run_until_idle()
            total += handled
            if not relayed and not handled:
                return total
