"""The production HTTP server: gunicorn serving the API's application (``oospath serve --workers N``).

The application is built once, in gunicorn's master, before the workers are forked: migrations, the
deploy of ``processes/`` and the configuration checks run once and a refusal stops the command with its
reason, instead of N workers failing to boot. Each forked worker then opens its own database
connections (a connection is never shared across processes) and keeps its own embedded messaging.

Several processes on one PostgreSQL are safe by design: a step locks its instance first
(``runtime.lock_instance``), the outbox relay claims its rows with ``FOR UPDATE SKIP LOCKED``, a timer
is claimed the same way and fired once (``engine.services.timers``). Sync workers: one request per
process at a time, so the per-process embedded messaging is never pumped by two threads at once.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from engine.bootstrap import Oospath


class ServerLog(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own lines (start, workers booting and exiting) through the root logger's handlers, so they
    take the format ``oospath serve`` logs in (JSON in production) like every other line."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.handlers = []
        self.error_log.propagate = True


class ProductionServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn with oospath's options instead of a gunicorn command line or configuration file."""

    def __init__(self, application: Flask, options: dict[str, Any]) -> None:
        self.application = application
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def server_options(container: Oospath, host: str, port: int, workers: int, timeout: int) -> dict[str, Any]:
    """gunicorn's settings: ``workers`` sync processes on host:port; a request running longer than ``timeout``
    seconds has its worker restarted. With embedded messaging the work a request's messages cause (a periodic
    review's report, say) runs within that request: RabbitMQ workers take it out of the API's time."""

    def fresh_connections(_server: Any, _worker: Any) -> None:
        container.db.dispose(close=False)  # the master's pooled connections stay the master's

    options: dict[str, Any] = {
        "bind": f"{host}:{port}", "workers": workers, "worker_class": "sync", "timeout": timeout,
        "graceful_timeout": 30, "preload_app": True, "post_fork": fresh_connections,
        "accesslog": None, "logger_class": ServerLog, "proc_name": "oospath-api",
    }
    if container.settings.prometheus_multiproc_dir:  # a finished worker's live gauges leave /metrics's sums
        from prometheus_client import multiprocess

        options["child_exit"] = lambda _server, worker: multiprocess.mark_process_dead(worker.pid)
    return options


def run(application: Flask, container: Oospath, host: str, port: int, workers: int, timeout: int) -> None:
    """Serve until stopped (SIGTERM or Ctrl-C: requests in progress finish first)."""
    container.db.dispose()  # no connection of the master is inherited by a worker
    ProductionServer(application, server_options(container, host, port, workers, timeout)).run()
