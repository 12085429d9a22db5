"""Composition root: clock, database, runtime. The API, the CLI and workers start here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.bpmn.safe_expressions import safe_script_engine
from engine.bpmn.serializer import InstanceSerializer
from engine.clock import Clock, configured_clock
from engine.services.agreements import put_in_force_on_completion
from engine.services.cases import close_case_on_completion
from engine.services.runtime import Runtime
from engine.services.uow import UnitOfWork
from engine.services.workflow_cache import WorkflowCache
from engine.settings import Settings
from engine.store.db import make_engine, session_factory, upgrade


@dataclass
class Oospath:
    settings: Settings
    clock: Clock
    db: Engine
    sessions: sessionmaker[Session]
    runtime: Runtime

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)


def bootstrap(settings: Settings | None = None, clock: Clock | None = None, migrate: bool = True) -> Oospath:
    settings = settings or Settings()
    if settings.database_url.startswith("sqlite:///"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    clock = clock or configured_clock(settings)
    db = make_engine(settings.database_url)
    if migrate:
        upgrade(db)
    runtime = Runtime(clock, InstanceSerializer(), safe_script_engine(), WorkflowCache(settings.workflow_cache_size))
    runtime.completion_hooks += [close_case_on_completion, put_in_force_on_completion]
    return Oospath(settings, clock, db, session_factory(db), runtime)
