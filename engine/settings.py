"""Configuration from environment variables, with safe embedded defaults (see README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: a whole number") from None


def _number(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: a number") from None


def _optional_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if not value else value.lower() not in ("false", "0", "no")


@dataclass(frozen=True)
class Settings:
    var_dir: Path = field(default_factory=lambda: _path("OOSPATH_VAR_DIR", Path.cwd() / "var"))
    database_url: str = ""
    record_store: Path | None = None
    mail_outbox: Path | None = None
    # OOS-24: the append-only anchor log of the audit chains' heads, kept outside the database.
    audit_anchor_log: Path | None = None
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_SMTP_URL") or None)
    processes_dir: Path = field(default_factory=lambda: _path("OOSPATH_PROCESSES_DIR", REPO_ROOT / "processes"))
    # Identity (OOS-24/25): "token" (default) or "dev-headers" (development and tests only).
    auth_mode: str = field(default_factory=lambda: os.environ.get("OOSPATH_AUTH", "token"))
    environment: str = field(default_factory=lambda: os.environ.get("OOSPATH_ENV", "development"))
    token_lifetime_minutes: int = field(default_factory=lambda: _int("OOSPATH_TOKEN_LIFETIME_MINUTES", 480))
    login_max_failures: int = field(default_factory=lambda: _int("OOSPATH_LOGIN_MAX_FAILURES", 5))
    login_window_minutes: int = field(default_factory=lambda: _int("OOSPATH_LOGIN_WINDOW_MINUTES", 15))
    # OIDC: tokens from this issuer are accepted; keys from a JWKS file or URL; claims mapped by a JSON file.
    oidc_issuer: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_OIDC_ISSUER") or None)
    oidc_audience: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_OIDC_AUDIENCE") or None)
    oidc_jwks: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_OIDC_JWKS") or None)
    oidc_claims: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_OIDC_CLAIMS") or None)
    max_request_bytes: int = field(default_factory=lambda: _int("OOSPATH_MAX_REQUEST_BYTES", 4 * 1024 * 1024))
    max_record_bytes: int = field(default_factory=lambda: _int("OOSPATH_MAX_RECORD_BYTES", 32 * 1024 * 1024))
    # Plausible facts: a recorded time (supply, delivery, administration) may lie at most this far in the future.
    future_tolerance_minutes: int = field(default_factory=lambda: _int("OOSPATH_FUTURE_TOLERANCE_MINUTES", 5))
    # Operations: log lines as JSON objects ("json", default in production) or text (default otherwise).
    log_format: str = ""
    # Operations: a bearer token Prometheus scrapes /metrics with (no interactive login); unset: none accepted.
    metrics_token: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_METRICS_TOKEN") or None)
    # Performance: deserialized workflows of hot instances kept per process between steps (0: none kept).
    workflow_cache_size: int = field(default_factory=lambda: _int("OOSPATH_WORKFLOW_CACHE_SIZE", 64))
    # Messaging: relay and workers run in-process after each write (True, the embedded default); False when
    # RabbitMQ workers run as their own processes.
    embedded_messaging: bool = field(default_factory=lambda: _flag("OOSPATH_EMBEDDED_MESSAGING", True))
    # Periodic review (OOS-20..23): a JSON file of thresholds and baselines, and the review cycle (ISO 8601
    # repeating interval, or "off"); unset: the defaults of engine.services.review_settings.
    review_config: Path | None = field(default_factory=lambda: _optional_path("OOSPATH_REVIEW_CONFIG"))
    review_cycle: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_REVIEW_CYCLE") or None)
    # Messaging: the RabbitMQ broker of `oospath relay`, `oospath worker ...` and `demo --broker amqp`.
    amqp_url: str = field(default_factory=lambda: os.environ.get("OOSPATH_AMQP_URL") or DEFAULT_AMQP_URL)
    # Messaging: prefix of exchanges and queues; unset: "oospath" ("oospath-demo" for `demo --broker amqp`).
    amqp_namespace: str | None = field(default_factory=lambda: os.environ.get("OOSPATH_AMQP_NAMESPACE") or None)
    # Messaging: "classic" queues, or "quorum" for a clustered broker.
    amqp_queue_type: str = field(default_factory=lambda: os.environ.get("OOSPATH_AMQP_QUEUE_TYPE") or "classic")
    # Messaging: unacknowledged messages a consumer may hold.
    amqp_prefetch: int = field(default_factory=lambda: _int("OOSPATH_AMQP_PREFETCH", 20))
    # Messaging: deliveries of a failing message before it is dead-lettered as an incident.
    max_attempts: int = field(default_factory=lambda: _int("OOSPATH_MAX_ATTEMPTS", 5))
    # Messaging: milliseconds a failed message waits in its retry queue before it is delivered again.
    retry_delay_ms: int = field(default_factory=lambda: _int("OOSPATH_RETRY_DELAY_MS", 2000))
    # Notifications: a JSON file of party -> {name, address}; unset: the built-in demo addresses.
    party_directory: Path | None = field(default_factory=lambda: _optional_path("OOSPATH_PARTY_DIRECTORY"))
    # Deadlines shown on a case: hours to inform the physician (OOS-04) and the sponsor (OOS-11) from its opening.
    physician_notice_hours: float = field(default_factory=lambda: _number("OOSPATH_PHYSICIAN_NOTICE_HOURS", 24))
    sponsor_notice_hours: float = field(default_factory=lambda: _number("OOSPATH_SPONSOR_NOTICE_HOURS", 24))
    # Uploaded diagrams: size limit of one BPMN/DMN/form file in bytes.
    max_bpmn_bytes: int = field(default_factory=lambda: _int("OOSPATH_MAX_BPMN_BYTES", 5 * 1024 * 1024))
    # Operations: prometheus_client's multiprocess directory (its own variable); set: /metrics sums the processes.
    prometheus_multiproc_dir: Path | None = field(
        default_factory=lambda: _optional_path("PROMETHEUS_MULTIPROC_DIR"))
    # Demo and fault-injection runs only: a file holding the simulated time several processes share.
    clock_file: Path | None = field(default_factory=lambda: _optional_path("OOSPATH_CLOCK_FILE"))

    def __post_init__(self) -> None:
        # Derived defaults live under var_dir so one directory holds an embedded installation.
        if not self.database_url:
            url = os.environ.get("OOSPATH_DATABASE_URL") or f"sqlite:///{self.var_dir / 'oospath.db'}"
            object.__setattr__(self, "database_url", url)
        if not self.log_format:
            chosen = os.environ.get("OOSPATH_LOG_FORMAT") or ("json" if self.environment == "production" else "text")
            object.__setattr__(self, "log_format", chosen)
        if self.log_format not in ("json", "text"):
            raise ValueError(f"OOSPATH_LOG_FORMAT={self.log_format!r}: use 'json' or 'text'")
        if self.workflow_cache_size < 0:
            raise ValueError("OOSPATH_WORKFLOW_CACHE_SIZE: 0 (no cache) or more workflows per process")
        if self.metrics_token is not None and len(self.metrics_token) < 32:
            raise ValueError("OOSPATH_METRICS_TOKEN: at least 32 random characters (e.g. `openssl rand -hex 32`)")
        self._check_messaging()
        self._check_limits()
        if self.record_store is None:
            object.__setattr__(self, "record_store", _path("OOSPATH_RECORD_STORE", self.var_dir / "records"))
        if self.mail_outbox is None:
            object.__setattr__(self, "mail_outbox", _path("OOSPATH_MAIL_OUTBOX", self.var_dir / "mail"))
        if self.audit_anchor_log is None:
            object.__setattr__(self, "audit_anchor_log",
                               _path("OOSPATH_AUDIT_ANCHOR_LOG", self.var_dir / "audit-anchors.jsonl"))

    def _check_messaging(self) -> None:
        if self.amqp_queue_type not in ("classic", "quorum"):
            raise ValueError(f"OOSPATH_AMQP_QUEUE_TYPE={self.amqp_queue_type!r}: use 'classic' or 'quorum'")
        if self.amqp_prefetch < 1:
            raise ValueError(f"OOSPATH_AMQP_PREFETCH={self.amqp_prefetch}: 1 or more messages per consumer")
        if self.max_attempts < 1:
            raise ValueError(f"OOSPATH_MAX_ATTEMPTS={self.max_attempts}: 1 or more deliveries of a message")
        if self.retry_delay_ms < 0:
            raise ValueError(f"OOSPATH_RETRY_DELAY_MS={self.retry_delay_ms}: 0 or more milliseconds")

    def _check_limits(self) -> None:
        if self.max_bpmn_bytes < 1:
            raise ValueError(f"OOSPATH_MAX_BPMN_BYTES={self.max_bpmn_bytes}: 1 or more bytes per file")
        for variable, hours in (("OOSPATH_PHYSICIAN_NOTICE_HOURS", self.physician_notice_hours),
                                ("OOSPATH_SPONSOR_NOTICE_HOURS", self.sponsor_notice_hours)):
            if not 0 <= hours < float("inf"):
                raise ValueError(f"{variable}={hours}: 0 or more hours")
