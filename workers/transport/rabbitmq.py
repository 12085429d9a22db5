"""RabbitMQ transport (pika): durable topology, batched publisher confirms, manual acks,
bounded delayed retries, dead-lettering, reconnection with back-off.

Publishing uses pika's asynchronous ``SelectConnection`` so a whole batch is sent and
then its confirmations awaited together (one round trip per batch, not per message).
Consuming uses a ``BlockingConnection`` with a prefetch window and acknowledges each
message only after its handler returned, i.e. after the handler's effects committed.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPChannelError, AMQPConnectionError, ChannelClosed, ConnectionClosed
from pika.spec import Basic, BasicProperties

from engine.settings import Settings
from workers.transport.base import (
    DeadLetter,
    DeadLetterHandler,
    Handler,
    Message,
    PublishError,
    RejectMessage,
    RetryHandler,
)
from workers.transport.topology import (
    ATTEMPTS_HEADER,
    BINDINGS,
    ERROR_HEADER,
    QUEUE_HEADER,
    RetryPolicy,
    Topology,
    must_be_routed,
)

log = logging.getLogger(__name__)

RECOVERABLE = (AMQPConnectionError, ConnectionClosed, ChannelClosed, AMQPChannelError, OSError)


def amqp_url() -> str:
    """The broker's URL, ``Settings.amqp_url`` (OOSPATH_AMQP_URL) as configured now."""
    return Settings().amqp_url


def properties(message: Message) -> BasicProperties:
    return BasicProperties(message_id=message.message_id, delivery_mode=2, content_type="application/json",
                           type=message.routing_key, headers=dict(message.headers) or None)


def encode(message: Message) -> bytes:
    return json.dumps(message.body, separators=(",", ":")).encode()


def decode(method: Basic.Deliver, props: BasicProperties, body: bytes) -> Message:
    """The original routing key travels in ``type``: a retried message comes back under its queue's name."""
    routing_key = props.type or method.routing_key
    return Message(props.message_id or "", routing_key, json.loads(body), dict(props.headers or {}))


