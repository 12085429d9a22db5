"""Scripted actors of the demo scenarios: what each role enters at each user task.

Shared by `oospath demo` (service layer), the end-to-end tests (HTTP API) and the
benchmark, so all three drive the pathway with the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.domain import catalogue


@dataclass(frozen=True)
class Persona:
    user: str
    role: str
    title: str


PERSONAS = {
    "qa": Persona("anna.keller", "qa", "Manufacturer QA"),
    "physician": Persona("dr.lucas.moreau", "physician", "Treating physician"),
    "qp": Persona("jan.devries", "qp", "Qualified Person"),
    "mah_ra": Persona("sofia.lindqvist", "mah_ra", "MAH regulatory affairs"),
    "sponsor": Persona("erik.holm", "sponsor", "Sponsor clinical quality"),
    "importer_qa": Persona("pieter.janssen", "importer_qa", "Importer QA"),
}

SCENARIOS = {
    "authorised": catalogue.BATCH_VIABILITY_OOS,
    "clinical-trial": catalogue.BATCH_IMP_TRANSDUCTION_OOS,
    "declined": catalogue.BATCH_VIABILITY_OOS,
}

EXCEPTIONAL_USE_REASON = (
    "Autologous product: the patient's apheresis material is exhausted and a new manufacturing run "
    "would take 4-5 weeks the patient does not have."
)

# How long each step takes in the simulated timeline.
STEP_DURATION = {
    "investigate_oos": timedelta(hours=3),
    "evaluate_risks": timedelta(hours=2),
    "physician_decision": timedelta(hours=4),
    "verify_batch_verifications": timedelta(hours=1),
    "verify_import_procedures": timedelta(minutes=40),
    "supply_batch": timedelta(hours=2),
    "approve_sa_notification": timedelta(hours=20),
    "record_sponsor_ca_notification": timedelta(hours=30),
    "confirm_patient_informed_and_administration": timedelta(hours=6),
    "record_batch_disposition": timedelta(hours=5),
    "review_records_and_close": timedelta(days=2),
}


def form_data(element_id: str, scenario: str, now: datetime, process_data: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """The data the scripted actor submits for one user task, having read the task's process data
    (the physician attests the SHA-256 of the risk evaluation shown to them, OOS-06)."""
    seen = (process_data or {}).get("risk_evaluation_sha256", "not shown")
    forms: dict[str, dict[str, Any]] = {
        **investigation_forms(),
        "physician_decision": physician_decision(scenario == "declined", seen),
        "record_batch_disposition": {"disposition": "destroyed",
                                     "disposition_notes": "Destroyed under QA supervision; record DR-0412."},
        "verify_batch_verifications": {"batch_verifications_performed": True,
                                       "verification_notes": "Batch record reviewed; deviations closed."},
        "verify_import_procedures": {"import_procedures_followed": True,
                                     "notes": "Import testing waiver documented; shipping conditions verified."},
        "supply_batch": {"supplied_at": (now - timedelta(hours=3)).isoformat(),
                         "delivered_to_site_at": now.isoformat(),
                         "treating_site": "Universitätsklinikum Demo, Station 4",
                         "shipment_reference": "SHP-2026-0815"},
        "confirm_written_agreement_in_force": {"agreement_reference": "QA-AGR-2026-01",
                                               "notes": "Agreement v1 in force since its signature."},
        "confirm_nca_requirement": {"nca_must_be_informed": True,
                                    "nca_contact_reference": "E-mail from the NCA's ATMP desk, ref. NCA-2026-117",
                                    "notes": "The NCA asks to be informed with the Supervisory Authority."},
        "approve_sa_notification": {"notification_summary": "Supply of OOS batch at the physician's request.",
                                    "approved": True},
        "record_sponsor_ca_notification": {"competent_authority": "Läkemedelsverket", "notified_at": now.isoformat(),
                                           "reference": "CTIS-2025-500123-OOS-1"},
        "confirm_patient_informed_and_administration": {
            "patient_informed": True, "patient_information_language": "de", "administered_at": now.isoformat(),
            "dose": "2.1 x10^8 CAR+ viable T cells", "patient_pseudonym": "PT-7F3A91",
            "chain_of_identity_id": "COI-DE-000731", "pv_case_reference": "PV-2026-004211",
        },
        "review_records_and_close": {"records_complete": True,
                                     "closure_summary": "All records captured; CAPA-2026-031 opened."},
    }
    return forms[element_id]


def investigation_forms() -> dict[str, dict[str, Any]]:
    """What QA enters for the manufacturer's OOS investigation and its ICH Q9 risk evaluation (OOS-05)."""
    return {
        "investigate_oos": {
            "phase1_laboratory_summary": "No laboratory error: re-test of the retained sample confirmed the "
                                         "result; method system suitability met.",
            "phase2_manufacturing_summary": "Apheresis material arrived after 31 h transport (limit 24 h).",
            "root_cause": "Prolonged transport of the starting material reduced cell fitness.",
            "product_quality_impact": "Lower viable fraction; CAR+ viable T-cell dose still within range.",
            "capa_required": True,
        },
        "evaluate_risks": {
            "hazards": [
                {"description": "Non-viable cells and debris infused", "severity": 3, "probability": 2,
                 "detectability": 2},
                {"description": "Reduced in-vivo expansion", "severity": 3, "probability": 3},
            ],
            "severity": 3, "probability": 3,
            "uncertainty": "Limited clinical data below 80 % viability; published series suggest comparable "
                           "response rates above 70 %.",
            "risk_controls": "Dose calculated on viable CAR+ cells; enhanced monitoring for infusion reactions.",
            "residual_risk": "Acceptable given the immediate hazard to the patient without treatment.",
            "rationale": "Benefit of treatment outweighs the residual risk for this patient.",
            "approved_by": "Head of QA",
        },
    }


