"""Accounts: organisations, users, role memberships, logins and bearer tokens (OOS-24, OOS-25).

Passwords are Argon2id hashes (argon2-cffi); a bearer token is 32 random bytes shown once and
stored as its SHA-256, with an expiry; logout revokes it. Failed logins are counted per user
name: after ``max_failures`` within ``window`` further attempts are refused until the window
passes. Every login, refusal, logout and administrative change is in the audit trail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, InvalidData, NotFound, ServiceError
from engine.services.identity import ROLES, SYSTEM, Actor
from engine.store.identity_models import (
    ORGANISATION_KINDS,
    AuthToken,
    LoginAttempt,
    Membership,
    Organisation,
    User,
)

#: Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~25 ms per check here, against ~130 ms
#: for argon2-cffi's default (64 MiB, 3 passes, 4 lanes), which every electronic signature would pay again.
#: Each hash carries its parameters, so hashes made with other parameters keep verifying.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 12


class Unauthenticated(ServiceError):
    status = 401
    title = "Unauthenticated"


class TooManyAttempts(ServiceError):
    status = 429
    title = "Too many login attempts"


@dataclass(frozen=True)
class LoginPolicy:
    token_lifetime: timedelta = timedelta(hours=8)
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    actor: Actor


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def add_organisation(session: Session, at: datetime, name: str, kind: str, by: Actor = SYSTEM) -> Organisation:
    if kind not in ORGANISATION_KINDS:
        raise InvalidData(f"organisation kind '{kind}' is not one of {', '.join(ORGANISATION_KINDS)}")
    if session.scalar(select(Organisation).where(Organisation.name == name)) is not None:
        raise Conflict(f"organisation '{name}' already exists")
    org = Organisation(name=name, kind=kind, created_at=at)
    session.add(org)
    session.flush()
    audit.append(session, at, by, AuditEvent("organisation.added", data_after={"name": name, "kind": kind}))
    return org


def get_organisation(session: Session, name: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise NotFound(f"organisation '{name}' does not exist (add it with `oospath orgs add`)")
    return org


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user '{username}' does not exist")
    return user


def _check_password_quality(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidData(f"password: at least {MIN_PASSWORD_LENGTH} characters are required")


def add_user(session: Session, at: datetime, username: str, printed_name: str, password: str | None,
             memberships: list[tuple[str, str]] = (), by: Actor = SYSTEM) -> User:  # type: ignore[assignment]
    """A user with Argon2-hashed password (None: signs in through OIDC only) and (organisation, role) pairs."""
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user '{username}' already exists")
    if password is not None:
        _check_password_quality(password)
    user = User(username=username, printed_name=printed_name, created_at=at, disabled=False, is_admin=False,
                password_hash=HASHER.hash(password) if password is not None else None)
    session.add(user)
    session.flush()
    audit.append(session, at, by, AuditEvent("user.added", data_after={"username": username,
                                                                       "printed_name": printed_name}))
    for org_name, role in memberships:
        grant(session, at, username, org_name, role, by)
    return user


def grant(session: Session, at: datetime, username: str, org_name: str, role: str, by: Actor = SYSTEM) -> None:
    if role not in ROLES:
        raise InvalidData(f"role '{role}' is not one of {', '.join(ROLES)}")
    user, org = get_user(session, username), get_organisation(session, org_name)
    if session.get(Membership, (user.id, org.id, role)) is None:
        session.add(Membership(user_id=user.id, organisation_id=org.id, role=role))
        session.flush()
        audit.append(session, at, by, AuditEvent("user.role_granted", data_after={
            "username": username, "organisation": org_name, "role": role}))


def revoke(session: Session, at: datetime, username: str, org_name: str, role: str, by: Actor = SYSTEM) -> None:
    user, org = get_user(session, username), get_organisation(session, org_name)
    membership = session.get(Membership, (user.id, org.id, role))
    if membership is None:
        raise NotFound(f"user '{username}' does not hold role '{role}' at '{org_name}'")
    session.delete(membership)
    session.flush()
    audit.append(session, at, by, AuditEvent("user.role_revoked", data_after={
        "username": username, "organisation": org_name, "role": role}))


def disable(session: Session, at: datetime, username: str, by: Actor = SYSTEM) -> None:
    """A disabled user can no longer sign in, and every token of theirs stops working at once."""
    user = get_user(session, username)
    user.disabled = True
    for token in session.scalars(select(AuthToken).where(AuthToken.user_id == user.id,
                                                         AuthToken.revoked_at.is_(None))):
        token.revoked_at = at
    audit.append(session, at, by, AuditEvent("user.disabled", data_after={"username": username}))


def set_password(session: Session, at: datetime, username: str, password: str, by: Actor = SYSTEM) -> None:
    _check_password_quality(password)
    get_user(session, username).password_hash = HASHER.hash(password)
    audit.append(session, at, by, AuditEvent("user.password_set", data_after={"username": username}))


def password_matches(user: User, password: str) -> bool:
    if not user.password_hash or user.disabled:
        return False
    try:
        return HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def memberships_of(session: Session, user: User) -> dict[str, set[str]]:
    """Organisation name -> roles held there."""
    rows = session.execute(select(Organisation.name, Membership.role).join(
        Membership, Membership.organisation_id == Organisation.id).where(Membership.user_id == user.id))
    held: dict[str, set[str]] = {}
    for org_name, role in rows:
        held.setdefault(org_name, set()).add(role)
    return held


def actor_for(session: Session, user: User, org_name: str | None, token_id: str | None, via: str) -> Actor:
    """The actor acting for one organisation: roles are read now, so a revoked role stops at once."""
    held = memberships_of(session, user)
    if org_name is None:
        if len(held) > 1:
            choice = InvalidData(f"organisation: user '{user.username}' works for {len(held)} organisations; "
                                 f"name one of {sorted(held)}")
            choice.extra["organisations"] = sorted(held)
            raise choice
        org_name = next(iter(held), None)
    if org_name is not None and org_name not in held:
        raise Unauthenticated(f"user '{user.username}' holds no role at organisation '{org_name}'")
    return Actor(user.username, frozenset(held.get(org_name or "", set())), org_name, user.printed_name,
                 token_id, via)


def _recent_failures(session: Session, at: datetime, username: str, policy: LoginPolicy) -> int:
    return session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.succeeded.is_(False),
        LoginAttempt.at > at - policy.window)) or 0


def record_attempt(session: Session, at: datetime, username: str, succeeded: bool, remote_addr: str | None,
                   reason: str | None = None) -> None:
    """Written in the caller's own transaction, which commits even when the login is refused."""
    session.add(LoginAttempt(username=username[:200], at=at, succeeded=succeeded, remote_addr=remote_addr))
    audit.append(session, at, Actor(username[:200], frozenset(), via="login"), AuditEvent(
        "login.succeeded" if succeeded else "login.refused", reason=reason,
        data_after={"username": username[:200], "remote_addr": remote_addr}))


