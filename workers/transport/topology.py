"""The message topology, the same for every transport.

One durable topic exchange ``oospath`` carries work (``work.<operation>``), worker
results (``results``), inbound integration events (``inbound.<type>``) and outbound
domain events (``event.<name>``). Each consumer kind has one durable queue. A failed
message goes to ``<queue>.retry`` (a TTL queue that dead-letters back to the queue
after the retry delay) until ``max_attempts``, then to the dead-letter queue
``oospath.dead`` with the error attached, and an incident is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

EXCHANGE = "oospath"
RETRY_EXCHANGE = "oospath.retry"
DEAD_LETTER_EXCHANGE = "oospath.dlx"
DEAD_LETTER_QUEUE = "oospath.dead"

ATTEMPTS_HEADER = "x-oospath-attempts"
ERROR_HEADER = "x-oospath-error"
QUEUE_HEADER = "x-oospath-queue"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[str, ...]


QUEUES: dict[str, QueueSpec] = {
    "notifications": QueueSpec("oospath.work.notifications", ("work.notify",)),
    "records": QueueSpec("oospath.work.records", ("work.capture_record",)),
    "reporting": QueueSpec("oospath.work.reporting", ("work.report",)),
    "results": QueueSpec("oospath.results", ("results",)),
    "inbound": QueueSpec("oospath.inbound", ("inbound.#",)),
}


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with a delay, then dead-lettering (configurable by environment)."""

    max_attempts: int = 5
    delay_ms: int = 2000

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(int(os.environ.get("OOSPATH_MAX_ATTEMPTS", "5")),
                   int(os.environ.get("OOSPATH_RETRY_DELAY_MS", "2000")))


def must_be_routed(routing_key: str) -> bool:
    """Work, results and inbound messages must reach a queue; events may have no subscriber."""
    return not routing_key.startswith("event.")
