"""In-process transport: the embedded default, so `oospath demo` needs no broker.

Same semantics as the broker where it matters: per-queue FIFO, topic bindings with
``*``/``#`` wildcards, ack after the handler returns (a handler exception puts the
message back and counts the attempt), and dead-lettering after ``max_attempts``.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from workers.transport.base import Handler, Message

log = logging.getLogger(__name__)


def binding_pattern(binding: str) -> re.Pattern[str]:
    """AMQP topic matching: ``*`` is one word, ``#`` is zero or more words."""
    parts = [
        r"[^.]+" if word == "*" else r".*" if word == "#" else re.escape(word) for word in binding.split(".")
    ]
    return re.compile(r"\.".join(parts).replace(r".*\.", r"(?:.*\.)?") + "$")


@dataclass
class _Queue:
    pattern: re.Pattern[str]
    handler: Handler
    messages: deque[tuple[Message, int]] = field(default_factory=deque)


class InProcessTransport:
    def __init__(self, max_attempts: int = 5) -> None:
        self.max_attempts = max_attempts
        self._queues: dict[str, _Queue] = {}
        self.dead_letters: list[tuple[Message, str]] = []

    def subscribe(self, queue: str, binding: str, handler: Handler) -> None:
        self._queues[queue] = _Queue(binding_pattern(binding), handler)

    def publish_batch(self, messages: Sequence[Message]) -> None:
        for message in messages:
            for queue in self._queues.values():
                if queue.pattern.match(message.routing_key):
                    queue.messages.append((message, 0))

    def run_until_idle(self) -> int:
        handled = 0
        progressed = True
        while progressed:
            progressed = False
            for queue in self._queues.values():
                if not queue.messages:
                    continue
                message, attempts = queue.messages.popleft()
                progressed = True
                handled += 1
                try:
                    queue.handler(message)
                except Exception as exc:  # the handler failed: nack and retry, then dead-letter
                    log.exception("handler failed for %s", message.message_id)
                    if attempts + 1 >= self.max_attempts:
                        self.dead_letters.append((message, repr(exc)))
                    else:
                        queue.messages.append((message, attempts + 1))
        return handled
