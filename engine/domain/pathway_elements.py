"""The pathway's own process elements: the one place their BPMN ids live (OOS-01..OOS-25).

The three processes oospath ships (``oos_case``, ``written_agreement``, ``periodic_review``)
carry the legal controls of the exceptional-use pathway: the physician's attestations and
decision (OOS-03, OOS-06), the QP's verifications (OOS-08, OOS-09), the Supervisory
Authority notification and its deadline (OOS-12, OOS-13), the records gate (OOS-16) and so on.
The code also depends on their element ids: a pathway rule runs when ``physician_decision``
completes, a case is "supplied" when it ends at ``case_closed``.

Every element of those processes is listed here with its BPMN type, the requirements it
carries (as its ``<documentation>`` cites them, the basis of ``oospath trace``) and, for a
user task, the role of the lane that performs it. A new version of one of these processes
must keep every element, with the same type and, for a user task, in the same lane: a
dropped, renamed, retyped or re-laned element is refused at deploy, naming the requirement
(engine.bpmn.deploy_checks). Service modules refer to element ids through the constants
below, never through string literals.
"""

from __future__ import annotations

from dataclasses import dataclass

# ------------------------------------------------------------------------------ process keys
OOS_CASE = "oos_case"
WRITTEN_AGREEMENT = "written_agreement"
PERIODIC_REVIEW = "periodic_review"

# ----------------------------------------------------------- oos_case elements the code uses
INVESTIGATE_OOS = "investigate_oos"
EVALUATE_RISKS = "evaluate_risks"
CONFIRM_WRITTEN_AGREEMENT_IN_FORCE = "confirm_written_agreement_in_force"
PHYSICIAN_DECISION = "physician_decision"
RECORD_BATCH_DISPOSITION = "record_batch_disposition"
CASE_CLOSED_NOT_SUPPLIED = "case_closed_not_supplied"
VERIFY_BATCH_VERIFICATIONS = "verify_batch_verifications"
VERIFY_IMPORT_PROCEDURES = "verify_import_procedures"
SUPPLY_BATCH = "supply_batch"
APPROVE_SA_NOTIFICATION = "approve_sa_notification"
SA_DEADLINE_OVERDUE = "sa_deadline_overdue"
SA_DEADLINE_ESCALATION = "sa_deadline_escalation"
CONFIRM_NCA_REQUIREMENT = "confirm_nca_requirement"
RECORD_SPONSOR_CA_NOTIFICATION = "record_sponsor_ca_notification"
CONFIRM_PATIENT_INFORMED_AND_ADMINISTRATION = "confirm_patient_informed_and_administration"
REVIEW_RECORDS_AND_CLOSE = "review_records_and_close"
CASE_CLOSED = "case_closed"

# -------------------------------------------------- written_agreement elements the code uses
DRAFT_AGREEMENT = "draft_agreement"
REVIEW_AGREEMENT = "review_agreement"
AGREEMENT_IN_FORCE = "agreement_in_force"

# ---------------------------------------------------- periodic_review elements the code uses
QA_REVIEW = "qa_review"
APPROVE_REVIEW = "approve_review"
RECORD_EMA_SUBMISSION = "record_ema_submission"
RECORD_CAT_FORWARDING = "record_cat_forwarding"
RECORD_EMA_QUESTIONS = "record_ema_questions"
ANSWER_EMA_QUESTIONS = "answer_ema_questions"
RECORD_REGULATORY_ACTIONS = "record_regulatory_actions"
OPEN_CAPA = "open_capa"
MANAGEMENT_REVIEW = "management_review"

USER_TASK = "userTask"


@dataclass(frozen=True)
class PathwayElement:
    """One element a version of a pathway process must keep; ``role`` is the lane of a user task."""

    element_id: str
    bpmn_type: str
    requirements: tuple[str, ...]
    title: str
    role: str | None = None

    @property
    def cited(self) -> str:
        """The requirement ids as a refusal names them, e.g. ``OOS-08, OOS-09``."""
        return ", ".join(self.requirements)


