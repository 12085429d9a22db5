"""Delivery channels for notifications: SMTP, or a file outbox of .eml files (embedded default)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class Channel(Protocol):
    name: str

    def deliver(self, message: EmailMessage) -> None: ...


class FileOutboxChannel:
    """Writes each message as ``<Message-ID>.eml``; rewriting the same message is harmless."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def deliver(self, message: EmailMessage) -> None:
        name = message["Message-ID"].strip("<>").replace("/", "_")
        (self.directory / f"{name}.eml").write_bytes(bytes(message))


class SmtpChannel:
    """``smtp://host:port`` (plain) or ``smtps://`` / ``smtp+starttls://`` with optional user:password."""

    name = "smtp"

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = urlparse(url)
        self.timeout = timeout

    def deliver(self, message: EmailMessage) -> None:
        host, port = self.url.hostname or "127.0.0.1", self.url.port
        if self.url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port or 465, timeout=self.timeout)
        else:
            client = smtplib.SMTP(host, port or 25, timeout=self.timeout)
        with client:
            if self.url.scheme == "smtp+starttls":
                client.starttls()
            if self.url.username:
                client.login(self.url.username, self.url.password or "")
            client.send_message(message)


def channel_from_settings(smtp_url: str | None, mail_outbox: Path) -> Channel:
    return SmtpChannel(smtp_url) if smtp_url else FileOutboxChannel(mail_outbox)
