"""The messaging interface between the engine's outbox and the workers.

Routing keys: ``work.<operation>`` (engine -> worker), ``results`` (worker -> engine),
``event.<name>`` (domain events for subscribers). A transport publishes with
confirmation (``publish_batch`` returns only when the broker has every message) and
delivers each message to a handler; the message is acknowledged only after the
handler returns, so a crash means redelivery, never loss.
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


Handler = Callable[[Message], None]


class Transport(Protocol):
    def publish_batch(self, messages: Sequence[Message]) -> None:
        """Publish and wait for the broker's confirmation of all of them."""

    def subscribe(self, queue: str, binding: str, handler: Handler) -> None:
        """Deliver messages whose routing key matches ``binding`` to ``handler`` (one queue per worker kind)."""

    def run_until_idle(self) -> int:
        """Deliver what is queued; returns the number of messages handled (embedded use)."""
