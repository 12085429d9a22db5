"""Configuration from environment variables, with safe embedded defaults (see README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


@dataclass(frozen=True)
class Settings:
    var_dir: Path = field(default_factory=lambda: _path("OOSPATH_VAR_DIR", Path.cwd() / "var"))
    database_url: str = ""
    record_store: Path | None = None
    mail_outbox: Path | None = None
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_SMTP_URL") or None)
    processes_dir: Path = field(default_factory=lambda: _path("OOSPATH_PROCESSES_DIR", REPO_ROOT / "processes"))

    def __post_init__(self) -> None:
        # Derived defaults live under var_dir so one directory holds an embedded installation.
        if not self.database_url:
            url = os.environ.get("OOSPATH_DATABASE_URL") or f"sqlite:///{self.var_dir / 'oospath.db'}"
            object.__setattr__(self, "database_url", url)
        if self.record_store is None:
            object.__setattr__(self, "record_store", _path("OOSPATH_RECORD_STORE", self.var_dir / "records"))
        if self.mail_outbox is None:
            object.__setattr__(self, "mail_outbox", _path("OOSPATH_MAIL_OUTBOX", self.var_dir / "mail"))
