"""Sign-in through the organisation's own identity provider (OpenID Connect) (OOS-24, OOS-25).

A bearer token that is a JWT is accepted when it is signed (RS256 or ES256 only; never "none",
never HMAC) by a key of the configured issuer's key set (``OOSPATH_OIDC_JWKS``: a JWKS file,
re-read when it changes, or an https URL, cached for ``JWKS_TTL``), names the configured issuer
and audience, and is inside its validity window (exp, nbf) at the clock's time.

Its claims become the actor by configuration (``OOSPATH_OIDC_CLAIMS``, a JSON file): which claim
names the user, the printed name, the organisation (legal entity; it must be one known here)
and the roles, and ``role_map`` from the provider's group names to the roles of OOS-25. Roles
that are not OOS-25 roles are dropped; a token left with none is refused.

At signing (21 CFR 11.200) an OIDC user re-authenticates at the provider and gives the fresh
ID token: :func:`check_fresh_authentication` accepts it only for the same user and when its
``auth_time`` (or ``iat``) is at most ``max_age`` old.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services.accounts import Unauthenticated
from engine.services.identity import ROLES, Actor
from engine.settings import Settings
from engine.store.identity_models import Organisation, User

ALGORITHMS = ("RS256", "ES256")
JWKS_TTL = 300.0  # seconds a fetched key set is used before it is fetched again
JWKS_REFETCH_AFTER = 30.0  # an unknown key id fetches the set again, at most this often
JWKS_MAX_BYTES = 1024 * 1024
LEEWAY = timedelta(seconds=30)  # clock skew between the provider and this installation
FRESH_AUTHENTICATION_MAX_AGE = timedelta(minutes=5)
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ClaimMap:
    """Which claim carries what; ``user`` None: ``preferred_username``, else ``sub``.

    Dotted names reach nested claims (``realm_access.roles``). With a ``role_map``, only mapped groups count.
    """

    user: str | None = None
    printed_name: str = "name"
    organisation: str = "org"
    roles: str = "roles"
    role_map: dict[str, str] = field(default_factory=dict)


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts whose first is a JSON header naming an algorithm (opaque tokens have no dots)."""
    if not _JWT_SHAPE.match(token or ""):
        return False
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False
    return isinstance(header, dict) and "alg" in header


