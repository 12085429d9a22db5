"""Instance state stored compressed (migration 0011, issue 10: bytes per instance): what the engine reads back
is what it wrote, an instance started before the migration continues after it, and a downgrade gives the
text back.

# REQ: OOS-16
"""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import text

from engine.bootstrap import Oospath
from engine.services import instances
from engine.services.identity import SYSTEM
from engine.services.workflow_cache import WorkflowCache
from engine.store.db import alembic_config, make_engine, upgrade
from tests.integration.conftest import complete, deploy, fixture_bundle, ready_tasks


def start(app: Oospath) -> str:
    with app.uow() as uow:
        row = instances.start_instance(uow.session, app.runtime, "approval", {"note": "x" * 2000}, SYSTEM)
        uow.commit()
        return row.id


def stored_state(app: Oospath, instance_id: str) -> bytes | str:
    with app.db.connect() as connection:
        return connection.execute(text("SELECT state FROM process_instances WHERE id = :id"),
                                  {"id": instance_id}).scalar_one()


def test_state_is_stored_compressed_and_read_back_as_written(app: Oospath) -> None:
    deploy(app, fixture_bundle())
    instance_id = start(app)
    with app.uow() as uow:
        state = app.runtime.load(uow.session, instance_id).row.state
    assert json.loads(state)  # the engine reads JSON text
    stored = stored_state(app, instance_id)
    assert isinstance(stored, (bytes, memoryview)) and len(bytes(stored)) < len(state) / 3


def test_an_instance_started_before_the_migration_continues_after_it(app: Oospath, database_owner_url: str) -> None:
    deploy(app, fixture_bundle())
    instance_id = start(app)
    owner = make_engine(database_owner_url)
    try:
        config = alembic_config(owner)
        with owner.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0010")
        assert json.loads(stored_state(app, instance_id))["tasks"], "downgraded: the state is JSON text again"
        upgrade(owner)
    finally:
        owner.dispose()
    app.runtime.workflows = WorkflowCache(0)  # read the state from the database, not from this process
    [task] = ready_tasks(app, instance_id=instance_id)
    complete(app, task.id, {"approved": True})
    with app.uow() as uow:
        assert app.runtime.load(uow.session, instance_id).row.status == "completed"