def check_login(session: Session, at: datetime, username: str, password: str, policy: LoginPolicy) -> User:
    """The user if the password is right; raises (after the caller records the attempt) otherwise."""
    if _recent_failures(session, at, username, policy) >= policy.max_failures:
        raise TooManyAttempts(f"{policy.max_failures} failed logins for '{username}' in the last "
                              f"{int(policy.window.total_seconds() // 60)} minutes: try again later",
                              retry_after=int(policy.window.total_seconds()))
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not password_matches(user, password):
        raise Unauthenticated("user name or password is wrong, or the account is disabled")
    return user


def issue_token(session: Session, at: datetime, user: User, org_name: str | None, policy: LoginPolicy
                ) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    digest = token_sha256(token)
    actor = actor_for(session, user, org_name, digest, "token")
    org = get_organisation(session, actor.organisation) if actor.organisation else None
    if org is None:
        raise Unauthenticated(f"user '{user.username}' holds no role at any organisation")
    expires = at + policy.token_lifetime
    session.add(AuthToken(token_sha256=digest, user_id=user.id, organisation_id=org.id, issued_at=at,
                          expires_at=expires, revoked_at=None, signed_at=None))
    return IssuedToken(token, expires, actor)


#: A token with its user, organisation and the roles held there (built once; bound per request).
_TOKEN_HOLDER = (
    select(AuthToken.revoked_at, AuthToken.expires_at, User.username, User.printed_name, User.disabled,
           Organisation.name, Membership.role)
    .select_from(AuthToken)
    .join(User, User.id == AuthToken.user_id)
    .join(Organisation, Organisation.id == AuthToken.organisation_id)
    .outerjoin(Membership, (Membership.user_id == User.id) & (Membership.organisation_id == Organisation.id))
    .where(AuthToken.token_sha256 == bindparam("digest"))
)


def resolve_token(session: Session, at: datetime, token: str) -> Actor:
    """The actor a bearer token stands for, read in one statement at every request: the token with its user,
    organisation and the roles held there now (a revoked role, a disabled user or a logout stops at once)."""
    digest = token_sha256(token)
    rows = session.execute(_TOKEN_HOLDER, {"digest": digest}).all()
    if not rows:
        raise Unauthenticated("the bearer token is not known: log in again (POST /api/v1/auth/token)")
    revoked_at, expires_at, username, printed_name, disabled, org_name, _ = rows[0]
    if revoked_at is not None:
        raise Unauthenticated("the bearer token was revoked (logout): log in again")
    if expires_at <= at:
        raise Unauthenticated("the bearer token has expired: log in again")
    if disabled:
        raise Unauthenticated("the account is disabled")
    roles = frozenset(role for *_, role in rows if role is not None)
    if not roles:
        raise Unauthenticated(f"user '{username}' holds no role at organisation '{org_name}'")
    return Actor(username, roles, org_name, printed_name, digest, "token")


def revoke_token(session: Session, at: datetime, actor: Actor) -> None:
    row = session.get(AuthToken, actor.token_id) if actor.token_id else None
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("no active login to end")
    row.revoked_at = at
    audit.append(session, at, actor, AuditEvent("logout", data_after={"username": actor.user}))
