"""Notifications worker: renders a notification to a party and delivers it (OOS-04, -06, -11..-14).

Each message states the recipient party, the regulatory basis with its requirement ID,
the case and batch references and the deadline it serves. Delivery evidence (channel,
time, Message-ID, SHA-256 of the payload) is recorded on the case.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.bootstrap import Oospath
from engine.domain.authorities import national_requirement
from engine.services.evidence import Delivery, delivery_for_task, record_delivery, records_of_case
from engine.settings import Settings
from engine.store.record_store import read_content
from workers.base import Worker
from workers.channels import Channel, channel_from_settings
from workers.transport.base import Transport

SENDER = "oospath <oospath@manufacturer.example>"

# Development defaults; production sets OOSPATH_PARTY_DIRECTORY to a JSON file of the same shape.
DEFAULT_PARTY_DIRECTORY: dict[str, dict[str, str]] = {
    "treating_physician": {"name": "Treating physician", "address": "treating.physician@hospital.example"},
    "mah": {"name": "MAH regulatory affairs", "address": "regulatory.affairs@mah.example"},
    "supervisory_authority": {"name": "Supervisory Authority (MIA site)",
                              "address": "gmp.inspectorate@authority.example"},
    "national_competent_authority": {"name": "National competent authority", "address": "atmp@nca.example"},
    "sponsor": {"name": "Clinical-trial sponsor", "address": "clinical.quality@sponsor.example"},
    "qa_head": {"name": "Head of Quality Assurance", "address": "qa.head@manufacturer.example"},
}

REGULATORY_BASIS = {
    "OOS-04": "EU GMP Part IV 11.5: the treating physician must be informed that the batch is out of specification.",
    "OOS-06": "EU GMP Part IV 11.5: the manufacturer's risk evaluation is provided to the treating physician.",
    "OOS-11": "Clinical trials: the manufacturer promptly informs the sponsor.",
    "OOS-12": "Authorised products: the MAH and the Supervisory Authority are informed.",
    "OOS-13": "The Supervisory Authority is notified within 48 hours of supply at the physician's request.",
    "OOS-14": "The national competent authority of the treating site's country is informed where it requires it.",
}

DEADLINES = {
    "OOS-13": "within 48 hours of the recorded supply time",
    "OOS-04": "immediately (first task of the case)",
    "OOS-11": "promptly",
}


def party_directory(settings: Settings) -> dict[str, dict[str, str]]:
    """The parties' names and addresses: the JSON file ``settings.party_directory``, else the defaults."""
    path = settings.party_directory
    return json.loads(path.read_text()) if path else DEFAULT_PARTY_DIRECTORY


# Requirements whose notification is due at the time the diagram computed (process variable).
DUE_VARIABLES = {"OOS-13": "sa_due_at", "OOS-14": "nca_due_at"}


def due_at(work: dict[str, Any]) -> datetime | None:
    variable = DUE_VARIABLES.get(work["params"].get("requirement", ""))
    value = work.get("context", {}).get(variable) if variable else None
    return datetime.fromisoformat(value) if value else None