@dataclass(frozen=True)
class PathwayProcess:
    """A shipped process: its key and the elements every deployed version of it must keep."""

    key: str
    elements: tuple[PathwayElement, ...]

    @property
    def lane_roles(self) -> tuple[str, ...]:
        """Roles whose lane (``lane_<role>``) the process must keep: those of its user tasks."""
        return tuple(sorted({e.role for e in self.elements if e.role is not None}))


def _user(element_id: str, role: str, requirements: str, title: str) -> PathwayElement:
    return PathwayElement(element_id, USER_TASK, tuple(requirements.split()), title, role)


def _node(element_id: str, bpmn_type: str, requirements: str, title: str) -> PathwayElement:
    return PathwayElement(element_id, bpmn_type, tuple(requirements.split()), title)


# fmt: off
_OOS_CASE = (
    _node("oos_confirmed", "startEvent", "OOS-01 OOS-02 OOS-14 OOS-15", "OOS result confirmed"),
    _node("determine_notified_parties", "businessRuleTask", "OOS-11 OOS-12 OOS-15", "Determine parties to inform"),
    _node("split_immediate", "parallelGateway", "OOS-10 OOS-15", "start of the first tasks"),
    _node("inform_treating_physician", "serviceTask", "OOS-04 OOS-10 OOS-15", "Inform physician of OOS"),
    _user(INVESTIGATE_OOS, "qa", "OOS-05 OOS-10 OOS-15", "Investigate OOS and root cause"),
    _node("capture_investigation_record", "serviceTask", "OOS-16 OOS-17", "Capture OOS investigation record"),
    _user(EVALUATE_RISKS, "qa", "OOS-05 OOS-24", "Evaluate risks (QRM)"),
    _node("determine_risk_level", "businessRuleTask", "OOS-05 OOS-06", "Determine risk level"),
    _node("capture_risk_analysis_record", "serviceTask", "OOS-06 OOS-16 OOS-17", "Capture risk analysis record"),
    _node("agreement_needed", "exclusiveGateway", "OOS-10 OOS-15", "Written agreement to confirm?"),
    _user(CONFIRM_WRITTEN_AGREEMENT_IN_FORCE, "qa", "OOS-15", "Confirm written agreement in force"),
    _node("agreement_checked", "exclusiveGateway", "OOS-15", "written agreement checked"),
    _node("which_parties", "exclusiveGateway", "OOS-11 OOS-12", "Which parties to inform?"),
    _node("inform_mah", "serviceTask", "OOS-12", "Inform MAH"),
    _node("inform_sponsor", "serviceTask", "OOS-11", "Inform sponsor"),
    _node("inform_supervisory_authority", "serviceTask", "OOS-12", "Inform Supervisory Authority"),
    _node("parties_informed_merge", "exclusiveGateway", "OOS-11 OOS-12", "parties informed"),
    _node("join_immediate", "parallelGateway", "OOS-04 OOS-06", "first tasks done before the decision"),
    _node("provide_risk_evaluation", "serviceTask", "OOS-06", "Provide risk evaluation to physician"),
    _user(PHYSICIAN_DECISION, "physician", "OOS-03 OOS-06 OOS-07", "Request or decline the OOS batch"),
    _node("capture_physician_request_record", "serviceTask", "OOS-06 OOS-16 OOS-17",
          "Capture physician request record"),
    _node("batch_requested", "exclusiveGateway", "OOS-03 OOS-07", "Requested and attested?"),
    _user(RECORD_BATCH_DISPOSITION, "qa", "OOS-07", "Record batch disposition"),
    _node("capture_disposition_record", "serviceTask", "OOS-07 OOS-17", "Capture disposition record"),
    _node(CASE_CLOSED_NOT_SUPPLIED, "endEvent", "OOS-07", "Case closed, batch not supplied"),
    _user(VERIFY_BATCH_VERIFICATIONS, "qp", "OOS-08 OOS-09", "Verify batch verifications (QP)"),
    _node("is_imported", "exclusiveGateway", "OOS-09", "Batch imported?"),
    _user(VERIFY_IMPORT_PROCEDURES, "qp", "OOS-08 OOS-09", "Verify import procedures (QP)"),
    _node("import_verified_merge", "exclusiveGateway", "OOS-09", "import procedures verified"),
    _user(SUPPLY_BATCH, "qa", "OOS-06 OOS-13", "Supply batch to treating site"),
    _node("determine_notification_deadlines", "businessRuleTask", "OOS-13", "Determine notification deadlines"),
    _node("compute_sa_deadline", "scriptTask", "OOS-13", "Compute SA deadline"),
    _node("after_supply", "exclusiveGateway", "OOS-11 OOS-13", "SA notification required?"),
    _node("split_sa_and_nca", "parallelGateway", "OOS-06 OOS-10 OOS-13 OOS-14", "SA and NCA notifications"),
    _user(APPROVE_SA_NOTIFICATION, "mah_ra", "OOS-13 OOS-15", "Approve SA notification"),
    _node(SA_DEADLINE_OVERDUE, "boundaryEvent", "OOS-13", "SA notification deadline passed"),
    _node(SA_DEADLINE_ESCALATION, "boundaryEvent", "OOS-13", "SA notification escalation time"),
    _node("escalate_sa_deadline", "serviceTask", "OOS-13", "Escalate: SA deadline near"),
    _node("escalation_sent", "endEvent", "OOS-13", "Escalation sent"),
    _node("flag_sa_notification_overdue", "serviceTask", "OOS-13", "Flag SA notification overdue"),
    _node("overdue_flagged", "endEvent", "OOS-13", "Overdue flagged"),
    _node("notify_supervisory_authority", "serviceTask", "OOS-13", "Notify Supervisory Authority"),
    _node("nca_answer_needed", "exclusiveGateway", "OOS-06 OOS-10 OOS-14", "NCA answer known?"),
    _user(CONFIRM_NCA_REQUIREMENT, "mah_ra", "OOS-06 OOS-10 OOS-13 OOS-14",
          "Confirm with NCA whether it must be informed"),
    _node("apply_nca_answer", "scriptTask", "OOS-14", "Apply NCA answer"),
    _node("nca_answer_applied", "exclusiveGateway", "OOS-14", "NCA answer applied"),
    _node("join_sa_and_nca", "parallelGateway", "OOS-13 OOS-14", "SA and NCA notified"),
    _node("nca_required", "exclusiveGateway", "OOS-14", "NCA to be informed?"),
    _node("notify_national_authority", "serviceTask", "OOS-14", "Notify national authority (NCA)"),
    _node("nca_merge", "exclusiveGateway", "OOS-14", "NCA informed where required"),
    _user(RECORD_SPONSOR_CA_NOTIFICATION, "sponsor", "OOS-11 OOS-15", "Record sponsor's CA notification"),
    _node("authorities_notified_merge", "exclusiveGateway", "OOS-11 OOS-13", "authorities notified"),
    _node("prepare_patient_information_text", "serviceTask", "OOS-18", "Prepare patient information"),
    _user(CONFIRM_PATIENT_INFORMED_AND_ADMINISTRATION, "physician", "OOS-18 OOS-19",
          "Confirm patient informed and administration"),
    _node("capture_case_records", "serviceTask", "OOS-16 OOS-17", "Capture case file records"),
    _user(REVIEW_RECORDS_AND_CLOSE, "qa", "OOS-16 OOS-17", "Review records and close case"),
    _node(CASE_CLOSED, "endEvent", "OOS-16", "Case closed"),
)