class BatchPublisher:
    """Publishes a batch on a confirm-mode channel and waits for all its confirmations."""

    def __init__(self, url: str, exchange: str, timeout: float = 30.0) -> None:
        self.parameters = pika.URLParameters(url)
        self.exchange = exchange
        self.timeout = timeout
        self._connection: pika.SelectConnection | None = None
        self._channel: Any = None
        self._next_tag = 1
        self._outstanding: set[int] = set()
        self._failures: list[str] = []
        self._open_error: str | None = None
        self._expired = False

    # ---- connection lifecycle, driven by the I/O loop -----------------------------------------
    def _connect(self) -> None:
        self._open_error = None
        self._channel = None
        self._connection = pika.SelectConnection(
            self.parameters, on_open_callback=self._on_open, on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_connection_closed)
        self._run_until(lambda: self._channel is not None or self._open_error is not None)
        if self._open_error is not None:
            raise PublishError(f"cannot connect to the broker: {self._open_error}")

    def _on_open(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, _connection: Any, error: Exception) -> None:
        self._open_error = repr(error)
        self._stop()

    def _on_connection_closed(self, _connection: Any, reason: Exception) -> None:
        if self._outstanding:
            self._failures.append(f"connection closed before confirmation: {reason!r}")
        self._open_error = self._open_error or repr(reason)
        self._channel = None
        self._stop()

    def _on_channel_open(self, channel: Any) -> None:
        channel.add_on_return_callback(self._on_return)
        channel.add_on_close_callback(lambda _ch, reason: self._on_connection_closed(None, reason))
        self._next_tag = 1
        channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._ready(channel))

    def _ready(self, channel: Any) -> None:
        self._channel = channel
        self._stop()

    def _on_return(self, _channel: Any, method: Any, props: BasicProperties, _body: bytes) -> None:
        self._failures.append(f"message {props.message_id} to '{method.routing_key}' was not routed to any queue")

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tags = {t for t in self._outstanding if t <= method.delivery_tag} if method.multiple else {method.delivery_tag}
        self._outstanding -= tags
        if isinstance(method, Basic.Nack):
            self._failures.append(f"broker refused {len(tags)} message(s) (nack)")
        if not self._outstanding:
            self._stop()

    def _stop(self) -> None:
        if self._connection is not None:
            self._connection.ioloop.stop()

    def _run_until(self, done: Callable[[], bool]) -> None:
        """Run the I/O loop until ``done()`` or the timeout; callbacks stop the loop to re-check."""
        assert self._connection is not None
        self._expired = False

        def expire() -> None:
            self._expired = True
            self._stop()

        timer = self._connection.ioloop.call_later(self.timeout, expire)
        while not done() and not self._expired:
            self._connection.ioloop.start()
        self._connection.ioloop.remove_timeout(timer)

    # ---- public -------------------------------------------------------------------------------
    def publish_batch(self, messages: Sequence[Message]) -> None:
        """Publish and await every confirmation; a connection that went stale while idle (no heartbeats
        run between batches) is replaced once and the batch sent again (consumers are idempotent)."""
        try:
            self._publish_once(messages)
        except PublishError as exc:
            if "connection closed" not in str(exc) and "cannot connect" not in str(exc):
                raise
            log.info("publisher connection was stale (%s); reconnecting once", exc)
            self._publish_once(messages)

    def _publish_once(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        if self._channel is None or self._connection is None or not self._connection.is_open:
            self._connect()
        self._failures = []
        for message in messages:
            self._channel.basic_publish(self.exchange, message.routing_key, encode(message), properties(message),
                                        mandatory=must_be_routed(message.routing_key))
            self._outstanding.add(self._next_tag)
            self._next_tag += 1
        self._run_until(lambda: not self._outstanding or self._channel is None)
        if self._outstanding or self._failures:
            unconfirmed = len(self._outstanding)
            self._outstanding.clear()
            self.close()
            raise PublishError("; ".join(self._failures) or f"{unconfirmed} message(s) not confirmed in time")

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
            self._connection.ioloop.start()
        self._connection = None
        self._channel = None


def declare_topology(channel: BlockingChannel, topology: Topology, queue_type: str) -> None:
    """Exchanges, queues, retry queues and the dead-letter queue; idempotent."""
    arguments = {"x-queue-type": queue_type}
    channel.exchange_declare(topology.exchange, "topic", durable=True)
    channel.exchange_declare(topology.retry_exchange, "direct", durable=True)
    channel.exchange_declare(topology.dead_letter_exchange, "fanout", durable=True)
    channel.queue_declare(topology.dead_letter_queue, durable=True, arguments=arguments)
    channel.queue_bind(topology.dead_letter_queue, topology.dead_letter_exchange)
    for kind, bindings in BINDINGS.items():
        queue = topology.queue(kind)
        channel.queue_declare(queue, durable=True,
                              arguments={**arguments, "x-dead-letter-exchange": topology.dead_letter_exchange})
        for binding in bindings:
            channel.queue_bind(queue, topology.exchange, routing_key=binding)
        # The delay is a per-message expiration (set when retrying), so changing it needs no re-declaration.
        channel.queue_declare(f"{queue}.retry", durable=True, arguments={
            **arguments, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue})
        channel.queue_bind(f"{queue}.retry", topology.retry_exchange, routing_key=queue)


class RabbitMqTransport:
    """What is not given is configured by ``settings`` (the container's), or without them by ``Settings()``."""

    def __init__(
        self, url: str | None = None, *, retry: RetryPolicy | None = None, prefetch: int | None = None,
        on_dead_letter: DeadLetterHandler | None = None, topology: Topology | None = None,
        queue_type: str | None = None, on_retry: RetryHandler | None = None, settings: Settings | None = None,
    ) -> None:
        settings = settings or Settings()
        self.url = url or settings.amqp_url
        self.topology = topology or Topology.configured(settings)
        self.queue_type = queue_type or settings.amqp_queue_type
        self.retry = retry or RetryPolicy.configured(settings)
        self.prefetch = prefetch or settings.amqp_prefetch
        self.on_dead_letter = on_dead_letter
        self.on_retry = on_retry
        self.publisher = BatchPublisher(self.url, self.topology.exchange)
        self._declared_for_publishing = False
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _open(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self._connection = pika.BlockingConnection(pika.URLParameters(self.url))
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            declare_topology(self._channel, self.topology, self.queue_type)
            self._channel.basic_qos(prefetch_count=self.prefetch)
        return self._channel

    def declare(self) -> None:
        self._open()

    def publish_batch(self, messages: Sequence[Message]) -> None:
        """Publish with confirmation. The first publish declares the topology it publishes into (on a fresh
        broker nothing exists until then), and so does the first after a failure (the broker may be new)."""
        if not self._declared_for_publishing:
            self._declare_for_publishing()
        try:
            self.publisher.publish_batch(messages)
        except PublishError:
            self._declared_for_publishing = False
            raise

    def _declare_for_publishing(self) -> None:
        """Declare on a short-lived connection (a publisher keeps no idle blocking connection open)."""
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
            try:
                declare_topology(connection.channel(), self.topology, self.queue_type)
            finally:
                connection.close()
        except RECOVERABLE as exc:
            raise PublishError(f"cannot declare the exchanges and queues on the broker: {exc!r}") from exc
        self._declared_for_publishing = True

    def consume(
        self, kind: str, handler: Handler, *, idle_timeout: float | None = None, max_messages: int | None = None
    ) -> int:
        """Consume with reconnection and exponential back-off (0.5 s doubling to 30 s, with jitter)."""
        handled, backoff = 0, 0.5
        while max_messages is None or handled < max_messages:
            try:
                handled += self._consume_once(kind, handler, idle_timeout, None if max_messages is None
                                              else max_messages - handled)
                return handled
            except RECOVERABLE as exc:
                log.warning("broker connection lost while consuming %s (%r); reconnecting in %.1f s",
                            kind, exc, backoff)
                self._channel = None
                time.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, 30.0)
        return handled

    def _consume_once(self, kind: str, handler: Handler, idle_timeout: float | None, limit: int | None) -> int:
        channel = self._open()
        handled = 0
        for method, props, body in channel.consume(self.topology.queue(kind), inactivity_timeout=idle_timeout or 1.0):
            if method is None:
                if idle_timeout is not None:
                    break
                continue
            message = decode(method, props, body)
            try:
                handler(message)
            except Exception as exc:  # retry with delay, then dead-letter; never lose it
                log.warning("handler of %s failed on %s: %r", kind, message.message_id, exc)
                self._retry_or_dead_letter(channel, kind, message, exc)
            channel.basic_ack(method.delivery_tag)
            handled += 1
            if limit is not None and handled >= limit:
                break
        channel.cancel()
        return handled

    def _retry_or_dead_letter(self, channel: BlockingChannel, kind: str, message: Message, exc: Exception) -> None:
        attempts = int(message.headers.get(ATTEMPTS_HEADER, 1))
        if attempts < self.retry.max_attempts and not isinstance(exc, RejectMessage):
            copy = Message(message.message_id, message.routing_key, message.body,
                           {**message.headers, ATTEMPTS_HEADER: attempts + 1})
            delayed = properties(copy)
            delayed.expiration = str(self.retry.delay_ms)
            channel.basic_publish(self.topology.retry_exchange, self.topology.queue(kind), encode(copy), delayed,
                                  mandatory=True)
            if self.on_retry:
                self.on_retry(kind)
            return
        error = f"{type(exc).__name__}: {exc}"
        dead = Message(message.message_id, message.routing_key, message.body,
                       {**message.headers, ERROR_HEADER: error[:2000], QUEUE_HEADER: kind})
        channel.basic_publish(self.topology.dead_letter_exchange, message.routing_key, encode(dead), properties(dead))
        if self.on_dead_letter:
            self.on_dead_letter(DeadLetter(message, kind, error, attempts))

    def dead_letters(self) -> list[DeadLetter]:
        channel = self._open()
        found: list[DeadLetter] = []
        tags = []
        while True:
            method, props, body = channel.basic_get(self.topology.dead_letter_queue, auto_ack=False)
            if method is None:
                break
            tags.append(method.delivery_tag)
            message = Message(props.message_id or "", props.type or "", json.loads(body), dict(props.headers or {}))
            found.append(DeadLetter(message, str(message.headers.get(QUEUE_HEADER, "")),
                                    str(message.headers.get(ERROR_HEADER, "")),
                                    int(message.headers.get(ATTEMPTS_HEADER, 1))))
        for tag in tags:
            channel.basic_nack(tag, requeue=True)
        return found

    def purge(self) -> None:
        """Empty every oospath queue (tests and fault-injection runs only)."""
        channel = self._open()
        for kind in BINDINGS:
            channel.queue_purge(self.topology.queue(kind))
            channel.queue_purge(f"{self.topology.queue(kind)}.retry")
        channel.queue_purge(self.topology.dead_letter_queue)

    def close(self) -> None:
        self.publisher.close()
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        self._connection = None
        self._channel = None
