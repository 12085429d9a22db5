"""/api/v1/process-instances: the generic engine surface for any deployed process."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api.access import current_actor, current_body
from api.app import container
from api.declarations import Param, declare, roles
from api.paging import PAGE_QUERY, page_body, page_request
from api.views import instance_view, task_view, timer_view
from engine.services import instances, tasks
from engine.services.errors import NotFound
from engine.store.models import ProcessInstance

bp = Blueprint("instances", __name__, url_prefix="/api/v1/process-instances")
READERS = ("qa", "mah_ra", "auditor")


@bp.get("")
@declare("listProcessInstances", "process instances", "Process instances, one page at a time",
         policy=roles(*READERS),
         ok={"200": ("Instances (of cases the caller's organisation is party to, and case-less ones), newest "
                     "first", "InstanceList")},
         query={"key": Param("only instances of this process definition key"),
                "status": Param("only instances in this status", {"enum": ["running", "completed"]}),
                **PAGE_QUERY})
def list_instances() -> dict[str, Any]:
    actor = current_actor()
    with container().uow() as uow:
        found = instances.list_instances(uow.session, request.args.get("key"), request.args.get("status"),
                                         actor=actor, page=page_request())
        return page_body(found, instance_view)


@bp.post("")
@declare("startProcessInstance", "process instances", "Start any approved deployed process",
         policy=roles("qa", "mah_ra"), ok={"201": ("Started", "Instance")}, errors=("400", "404"),
         body="InstanceStart",
         description="Generic engine surface; OOS cases are opened with POST /api/v1/cases. Only approved "
                     "versions start.")
def start_instance() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), current_body()
    with app.uow() as uow:
        row = instances.start_instance(uow.session, app.runtime, body["key"], body.get("data", {}), actor,
                                       body.get("version"))
        uow.commit()
        return instance_view(row), 201


@bp.get("/<instance_id>")
@declare("getProcessInstance", "process instances", "An instance with open tasks, timers and data",
         policy=roles(*READERS, scope="instance"), ok={"200": ("The instance", "InstanceDetail")},
         path={"instance_id": Param("process instance id")})
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
