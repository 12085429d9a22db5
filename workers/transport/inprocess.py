"""In-process transport: the embedded default, so `oospath demo` needs no broker.

Same contract as RabbitMQ (tests/integration/test_transport_contract.py runs against
both): topic routing, confirmed publishing that refuses unroutable work, ack after
the handler returns, bounded retries, dead-lettering with the error and the
``on_dead_letter`` callback. The retry delay is not waited for: nothing else runs.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Sequence

from workers.transport.base import (
    DeadLetter,
    DeadLetterHandler,
    Handler,
    Message,
    PublishError,
    RejectMessage,
    RetryHandler,
)
from workers.transport.topology import ATTEMPTS_HEADER, BINDINGS, RetryPolicy, must_be_routed

log = logging.getLogger(__name__)


def binding_pattern(binding: str) -> re.Pattern[str]:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` is zero or more words."""
    regex = ""
    for index, word in enumerate(binding.split(".")):
        if word == "#":
            regex += r"(?:\.[^.]+)*" if index else r"(?:[^.]+(?:\.[^.]+)*)?"
        else:
            regex += (r"\." if index else "") + (r"[^.]+" if word == "*" else re.escape(word))
    return re.compile(regex + "$")


class InProcessTransport:
    def __init__(self, retry: RetryPolicy | None = None, on_dead_letter: DeadLetterHandler | None = None,
                 on_retry: RetryHandler | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self.on_dead_letter = on_dead_letter
        self.on_retry = on_retry
        self._bindings: dict[str, list[re.Pattern[str]]] = {}
        self._queues: dict[str, deque[Message]] = {}
        self._dead: list[DeadLetter] = []

    def declare(self) -> None:
        for kind, bindings in BINDINGS.items():
            self._queues.setdefault(kind, deque())
            self._bindings[kind] = [binding_pattern(b) for b in bindings]

    def publish_batch(self, messages: Sequence[Message]) -> None:
        routed: list[tuple[str, Message]] = []
        for message in messages:
            queues = [name for name, patterns in self._bindings.items()
                      if any(p.match(message.routing_key) for p in patterns)]
            if not queues and must_be_routed(message.routing_key):
                raise PublishError(f"no queue is bound for routing key '{message.routing_key}'")
            routed.extend((queue, message) for queue in queues)
        for queue, message in routed:  # all or nothing, like a confirmed batch
            self._queues[queue].append(message)

    def consume(
        self, kind: str, handler: Handler, *, idle_timeout: float | None = None, max_messages: int | None = None
    ) -> int:
        queue = kind
        pending = self._queues[queue]
        handled = 0
        while pending and (max_messages is None or handled < max_messages):
            message = pending.popleft()
            handled += 1
            try:
                handler(message)
            except Exception as exc:  # the handler failed: retry, then dead-letter
                log.warning("handler of %s failed on %s: %r", queue, message.message_id, exc)
                self._retry_or_dead_letter(queue, message, exc)
        return handled

    def _retry_or_dead_letter(self, queue: str, message: Message, exc: Exception) -> None:
        attempts = int(message.headers.get(ATTEMPTS_HEADER, 1))
        if attempts < self.retry.max_attempts and not isinstance(exc, RejectMessage):
            headers = {**message.headers, ATTEMPTS_HEADER: attempts + 1}
            self._queues[queue].append(Message(message.message_id, message.routing_key, message.body, headers))
            if self.on_retry:
                self.on_retry(queue)
            return
        dead = DeadLetter(message, queue, f"{type(exc).__name__}: {exc}", attempts)
        self._dead.append(dead)
        if self.on_dead_letter:
            self.on_dead_letter(dead)

    def dead_letters(self) -> list[DeadLetter]:
        return list(self._dead)

    def close(self) -> None:
        return None
