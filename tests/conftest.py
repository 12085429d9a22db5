"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when configured).

Set OOSPATH_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)
to run every database test on PostgreSQL as well: migrated as that URL's user (the owner),
the application then runs as a login role that owns no table (see README, "Production
database roles"). A configured service that is not
reachable fails the run (never a silent skip; CI sets CI=true and the URL).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.settings import Settings
from engine.store.db import make_engine, upgrade
from engine.store.models import Base
from engine.store.roles import grant_app_role

REPO = Path(__file__).resolve().parents[1]
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


def app_role_url(owner_url: str) -> str:
    """The application's login role for this test database: it owns no table (OOS-24, README)."""
    url = make_url(owner_url)
    role = re.sub(r"[^a-z0-9_]", "_", f"{url.database}_app".lower())
    return url.set(username=role, password="app").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    """Migrated as the owner (PG_URL's user); returns the URL of the app role the application runs as."""
    assert PG_URL is not None
    try:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        app_url = make_url(app_role_url(PG_URL))
        with engine.begin() as conn:
            grant_app_role(conn, str(app_url.username), app_url.password)
        engine.dispose()
    except Exception as exc:
        service_unavailable(f"PostgreSQL at {PG_URL} ({type(exc).__name__}: {exc}); "
                            "unset OOSPATH_TEST_DATABASE_URL to test on SQLite only")
    return app_role_url(PG_URL)


def _truncate_all(url: str) -> None:
    """As the owner, with triggers off for this transaction: the append-only tables refuse TRUNCATE otherwise."""
    engine = make_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
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
    assert PG_URL is not None
    _truncate_all(PG_URL)
    yield url


@pytest.fixture
def database_owner_url(database_url: str) -> str:
    """The privileged URL of the same database (the owner on PostgreSQL): for tests that play an intruder."""
    return PG_URL if PG_URL is not None and database_url.startswith("postgresql") else database_url


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
#: RabbitMQ switched off for a local run; under CI=true never (a broker test then fails instead of skipping)
AMQP_OFF = AMQP_URL == "off" and not IN_CI
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
