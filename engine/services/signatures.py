"""Electronic signatures (21 CFR Part 11 §11.50, §11.200; EU GMP Annex 11 §14; OOS-24).

A signature is executed by re-entering credentials at the moment of signing: both the user
name and the password at the first signing within a login, the password alone at later
signings within the same login (§11.200(a)(1)). An actor without a login (the CLI, the demo's
scripted actors) always gives both. The signature records the printed name, the UTC time,
the meaning and the SHA-256 of exactly what was signed (canonical JSON of the content), and
is itself written to the hash-chained audit trail; its manifestation is shown with the record.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import audit
from engine.services.accounts import Unauthenticated, password_matches
from engine.services.audit import AuditEvent
from engine.services.errors import ServiceError
from engine.services.identity import Actor
from engine.services.oidc import check_fresh_authentication
from engine.settings import Settings
from engine.store.identity_models import AuthToken, SignatureRow, User

MEANINGS = {
    "request": "I request the use of this out-of-specification batch for my patient",
    "decline": "I decline the use of this out-of-specification batch",
    "verification": "I have performed the verifications this task names",
    "approval": "I approve the content shown",
    "agreement": "I sign this written agreement for my organisation",
    "submission": "I approve this submission to the authority",
    "closure": "I confirm the records are complete and close this case",
}


class SignatureRefused(ServiceError):
    """The credentials given to sign are missing or wrong; nothing was signed or changed."""

    status = 401
    title = "Signature refused"

    def __init__(self, detail: str) -> None:
        super().__init__(f"OOS-24: {detail}", requirement="OOS-24")


@dataclass(frozen=True)
class Credentials:
    """What the signer re-enters at signing."""

    username: str | None = None
    password: str | None = None
    # An OIDC signer re-authenticates at the identity provider and gives the fresh ID token instead of a password;
    # settings: the installation's OIDC configuration it is checked against (None: from the environment).
    id_token: str | None = None
    settings: Settings | None = field(default=None, repr=False, compare=False)


def content_sha256(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def first_signing(session: Session, actor: Actor) -> bool:
    token = session.get(AuthToken, actor.token_id) if actor.token_id else None
    return token is None or token.signed_at is None


def _authenticate_oidc(actor: Actor, credentials: Credentials | None, at: datetime) -> tuple[User, str]:
    """A fresh authentication at the identity provider; the signer needs no users row (printed name: the claim)."""
    if credentials is None or not credentials.id_token:
        raise SignatureRefused("this decision is signed: sign in again at your identity provider and give the "
                               "fresh ID token in 'signature' (id_token)")
    try:
        check_fresh_authentication(credentials.settings or Settings(), credentials.id_token, actor, at)
    except Unauthenticated as refused:
        raise SignatureRefused(f"{refused.detail}; nothing was signed") from refused
    # Transient (never added to the session): carries the signer's name and printed name to sign().
    return User(username=actor.user, printed_name=actor.printed_name or actor.user), "fresh OIDC authentication"


def _authenticate(session: Session, actor: Actor, credentials: Credentials | None, at: datetime
                  ) -> tuple[User, str]:
    if actor.via == "oidc":
        return _authenticate_oidc(actor, credentials, at)
    if credentials is not None and credentials.id_token:
        raise SignatureRefused("an ID token signs only for a login through OIDC: re-enter your password")
    if credentials is None or not credentials.password:
        raise SignatureRefused("this decision is signed: re-enter your password in 'signature'")
    first = first_signing(session, actor)
    if first and credentials.username != actor.user:
        raise SignatureRefused("the first signature of a login needs both components: your user name and "
                               "your password in 'signature'")
    if credentials.username not in (None, actor.user):
        raise SignatureRefused("a signature is executed only by its genuine owner: the user name is not yours")
    user = session.scalar(select(User).where(User.username == actor.user))
    if user is None or not password_matches(user, credentials.password):
        raise SignatureRefused("the password is wrong; nothing was signed")
    return user, "user name and password" if first else "password (continuous session)"


def sign(session: Session, at: datetime, actor: Actor, credentials: Credentials | None, *, meaning: str,
         subject_type: str, subject_id: str, content: Any, case_id: str | None = None,
         instance_id: str | None = None, element_id: str | None = None, statement: str | None = None
         ) -> SignatureRow:
    """Verify the signer and record the signature; raises SignatureRefused and signs nothing otherwise."""
    user, method = _authenticate(session, actor, credentials, at)
    row = SignatureRow(
        id=str(uuid.uuid4()), signer=user.username, printed_name=user.printed_name,
        organisation=actor.organisation, meaning=meaning, statement=statement or MEANINGS.get(meaning, meaning),
        signed_at=at, content_sha256=content_sha256(content), subject_type=subject_type, subject_id=subject_id,
        case_id=case_id, instance_id=instance_id, element_id=element_id, method=method, signed_content=content,
    )
    session.add(row)
    token = session.get(AuthToken, actor.token_id) if actor.token_id else None
    if token is not None and token.signed_at is None:
        token.signed_at = at
    audit.append(session, at, actor, AuditEvent(
        "signature.executed", instance_id=instance_id, case_id=case_id, element_id=element_id,
        data_after=manifestation(row)))
    return row


def manifestation(row: SignatureRow) -> dict[str, Any]:
    """What every view of a signed record shows (§11.50): printed name, time, meaning, what was signed."""
    return {"id": row.id, "printed_name": row.printed_name, "signer": row.signer, "organisation": row.organisation,
            "signed_at": row.signed_at.isoformat(), "meaning": row.meaning, "statement": row.statement,
            "sha256": row.content_sha256, "subject_type": row.subject_type, "subject_id": row.subject_id,
            "method": row.method}


def signatures_of_case(session: Session, case_id: str, instance_id: str | None = None) -> list[SignatureRow]:
    query = select(SignatureRow).where((SignatureRow.case_id == case_id) | (
        (SignatureRow.instance_id == instance_id) if instance_id else False)).order_by(SignatureRow.signed_at)
    return list(session.scalars(query))


def signatures_of_instance(session: Session, instance_id: str) -> list[SignatureRow]:
    return list(session.scalars(select(SignatureRow).where(SignatureRow.instance_id == instance_id)
                                .order_by(SignatureRow.signed_at)))


def signature_of(session: Session, subject_type: str, subject_id: str) -> list[SignatureRow]:
    return list(session.scalars(select(SignatureRow).where(
        SignatureRow.subject_type == subject_type, SignatureRow.subject_id == subject_id
    ).order_by(SignatureRow.signed_at)))
