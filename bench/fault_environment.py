"""The fault injection run's surroundings: the SMTP recorder, its own database and its processes.

Part of ``python -m bench fault_injection`` (:mod:`bench.fault_injection`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from engine.store.db import make_engine
from oospath.supervisor import Supervisor, command

NAMESPACE = "oospath-fault"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/oospath_fault"
PROCESSES = ("relay", "notifications#1", "notifications#2", "records", "reporting", "results#1", "results#2",
             "inbound")


def say(line: str) -> None:
    print(line, flush=True)


# ---- SMTP ----------------------------------------------------------------------------------------
class SmtpRecorder:
    """aiosmtpd handler: keeps every message (raw bytes, also written to ``directory``), its Message-ID and
    when it arrived (seconds since ``started``)."""

    def __init__(self, directory: Path, started: float) -> None:
        self.directory = directory
        self.started = started
        directory.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.messages: list[bytes] = []
        self.message_ids: list[str] = []
        self.received_at: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        content = bytes(envelope.original_content or envelope.content)
        parsed = BytesParser(policy=default_policy).parsebytes(content, headersonly=True)
        with self.lock:
            self.messages.append(content)
            self.message_ids.append(str(parsed.get("Message-ID", "")).strip())
            self.received_at.append(time.monotonic() - self.started)
            (self.directory / f"{len(self.messages):05d}.eml").write_bytes(content)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- database ------------------------------------------------------------------------------------
def prepare_database(url: str | None, var: Path) -> str:
    """This run's own PostgreSQL database, emptied; SQLite in ``var`` when PostgreSQL is unreachable."""
    if url == "sqlite":
        return f"sqlite:///{var / 'fault.db'}"
    candidate = url or DEFAULT_PG
    parsed = make_url(candidate)
    if parsed.database in (None, "", "test", "postgres"):
        raise SystemExit(f"refusing to empty database {parsed.database!r}: give a database of your own")
    try:
        admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}):
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
        engine = make_engine(candidate)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return candidate
    except DBAPIError as exc:
        if url:
            raise
        say(f"PostgreSQL not reachable ({type(exc).__name__}); using SQLite in {var}")
        return f"sqlite:///{var / 'fault.db'}"


# ---- processes -----------------------------------------------------------------------------------
class Fleet(Supervisor):
    """The supervisor, with several processes of one kind: ``notifications#2`` runs ``worker notifications``."""

    def restart(self, kind: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{kind.replace('#', '-')}.log").open("ab") as log:
            process = subprocess.Popen(command(kind.split("#")[0]), env={**os.environ, **self.env}, stdout=log,
                                       stderr=log)
        self.processes[kind] = process
        return process