def physician_decision(decline: bool, seen: str) -> dict[str, Any]:
    """The treating physician's request for the batch, or its refusal in the declined scenario, naming the
    SHA-256 of the risk evaluation version ``seen`` (OOS-03, OOS-06)."""
    return {
        "request_batch": not decline,
        "attest_immediate_significant_hazard": not decline,
        "attest_no_suitable_alternative": not decline,
        "patient_condition_considerations": "Relapsed DLBCL after two lines; rapidly progressive disease."
        if not decline else "Patient stable on bridging therapy; a re-manufactured batch can be awaited.",
        "risk_evaluation_version_seen": seen,
        **({"decline_reason": "A suitable alternative exists: re-manufacture from backup apheresis."}
           if decline else {}),
    }


@dataclass(frozen=True)
class Upload:
    record_type: str
    filename: str
    media_type: str
    content: bytes


# What QA uploads before closing a supplied case (OOS-16): the records the process cannot capture itself.
UPLOADS_BEFORE = {
    "review_records_and_close": (
        Upload("batch_manufacture_record", "BMR-CART19-25-0102.pdf", "application/pdf",
               b"%PDF-1.7\n% batch manufacture record (demo)\n"),
        Upload("testing_records", "QC-release-CART19-25-0102.pdf", "application/pdf",
               b"%PDF-1.7\n% release testing: viability 74.0 % (limit >= 80 %), all other attributes pass\n"),
        Upload("transport_storage_records", "shipment-SHP-2026-0815.csv", "text/csv",
               b"time,temperature_c\n2026-11-26T06:00Z,-182.5\n2026-11-26T12:00Z,-181.9\n"),
    ),
}


# The written agreement between the demo's manufacturer, importer and MAH (OOS-15).
AGREEMENT_FORMS: dict[str, dict[str, Any]] = {
    "draft_agreement": {
        "agreement_reference": "QA-AGR-2026-01", "manufacturer": catalogue.CASCADIA,
        "importer": catalogue.LOWLANDS_IMPORT, "mah": catalogue.NORDLICHT,
        "valid_from": "2025-01-01", "valid_to": "2030-12-31",
        "responsibilities": {"treating_physician": "manufacturer", "supervisory_authority": "mah",
                             "national_competent_authority": "mah", "sponsor_competent_authority": "manufacturer",
                             "ema_periodic_review": "mah"},
    },
    "review_agreement": {"approved": True, "comments": "Responsibilities agreed."},
    **{f"sign_for_{party}": {f"{party}_signatory_name": name,
                             f"{party}_signature_meaning": "I approve this written agreement and the "
                                                           "responsibilities it assigns",
                             f"{party}_signed": True}
       for party, name in (("manufacturer", "Anna Keller"), ("importer", "Pieter Janssen"),
                           ("mah", "Sofia Lindqvist"))},
}