def render(work: dict[str, Any], directory: dict[str, dict[str, str]], now: datetime) -> EmailMessage:
    """The notification; one sent after its deadline says so in its subject and body (OOS-13)."""
    params, context = work["params"], work.get("context", {})
    due = due_at(work)
    late = due is not None and now > due
    party = params.get("party", "")
    contact = directory.get(party) or {"name": party, "address": f"{party}@unknown.example"}
    requirement = params.get("requirement")
    lines = [
        f"To: {contact['name']}",
        f"Case: {context.get('case_reference', work.get('case_id'))}   Batch: {work.get('batch_id')}   "
        f"Product: {context.get('product_code')}",
        "",
        params.get("subject", work.get("element_name", "")),
        "",
        "Out-of-specification results:",
    ]
    for finding in context.get("oos_findings", []):
        lines.append(f"  - {finding['attribute']}: measured {finding['measured']}, limit {finding['limit']}")
    if context.get("risk_level"):
        lines += ["", f"Risk level of the manufacturer's risk evaluation (ICH Q9): {context['risk_level']}"]
    if context.get("supplied_at"):
        lines.append(f"Supplied to the treating site at: {context['supplied_at']}")
    lines += [
        "",
        f"Regulatory basis ({requirement}): {REGULATORY_BASIS.get(requirement or '', 'EU GMP Part IV 11.5')}",
        f"Deadline served: {DEADLINES.get(requirement or '', 'as stated in the case')}"
        + (f" (due {due:%Y-%m-%d %H:%M} UTC)" if due else ""),
    ]
    signed = [value for key, value in sorted(context.items()) if key.startswith("signature__")]
    if signed:
        lines += ["", "Signed decisions (OOS-24, 21 CFR 11.50):"]
        lines += [f"  - {sig['statement']}: {sig['printed_name']}, {sig['signed_at']} UTC, "
                  f"meaning '{sig['meaning']}', SHA-256 {sig['sha256']}" for sig in signed]
    if late:
        lines.append(f"THIS NOTIFICATION IS LATE: it was due {due:%Y-%m-%d %H:%M} UTC and is sent "
                     f"{now:%Y-%m-%d %H:%M} UTC.")
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = contact["address"]
    subject = params.get("subject", work.get("element_name"))
    message["Subject"] = f"{'[LATE] ' if late else ''}[{context.get('case_reference', 'OOS')}] {subject}"
    message["Message-ID"] = f"<{work['message_id']}@oospath>"
    message["Date"] = format_datetime(datetime.fromisoformat(work["requested_at"]))
    message["X-Oospath-Case"] = str(work.get("case_id"))
    message["X-Oospath-Requirement"] = str(requirement)
    message.set_content("\n".join(lines))
    return message


class NotificationWorker(Worker):
    kind = "notifications"

    def __init__(self, app: Oospath, transport: Transport, channel: Channel | None = None) -> None:
        super().__init__(app, transport)
        assert app.settings.mail_outbox is not None
        self.channel = channel or channel_from_settings(app.settings.smtp_url, app.settings.mail_outbox)
        self.directory = party_directory(app.settings)

    def perform(self, session: Session, work: dict[str, Any]) -> dict[str, Any]:
        now = self.app.clock.now()
        message = render(work, self.directory, now)
        self.attach_required_records(session, work, message)  # covered by the payload's SHA-256
        payload = bytes(message)
        self.channel.deliver(message)
        params = work["params"]
        due = due_at(work)
        row = record_delivery(session, now, self.actor, work, Delivery(
            party=params.get("party", ""), recipient=str(message["To"]), subject=str(message["Subject"]),
            requirement=params.get("requirement"), channel=self.channel.name,
            message_id=str(message["Message-ID"]), payload_sha256=hashlib.sha256(payload).hexdigest(),
            due_at=due, late=due is not None and now > due,
        ))
        return _result(row)

    def attach_required_records(self, session: Session, work: dict[str, Any], message: EmailMessage) -> list[str]:
        """A national overlay may ask for records with the notification (OOS-14: IGJ wants the risk analysis)."""
        context = work.get("context", {})
        if work["params"].get("party") != "national_competent_authority" or not context.get("treating_country"):
            return []
        wanted = national_requirement(context["treating_country"]).attachments
        attached = []
        for record in records_of_case(session, work.get("case_id") or ""):
            if record.record_type in wanted and record.record_type not in attached:
                assert self.app.settings.record_store is not None
                content = read_content(self.app.settings.record_store, record.sha256)
                maintype, _, subtype = record.media_type.partition("/")
                message.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream",
                                       filename=f"{record.record_type}-{record.sha256[:12]}.json")
                attached.append(record.record_type)
        return attached

    def previous_result(self, session: Session, work: dict[str, Any]) -> dict[str, Any] | None:
        row = delivery_for_task(session, work["task_id"])
        return _result(row) if row else None


def _result(row: Any) -> dict[str, Any]:
    return {"delivered": True, "party": row.party, "recipient": row.recipient, "channel": row.channel,
            "message_id": row.message_id, "sha256": row.payload_sha256,
            "delivered_at": row.delivered_at.isoformat(), "late": row.late}
