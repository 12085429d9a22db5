"""A task's form in the browser: fields from its JSON Schema and the submitted form back to the JSON the
task validates, with refusals placed beside the fields they name (issue 11; OOS-05, OOS-16, OOS-24).

# REQ: OOS-05 OOS-16
"""

from __future__ import annotations

import json
from pathlib import Path

from werkzeug.datastructures import MultiDict

from api.web import forms
from engine.services.errors import ValidationFailed
from engine.services.validation import validate_against

FORMS = Path(__file__).resolve().parents[2] / "processes" / "forms"


def _schema(name: str) -> dict:
    return json.loads((FORMS / f"{name}.schema.json").read_text())


def test_the_risk_evaluation_form_round_trips_rows_numbers_and_blank_rows() -> None:
    schema = _schema("risk_evaluation")
    fields = {f.name: f for f in forms.fields_of(schema, {}, {})}
    assert fields["hazards"].kind == "rows" and len(fields["hazards"].rows) >= 1
    submitted = MultiDict([
        ("hazards/0/description", "Non-viable cells infused"), ("hazards/0/severity", "3"),
        ("hazards/0/probability", "2"), ("hazards/1/description", ""), ("hazards/1/severity", ""),
        ("severity", "3"), ("probability", "3"), ("uncertainty", "  "), ("rationale", "Benefit outweighs risk."),
    ])
    data = forms.data_from(schema, submitted)
    assert data["hazards"] == [{"description": "Non-viable cells infused", "severity": 3, "probability": 2}]
    assert data["severity"] == 3 and "uncertainty" not in data  # blank rows and blank answers are left out


def test_refusals_land_beside_the_fields_they_name_with_their_requirement() -> None:
    schema = _schema("investigation")
    try:
        validate_against(schema, {"phase1_laboratory_summary": "re-test confirmed"})
        raise AssertionError("an incomplete investigation was accepted")
    except ValidationFailed as refused:
        by_field, general = forms.errors_by_field(refused.errors)
    shown = {f.name: f for f in forms.fields_of(schema, {}, by_field)}
    assert any("OOS-16" in message for message in shown["product_quality_impact"].errors)
    assert shown["phase1_laboratory_summary"].errors == []
    assert general == []


def test_booleans_times_and_fixed_statements() -> None:
    schema = {"type": "object", "properties": {
        "approved": {"type": "boolean"}, "at": {"type": "string", "format": "date-time"},
        "meaning": {"type": "string", "const": "I approve"}}}
    kinds = {f.name: (f.kind, f.value) for f in forms.fields_of(schema, {}, {})}
    assert kinds["meaning"] == ("const", "I approve")
    data = forms.data_from(schema, MultiDict([("approved", "false"), ("at", "2026-11-30T10:15"),
                                              ("meaning", "I approve")]))
    assert data == {"approved": False, "at": "2026-11-30T10:15:00Z", "meaning": "I approve"}
    assert forms.data_from(schema, MultiDict([("approved", "")])) == {}  # not answered is not "No"
