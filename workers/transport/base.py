"""The messaging interface between the engine's outbox and the workers.

A transport publishes with confirmation (``publish_batch`` returns only when the
broker has every message), and ``consume`` hands each message of a queue to a
handler, acknowledging it only after the handler returns: a crash means
redelivery, never loss. A handler that raises is retried with a delay up to the
retry policy's attempts, then dead-lettered with its error, and ``on_dead_letter``
is called so the failure becomes a visible incident.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

RESULTS = "results"


@dataclass(frozen=True)
class Message:
    message_id: str
    routing_key: str
    body: dict[str, Any]
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    queue: str  # the consumer kind whose queue gave up on it
    error: str
    attempts: int


Handler = Callable[[Message], None]
DeadLetterHandler = Callable[[DeadLetter], None]
#: Called with the consumer kind when a failed message is queued for another attempt.
RetryHandler = Callable[[str], None]


class RejectMessage(Exception):
    """The message can never succeed (e.g. it fails its schema): dead-letter it at once, no retries."""


class PublishError(RuntimeError):
    """The broker refused (nack), could not route, or did not confirm in time: nothing is marked sent."""


class Transport(Protocol):
    def declare(self) -> None:
        """Declare the exchanges and queues of the topology (idempotent)."""

    def publish_batch(self, messages: Sequence[Message]) -> None:
        """Publish and wait for the broker's confirmation of all of them; PublishError otherwise."""

    def consume(
        self, kind: str, handler: Handler, *, idle_timeout: float | None = None, max_messages: int | None = None
    ) -> int:
        """Handle messages of the queue of ``kind``; return the count when idle for ``idle_timeout`` s
        (None: run forever)."""

    def dead_letters(self) -> list[DeadLetter]:
        """What is in the dead-letter queue (without removing it)."""

    def close(self) -> None: ...
