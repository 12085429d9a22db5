"""Inbound integration events: LIMS batch results, acknowledgements, PV references.

Each message is validated against its versioned JSON Schema (workers/contracts/); one
that fails is dead-lettered at once with the validation errors attached, never
half-applied. A valid one is applied in one transaction together with its message id,
so a redelivery has no second effect.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy.orm import Session

from engine.bootstrap import Oospath
from engine.services import audit, cases, catalog
from engine.services.audit import AuditEvent
from engine.services.errors import RuleViolation
from engine.services.identity import Actor
from engine.store.evidence_models import InboundEvent
from workers.transport.base import Message, RejectMessage

CONTRACTS = Path(__file__).with_name("contracts")
LIMS = Actor("integration:lims", frozenset({"system"}))
AUTO_OPEN_REASON = ("Opened automatically on an OOS result from the LIMS; QA records in the investigation why "
                    "the use of this batch would be exceptional.")


@cache
def validator(event_type: str) -> Draft202012Validator:
    path = CONTRACTS / f"{event_type}.v1.schema.json"
    if not path.exists():
        raise RejectMessage(f"unknown inbound event type '{event_type}'")
    return Draft202012Validator(json.loads(path.read_text()))


def validate(event_type: str, body: dict[str, Any]) -> None:
    errors = sorted(validator(event_type).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        detail = "; ".join(f"{'/'.join(map(str, e.path)) or '(message)'}: {e.message}" for e in errors[:10])
        raise RejectMessage(f"{event_type} v1 schema: {detail}")


class InboundConsumer:
    kind = "inbound"

    def __init__(self, app: Oospath) -> None:
        self.app = app

    def handle(self, message: Message) -> None:
        event_type = message.routing_key
        validate(event_type, message.body)
        with self.app.uow() as uow:
            session = uow.session
            if session.get(InboundEvent, message.body["message_id"]) is not None:
                return  # a redelivery: already applied
            handler = {"inbound.batch_results": self._batch_results, "inbound.acknowledgement": self._linked,
                       "inbound.pv_reference": self._linked}[event_type]
            case_id, batch_id = handler(session, event_type, message.body)
            session.add(InboundEvent(message_id=message.body["message_id"], event_type=event_type, case_id=case_id,
                                     batch_id=batch_id, payload=message.body, received_at=self.app.clock.now()))
            uow.commit()

    def _batch_results(self, session: Session, _event: str, body: dict[str, Any]) -> tuple[str | None, str]:
        record = catalog.batch_record_from_json(body["batch"])
        assessment = catalog.register_batch(session, self.app.clock, record, LIMS)
        if not assessment.out_of_specification or not assessment.product.cell_tissue_based:
            return None, record.batch_id
        try:
            case = cases.open_case(session, self.app.runtime, record.batch_id,
                                   body.get("exceptional_use_reason") or AUTO_OPEN_REASON, LIMS)
        except RuleViolation:
            return None, record.batch_id  # e.g. only missing results: stays an OOS batch without a case
        return case.id, record.batch_id

    def _linked(self, session: Session, event: str, body: dict[str, Any]) -> tuple[str | None, str | None]:
        case = cases.get_case(session, body["case_reference"])
        audit.append(session, self.app.clock.now(), Actor(f"integration:{event}", frozenset({"system"})),
                     AuditEvent(event.replace("inbound.", "") + ".received", instance_id=case.instance_id,
                                case_id=case.id, data_after=body), role="system")
        return case.id, case.batch_id
