"""/api/v1/process-instances: the generic engine surface for any deployed process."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api import schemas
from api.app import container
from api.identity import current_actor
from api.util import json_body
from api.views import instance_view, task_view, timer_view
from engine.services import instances, tasks
from engine.services.errors import NotFound
from engine.store.models import ProcessInstance

bp = Blueprint("instances", __name__, url_prefix="/api/v1/process-instances")


@bp.get("")
def list_instances() -> dict[str, Any]:
    with container().uow() as uow:
        rows = instances.list_instances(uow.session, request.args.get("key"), request.args.get("status"))
        return {"items": [instance_view(i) for i in rows]}


@bp.post("")
def start_instance() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), json_body(schemas.INSTANCE_START)
    with app.uow() as uow:
        row = instances.start_instance(uow.session, app.runtime, body["key"], body.get("data", {}), actor,
                                       body.get("version"))
        uow.commit()
        return instance_view(row), 201


@bp.get("/<instance_id>")
def get_instance(instance_id: str) -> dict[str, Any]:
    app = container()
    with app.uow() as uow:
        row = uow.session.get(ProcessInstance, instance_id)
        if row is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        view = instance_view(row)
        definition = instances.definition_of(uow.session, row)
        view["definition"] = {"key": definition.key, "version": definition.version}
        view["open_tasks"] = [task_view(t) for t in tasks.list_tasks(uow.session, instance_id=instance_id)]
        view["timers"] = [timer_view(t) for t in instances.timers_of(uow.session, instance_id)]
        view["data"] = instances.instance_data(uow.session, app.runtime, instance_id)
        return view
