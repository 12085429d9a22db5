"""The schema comes from migrations that match the models; SMTP delivery to a real server.

# REQ: OOS-13 (notifications are really delivered)
"""

from __future__ import annotations

import socket
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.bootstrap import Oospath
from engine.store.models import Base
from workers.channels import SmtpChannel


def test_migrations_produce_exactly_the_model_schema(app: Oospath) -> None:
    with app.db.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


class Recorder(Sink):
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.messages.append(envelope.content)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_smtp_channel_delivers_to_a_real_smtp_server() -> None:
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "oospath@x.example", "sa@y.example", "48 h notice"
        message["Message-ID"] = "<m1@oospath>"
        message.set_content("Supply of OOS batch CART19-25-0102")
        SmtpChannel(f"smtp://127.0.0.1:{port}").deliver(message)
        deadline = time.monotonic() + 5
        while not handler.messages and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        controller.stop()
    assert len(handler.messages) == 1
    assert b"Supply of OOS batch CART19-25-0102" in handler.messages[0]
    assert b"Message-ID: <m1@oospath>" in handler.messages[0]
