"""The message topology, the same for every transport.

One durable topic exchange carries work (``work.<operation>``), worker results
(``results``), inbound integration events (``inbound.<type>``) and outbound domain
events (``event.<name>``). Each consumer kind has one durable queue. A failed message
goes to ``<queue>.retry`` (it expires there after the retry delay and is dead-lettered
back to its queue) until ``max_attempts``, then to the dead-letter queue with the error
attached, and an incident is opened. All names start with a namespace
(``OOSPATH_AMQP_NAMESPACE``, default ``oospath``) so several installations or test runs
can share one broker.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.settings import Settings

DEFAULT_NAMESPACE = "oospath"
ATTEMPTS_HEADER = "x-oospath-attempts"
ERROR_HEADER = "x-oospath-error"
QUEUE_HEADER = "x-oospath-queue"

# Consumer kind -> routing-key bindings of its queue.
BINDINGS: dict[str, tuple[str, ...]] = {
    "notifications": ("work.notify",),
    "records": ("work.capture_record", "work.prepare_patient_information"),
    "reporting": ("work.report",),
    "results": ("results",),
    "inbound": ("inbound.#",),
}
KINDS = tuple(BINDINGS)


@dataclass(frozen=True)
class Topology:
    namespace: str = DEFAULT_NAMESPACE

    @property
    def exchange(self) -> str:
        return self.namespace

    @property
    def retry_exchange(self) -> str:
        return f"{self.namespace}.retry"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.namespace}.dead"

    def queue(self, kind: str) -> str:
        prefix = "" if kind in ("results", "inbound") else "work."
        return f"{self.namespace}.{prefix}{kind}"

    @classmethod
    def configured(cls, settings: Settings) -> Topology:
        """In the namespace of ``settings.amqp_namespace`` (OOSPATH_AMQP_NAMESPACE), by default ``oospath``."""
        return cls(settings.amqp_namespace or DEFAULT_NAMESPACE)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with a delay, then dead-lettering (OOSPATH_MAX_ATTEMPTS, OOSPATH_RETRY_DELAY_MS)."""

    max_attempts: int = 5
    delay_ms: int = 2000

    @classmethod
    def configured(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.max_attempts, settings.retry_delay_ms)


def must_be_routed(routing_key: str) -> bool:
    """Work, results and inbound messages must reach a queue; events may have no subscriber."""
    return not routing_key.startswith("event.")
