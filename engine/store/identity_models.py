"""Identity tables: organisations (legal entities), users, role memberships per organisation,
bearer tokens, login attempts and electronic signatures (OOS-24, OOS-25).

Passwords are stored as Argon2 hashes only; tokens as the SHA-256 of the opaque token.
Signatures are append-only (database triggers refuse UPDATE and DELETE, migration 0005).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base

ORGANISATION_KINDS = ("manufacturer", "importer", "mah", "treating_site", "sponsor", "authority")


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    printed_name: Mapped[str] = mapped_column(String(300))
    password_hash: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Membership(Base):
    __tablename__ = "memberships"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(50), primary_key=True)


class AuthToken(Base):
    __tablename__ = "auth_tokens"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    signed_at: Mapped[datetime | None]  # first signature within this login (21 CFR 11.200(a)(1)(i))


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_user_at", "username", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(Boolean)
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class SignatureRow(Base):
    """One electronic signature: who (printed name), when (UTC), meaning, and the SHA-256 of what was signed."""

    __tablename__ = "signatures"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    signer: Mapped[str] = mapped_column(String(200), index=True)
    printed_name: Mapped[str] = mapped_column(String(300))
    organisation: Mapped[str | None] = mapped_column(String(300))
    meaning: Mapped[str] = mapped_column(String(50))
    statement: Mapped[str] = mapped_column(String(500))
    signed_at: Mapped[datetime]
    content_sha256: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    element_id: Mapped[str | None] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(40))
    signed_content: Mapped[dict[str, Any] | None]


class CaseParty(Base):
    """The organisations party to a case, so lists can be filtered by organisation in SQL (OOS-25)."""

    __tablename__ = "case_parties"
    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(300), primary_key=True, index=True)
