"""Patient information worker operation (OOS-18): lay-language text for the treating site's country.

The text is rendered from the country's template, checked (no sentence may shift
responsibility to the patient), stored as a record of the case, and handed to the
physician's task with its language and, for English, its reading-ease score.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from engine.domain.patient_information import render_patient_information
from engine.services import cases, catalog
from engine.services.evidence import record_capture
from engine.services.identity import Actor
from engine.store.record_store import store_content

# What an out-of-specification attribute may mean, in plain words (English; translations: see README).
MEANINGS = {
    "viability": "Fewer of the cells in your dose are alive than usual. Your dose is worked out from the living "
                 "cells, so you still get the planned number of active cells.",
    "transduction_efficiency": "Fewer of the cells carry the part that finds the cancer. Your dose is worked out "
                               "from the cells that do.",
    "vector_copy_number": "The cells carry a little more of the gene change than the limit allows.",
}
DEFAULT_MEANING = "Your doctor will explain what this result means for you."


def placeholders(session: Session, context: dict[str, Any]) -> dict[str, object]:
    case = cases.get_case(session, context["case_id"])
    product = catalog.get_product(session, case.product_code)
    findings = context.get("oos_findings", [])
    return {
        "product_name": product.name,
        "physician_name": f"your treating physician at {case.parties.get('treating_site')}",
        "oos_attributes": [f"{f['attribute'].replace('_', ' ')}: measured {f['measured']}, limit {f['limit']}"
                           for f in findings],
        "oos_meaning": " ".join(dict.fromkeys(MEANINGS.get(f["attribute"], DEFAULT_MEANING) for f in findings))
                       or DEFAULT_MEANING,
        "contact": f"the team that treats you at {case.parties.get('treating_site')}",
        "side_effect_reporting": "through your national medicines agency",
    }


def prepare(session: Session, at: Any, actor: Actor, work: dict[str, Any], record_store: Any,
            templates_dir: Any) -> dict[str, Any]:
    context = work.get("context", {})
    info = render_patient_information(context["treating_country"], placeholders(session, context),
                                      templates_dir=templates_dir)
    stored = {"language": info.language, "text": info.text, "readability": info.readability,
              "fallback_language": info.fallback}
    content = json.dumps(stored, ensure_ascii=False, indent=2).encode()
    digest = store_content(record_store, content)
    row = record_capture(session, at, actor, work, record_type="patient_information", sha256=digest,
                         media_type="application/json", size=len(content),
                         meta={"requirement": "OOS-18", "work_message_id": work["message_id"],
                               "language": info.language})
    return result(row, stored)


def result(row: Any, stored: dict[str, Any]) -> dict[str, Any]:
    """What the physician's task receives, the same when a redelivery re-reads the stored record."""
    return {"record_id": row.id, "sha256": row.sha256, **stored}