_WRITTEN_AGREEMENT = (
    _node("agreement_requested", "startEvent", "OOS-15", "Agreement requested"),
    _node("draft_or_revise", "exclusiveGateway", "OOS-15", "draft or revise"),
    _user(DRAFT_AGREEMENT, "qa", "OOS-15", "Draft written agreement"),
    _user(REVIEW_AGREEMENT, "mah_ra", "OOS-15", "Review written agreement"),
    _node("review_outcome", "exclusiveGateway", "OOS-15", "Approved?"),
    _node("collect_signatures", "parallelGateway", "OOS-15 OOS-24", "collect every party's signature"),
    _user("sign_for_manufacturer", "qa", "OOS-15 OOS-24", "Sign for the manufacturer"),
    _node("importer_is_party", "exclusiveGateway", "OOS-15", "Importer is a party?"),
    _user("sign_for_importer", "importer_qa", "OOS-15 OOS-24", "Sign for the importer"),
    _node("importer_signed_merge", "exclusiveGateway", "OOS-15", "importer signed"),
    _user("sign_for_mah", "mah_ra", "OOS-15 OOS-24", "Sign for the MAH"),
    _node("all_signed", "parallelGateway", "OOS-15", "all parties signed"),
    _node(AGREEMENT_IN_FORCE, "endEvent", "OOS-15", "Agreement in force"),
)

