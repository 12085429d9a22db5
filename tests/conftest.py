"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when configured).

Set OOSPATH_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)
to run every database test on PostgreSQL as well. A configured service that is not
reachable fails the run (never a silent skip; CI sets CI=true and the URL).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.settings import Settings
from engine.store.db import make_engine, upgrade
from engine.store.models import Base

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_URL = os.environ.get("OOSPATH_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def service_unavailable(what: str) -> None:
    """A configured service must be there: fail, never skip (CI=true or not)."""
    ci = " (CI=true)" if IN_CI else ""
    pytest.fail(f"{what} is not reachable{ci}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrations run once; each test gets a copy of the migrated file."""
    path = tmp_path_factory.mktemp("template") / "oospath.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    assert PG_URL is not None
    try:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
    except Exception as exc:
        service_unavailable(f"PostgreSQL at {PG_URL} ({type(exc).__name__}: {exc}); "
                            "unset OOSPATH_TEST_DATABASE_URL to test on SQLite only")
    return PG_URL


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "oospath.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_ready")
    _truncate_all(url)
    yield url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Oospath]:
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url, smtp_url=None,
                        processes_dir=REPO / "processes")
    container = bootstrap(settings, clock, migrate=False)
    yield container
    container.db.dispose()


AMQP_URL = os.environ.get("OOSPATH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
TRANSPORTS = ["inprocess"] + ([] if AMQP_URL == "off" else ["rabbitmq-classic", "rabbitmq-quorum"])


def rabbitmq_transport(queue_type: str, **kwargs: object) -> object:
    """A RabbitMQ transport in a test namespace of its own, declared and purged; fails if the broker is away."""
    from workers.transport.rabbitmq import RabbitMqTransport
    from workers.transport.topology import Topology

    transport = RabbitMqTransport(AMQP_URL, topology=Topology(f"oospath-test-{queue_type}"),  # type: ignore[arg-type]
                                  queue_type=queue_type, **kwargs)
    try:
        transport.declare()
        transport.purge()
    except Exception as exc:
        service_unavailable(f"RabbitMQ at {AMQP_URL} ({type(exc).__name__}: {exc}); "
                            "start it (rabbitmq-server -detached) or set OOSPATH_TEST_AMQP_URL=off")
    return transport