# ---- configuration: the claim map and the issuer's keys ------------------------------------------------------------
_claim_maps: dict[str, tuple[tuple[int, int], ClaimMap]] = {}
_key_files: dict[str, tuple[tuple[int, int], jwt.PyJWKSet]] = {}
_key_urls: dict[str, tuple[float, jwt.PyJWKSet]] = {}


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def claim_map(settings: Settings) -> ClaimMap:
    """The claim map of OOSPATH_OIDC_CLAIMS (defaults when unset), re-read when the file changes."""
    if not settings.oidc_claims:
        return ClaimMap()
    path = Path(settings.oidc_claims)
    try:
        stamp = _stamp(path)
        cached = _claim_maps.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded = _parse_claim_map(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise Unauthenticated(f"OIDC is misconfigured: the claims file OOSPATH_OIDC_CLAIMS={path} "
                              f"cannot be used ({exc})") from exc
    _claim_maps[str(path)] = (stamp, loaded)
    return loaded


def _parse_claim_map(data: Any) -> ClaimMap:
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object")
    unknown = set(data) - {"user", "printed_name", "organisation", "roles", "role_map"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    role_map = data.get("role_map") or {}
    if not isinstance(role_map, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in role_map.items()):
        raise ValueError("role_map must map group names to role names")
    names = {k: data[k] for k in ("user", "printed_name", "organisation", "roles") if data.get(k) is not None}
    if not all(isinstance(v, str) and v for v in names.values()):
        raise ValueError("claim names must be non-empty strings")
    return ClaimMap(role_map=dict(role_map), **names)


def _key_set(settings: Settings, refresh: bool = False) -> jwt.PyJWKSet:
    source = settings.oidc_jwks or ""
    try:
        if source.startswith("https://"):
            return _key_set_from_url(source, refresh)
        if "://" in source:
            raise ValueError("a key set URL must use https")
        path = Path(source)
        stamp = _stamp(path)
        cached = _key_files.get(source)
        if cached is None or cached[0] != stamp:
            cached = (stamp, jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8")))
            _key_files[source] = cached
        return cached[1]
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        raise Unauthenticated(f"OIDC is misconfigured: the issuer's keys (OOSPATH_OIDC_JWKS={source}) "
                              f"cannot be read ({exc})") from exc


def _key_set_from_url(url: str, refresh: bool) -> jwt.PyJWKSet:
    now = time.monotonic()
    cached = _key_urls.get(url)
    if cached is not None and now - cached[0] < (JWKS_REFETCH_AFTER if refresh else JWKS_TTL):
        return cached[1]
    with urllib.request.urlopen(url, timeout=5) as response:  # https only, checked by _key_set
        body = response.read(JWKS_MAX_BYTES + 1)
    if len(body) > JWKS_MAX_BYTES:
        raise ValueError(f"the key set is larger than {JWKS_MAX_BYTES} bytes")
    keys = jwt.PyJWKSet.from_json(body.decode("utf-8"))
    _key_urls[url] = (now, keys)
    return keys


def _signing_key(settings: Settings, key_id: str | None, algorithm: str) -> jwt.PyJWK:
    for refresh in (False, True):
        usable = [k for k in _key_set(settings, refresh).keys
                  if k.public_key_use in (None, "sig") and k.algorithm_name == algorithm]
        chosen = [k for k in usable if k.key_id == key_id] if key_id else usable
        if len(chosen) == 1:
            return chosen[0]
        if not key_id and len(chosen) > 1:
            raise Unauthenticated("the token names no key id (kid) and the issuer has several keys")
    raise Unauthenticated(f"unknown key: the issuer has no {algorithm} signing key with id '{key_id}'")


# ---- verification ----------------------------------------------------------------------------------------------
def _require_configuration(settings: Settings) -> None:
    missing = [name for name, value in (("OOSPATH_OIDC_ISSUER", settings.oidc_issuer),
                                        ("OOSPATH_OIDC_AUDIENCE", settings.oidc_audience),
                                        ("OOSPATH_OIDC_JWKS", settings.oidc_jwks)) if not value]
    if missing:
        raise Unauthenticated(f"OIDC sign-in is not configured here ({', '.join(missing)} unset): "
                              "log in with POST /api/v1/auth/token")


def verified_claims(settings: Settings, token: str, at: datetime) -> dict[str, Any]:
    """The claims of a token the configured issuer signed for the configured audience, valid at ``at``."""
    _require_configuration(settings)
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the bearer token is not a well-formed JWT ({exc})") from exc
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise Unauthenticated(f"the token's algorithm '{algorithm}' is not accepted (only {', '.join(ALGORITHMS)})")
    if unverified.get("iss") != settings.oidc_issuer:
        raise Unauthenticated(f"wrong issuer: the token is from '{unverified.get('iss')}', "
                              f"this installation accepts '{settings.oidc_issuer}'")
    key = _signing_key(settings, header.get("kid"), algorithm)
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm], audience=settings.oidc_audience,
                            issuer=settings.oidc_issuer,
                            options={"require": ["exp", "iss", "aud"], "verify_exp": False,
                                     "verify_nbf": False, "verify_iat": False})
    except jwt.InvalidSignatureError as exc:
        raise Unauthenticated("bad signature: the token was not signed by the issuer's key") from exc
    except jwt.InvalidAudienceError as exc:
        raise Unauthenticated(f"wrong audience: the token is not for '{settings.oidc_audience}'") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated(f"the token lacks the '{exc.claim}' claim") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the token is not valid ({exc})") from exc
    _check_validity_window(claims, at)
    return claims


def _instant(claims: dict[str, Any], name: str) -> datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated(f"the token's '{name}' claim is not a time (seconds since 1970)")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise Unauthenticated(f"the token's '{name}' claim is out of range") from exc


def _check_validity_window(claims: dict[str, Any], at: datetime) -> None:
    expires = _instant(claims, "exp")
    if expires is not None and expires + LEEWAY <= at:
        raise Unauthenticated(f"the token expired at {expires.isoformat()}: sign in again")
    not_before = _instant(claims, "nbf")
    if not_before is not None and not_before - LEEWAY > at:
        raise Unauthenticated(f"the token is not valid before {not_before.isoformat()}")


def _claim(claims: dict[str, Any], name: str) -> Any:
    value: Any = claims
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _user_of(claims: dict[str, Any], names: ClaimMap) -> str:
    user = _claim(claims, names.user) if names.user else (claims.get("preferred_username") or claims.get("sub"))
    if not isinstance(user, str) or not user.strip():
        raise Unauthenticated(f"the token names no user (claim '{names.user or 'preferred_username'}')")
    return user.strip()[:200]


def _roles_of(claims: dict[str, Any], names: ClaimMap) -> frozenset[str]:
    given = _claim(claims, names.roles)
    if isinstance(given, str):
        given = re.split(r"[\s,]+", given)
    if not isinstance(given, list):
        given = []
    groups = [g for g in given if isinstance(g, str)]
    mapped = [names.role_map.get(g) for g in groups] if names.role_map else groups
    return frozenset(role for role in mapped if role in ROLES)


def actor_from_oidc(session: Session, settings: Settings, token: str, at: datetime) -> Actor:
    """The actor an OIDC token names; raises Unauthenticated with the reason otherwise (OOS-25)."""
    claims = verified_claims(settings, token, at)
    names = claim_map(settings)
    user = _user_of(claims, names)
    local = session.scalar(select(User).where(User.username == user))
    if local is not None and local.disabled:
        raise Unauthenticated(f"the account '{user}' is disabled here")
    organisation = _claim(claims, names.organisation)
    if not isinstance(organisation, str) or not organisation:
        raise Unauthenticated(f"the token names no organisation (claim '{names.organisation}')")
    if session.scalar(select(Organisation.id).where(Organisation.name == organisation)) is None:
        raise Unauthenticated(f"unknown organisation '{organisation}': it is not registered here "
                              "(an administrator adds it with `oospath orgs add`)")
    roles = _roles_of(claims, names)
    if not roles:
        raise Unauthenticated(f"no roles: the token's '{names.roles}' claim holds none of the roles "
                              f"{', '.join(ROLES)} (after role_map)")
    printed = _claim(claims, names.printed_name)
    printed_name = printed.strip()[:300] if isinstance(printed, str) and printed.strip() else user
    jti = claims.get("jti")
    return Actor(user, roles, organisation, printed_name, jti if isinstance(jti, str) else None, "oidc")


def check_fresh_authentication(settings: Settings, id_token: str, actor: Actor, at: datetime,
                               max_age: timedelta = FRESH_AUTHENTICATION_MAX_AGE) -> None:
    """Raises Unauthenticated unless ``id_token`` is valid, names ``actor``'s user, and was issued for an
    authentication (``auth_time``, else ``iat``) at most ``max_age`` before ``at`` (21 CFR 11.200)."""
    claims = verified_claims(settings, id_token, at)
    if _user_of(claims, claim_map(settings)) != actor.user:
        raise Unauthenticated("the ID token is not yours: it names another user")
    authenticated = _instant(claims, "auth_time") or _instant(claims, "iat")
    if authenticated is None:
        raise Unauthenticated("the ID token carries neither 'auth_time' nor 'iat'")
    if authenticated - LEEWAY > at:
        raise Unauthenticated("the ID token's authentication time lies in the future")
    if at - authenticated > max_age:
        raise Unauthenticated(f"the authentication is not fresh: it was at {authenticated.isoformat()}, more "
                              f"than {int(max_age.total_seconds() // 60)} minutes ago; sign in again to sign")


def fresh_authentication(session: Session, settings: Settings, id_token: str, actor: Actor, at: datetime,
                         max_age: timedelta = FRESH_AUTHENTICATION_MAX_AGE) -> bool:
    """True when :func:`check_fresh_authentication` accepts the ID token."""
    try:
        check_fresh_authentication(settings, id_token, actor, at, max_age)
    except Unauthenticated:
        return False
    return True