_PERIODIC_REVIEW = (
    _node("review_period_ended", "startEvent", "OOS-20", "Six-month review period ended"),
    _node("assemble_review_data", "serviceTask", "OOS-17 OOS-20 OOS-21 OOS-23", "Assemble review data and report"),
    _user(QA_REVIEW, "qa", "OOS-21", "QA review of the periodic review"),
    _node("split_review", "parallelGateway", "OOS-20 OOS-23", "submission and escalation"),
    _user(APPROVE_REVIEW, "mah_ra", "OOS-20 OOS-24", "Approve and sign the periodic review"),
    _user(RECORD_EMA_SUBMISSION, "mah_ra", "OOS-20", "Record submission to EMA"),
    _user(RECORD_CAT_FORWARDING, "mah_ra", "OOS-22", "Record forwarding to the CAT rapporteur"),
    _node("questions_merge", "exclusiveGateway", "OOS-22", "questions round"),
    _user(RECORD_EMA_QUESTIONS, "mah_ra", "OOS-22", "Record EMA questions"),
    _node("questions_open", "exclusiveGateway", "OOS-22", "Questions received?"),
    _user(ANSWER_EMA_QUESTIONS, "mah_ra", "OOS-22", "Answer EMA questions"),
    _user(RECORD_REGULATORY_ACTIONS, "mah_ra", "OOS-22", "Record regulatory actions to closure"),
    _node("capture_review_record", "serviceTask", "OOS-17 OOS-22", "Capture periodic review record"),
    _node("signals_found", "exclusiveGateway", "OOS-23", "Signals above threshold?"),
    _user(OPEN_CAPA, "qa", "OOS-23", "Open CAPA for the signals"),
    _user(MANAGEMENT_REVIEW, "management", "OOS-23", "Management review of the signals"),
    _node("escalation_merge", "exclusiveGateway", "OOS-23", "escalation done"),
    _node("join_review", "parallelGateway", "OOS-20 OOS-22 OOS-23", "submission and escalation done"),
    _node("review_closed", "endEvent", "OOS-20 OOS-22", "Periodic review closed"),
)
# fmt: on

PATHWAY: dict[str, PathwayProcess] = {
    OOS_CASE: PathwayProcess(OOS_CASE, _OOS_CASE),
    WRITTEN_AGREEMENT: PathwayProcess(WRITTEN_AGREEMENT, _WRITTEN_AGREEMENT),
    PERIODIC_REVIEW: PathwayProcess(PERIODIC_REVIEW, _PERIODIC_REVIEW),
}
