"""Sign-in and signing through the organisation's identity provider (OIDC) (OOS-24, OOS-25).

Keys are generated here, published as a JWKS file, and tokens are signed with PyJWT as a provider would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from engine.bootstrap import Oospath
from engine.services import accounts, oidc, signatures
from engine.services.accounts import Unauthenticated
from engine.settings import Settings

ISSUER = "https://login.klinikum-nord.example/realms/oospath"
AUDIENCE = "oospath-api"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(private_key: Any, kid: str) -> dict[str, Any]:
    rsa_key = isinstance(private_key, rsa.RSAPrivateKey)
    algorithm = jwt.algorithms.RSAAlgorithm if rsa_key else jwt.algorithms.ECAlgorithm
    return {**algorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


def _publish(path: Path, *keys: tuple[Any, str]) -> None:
    path.write_text(json.dumps({"keys": [_jwk(key, kid) for key, kid in keys]}))


@pytest.fixture
def oidc_app(app: Oospath, tmp_path: Path) -> Oospath:
    """The installation trusts ISSUER's key 'k1'; the organisation 'Klinikum Nord' is registered."""
    _publish(tmp_path / "jwks.json", (KEY, "k1"))
    app.settings = replace(app.settings, oidc_issuer=ISSUER, oidc_audience=AUDIENCE,
                           oidc_jwks=str(tmp_path / "jwks.json"))
    with app.uow() as uow:
        accounts.add_organisation(uow.session, app.clock.now(), "Klinikum Nord", "treating_site")
        uow.commit()
    return app


def _token(app: Oospath, key: Any = KEY, kid: str = "k1", algorithm: str = "RS256", **overrides: Any) -> str:
    now = app.clock.now()
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "f3a1", "preferred_username": "dr.weber",
              "name": "Dr. Lena Weber", "org": "Klinikum Nord", "roles": ["physician", "offline_access"],
              "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=10)).timestamp()), "jti": "j-1"}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm,
                      headers={"kid": kid})


def _actor(app: Oospath, token: str, settings: Settings | None = None) -> Any:
    with app.uow() as uow:
        return oidc.actor_from_oidc(uow.session, settings or app.settings, token, app.clock.now())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(app: Oospath) -> str:
    """alg none: no signature at all."""
    body = json.loads(base64.urlsafe_b64decode(_token(app).split(".")[1] + "=="))
    return f"{_b64(json.dumps({'alg': 'none', 'kid': 'k1'}).encode())}.{_b64(json.dumps(body).encode())}."


def _hmac_with_public_key(app: Oospath) -> str:
    """The classic confusion attack: HS256 'signed' with the issuer's public key as the shared secret."""
    body = _token(app).split(".")[1]
    header = _b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    secret = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


def test_oidc_token_maps_to_user_organisation_and_roles_oos25(oidc_app: Oospath) -> None:
    """OOS-25: the claims name the user, printed name and organisation; roles not of OOS-25 are dropped."""
    token = _token(oidc_app)
    assert oidc.looks_like_jwt(token)
    actor = _actor(oidc_app, token)
    assert (actor.user, actor.printed_name, actor.organisation) == ("dr.weber", "Dr. Lena Weber", "Klinikum Nord")
    assert actor.roles == {"physician"}
    assert (actor.via, actor.token_id) == ("oidc", "j-1")


def test_opaque_login_tokens_are_not_taken_for_jwts() -> None:
    assert not oidc.looks_like_jwt("kR3v0_sX2-pQ9aLmN8bC7dE6fG5hJ4kL3mN2pQ1rS0t")
    assert not oidc.looks_like_jwt("a.b")
    assert not oidc.looks_like_jwt("not.a.jwt")


@pytest.mark.parametrize("forge,reason", [
    (lambda app: _token(app, exp=int((app.clock.now() - timedelta(minutes=5)).timestamp())), "expired"),
    (lambda app: _token(app, nbf=int((app.clock.now() + timedelta(hours=1)).timestamp())), "not valid before"),
    (lambda app: _token(app, iss="https://evil.example/"), "wrong issuer"),
    (lambda app: _token(app, aud="another-api"), "wrong audience"),
    (lambda app: _token(app, key=OTHER_KEY), "bad signature"),
    (lambda app: _token(app, key=OTHER_KEY, kid="k9"), "unknown key"),
    (_unsigned, "algorithm 'none' is not accepted"),
    (_hmac_with_public_key, "algorithm 'HS256' is not accepted"),
    (lambda app: _token(app, exp=None), "lacks the 'exp' claim"),
    (lambda app: _token(app, org="Klinik Süd"), "unknown organisation 'Klinik Süd'"),
    (lambda app: _token(app, roles=["offline_access"]), "no roles"),
    (lambda app: _token(app, preferred_username=None, sub=None), "names no user"),
])
def test_oidc_token_refused_with_its_reason_oos24(oidc_app: Oospath, forge: Any, reason: str) -> None:
    """OOS-24: only the configured issuer's signed, current tokens for this audience sign anyone in."""
    with pytest.raises(Unauthenticated) as refused:
        _actor(oidc_app, forge(oidc_app))
    assert reason in refused.value.detail


def test_oidc_refused_when_not_configured(app: Oospath) -> None:
    with pytest.raises(Unauthenticated, match="OOSPATH_OIDC_ISSUER"):
        _actor(app, _token(app))


def test_disabled_local_account_cannot_sign_in_through_oidc_oos24(oidc_app: Oospath) -> None:
    with oidc_app.uow() as uow:
        accounts.add_user(uow.session, oidc_app.clock.now(), "dr.weber", "Dr. Lena Weber", None,
                          [("Klinikum Nord", "physician")])
        accounts.disable(uow.session, oidc_app.clock.now(), "dr.weber")
        uow.commit()
    with pytest.raises(Unauthenticated, match="disabled"):
        _actor(oidc_app, _token(oidc_app))


def test_claims_file_maps_groups_to_roles_oos25(oidc_app: Oospath, tmp_path: Path) -> None:
    """OOS-25: with a role_map only the mapped provider groups become roles, nested claims are reachable."""
    claims_file = tmp_path / "claims.json"
    claims_file.write_text(json.dumps({"user": "email", "printed_name": "name", "organisation": "org",
                                       "roles": "realm_access.groups",
                                       "role_map": {"oospath-qp": "qp", "oospath-qa": "qa"}}))
    settings = replace(oidc_app.settings, oidc_claims=str(claims_file))
    token = _token(oidc_app, email="lena.weber@klinikum-nord.example",
                   realm_access={"groups": ["oospath-qp", "admin", "staff"]})
    actor = _actor(oidc_app, token, settings)
    assert actor.user == "lena.weber@klinikum-nord.example"
    assert actor.roles == {"qp"}  # 'admin' is an OOS-25 role but not a mapped group: dropped


def test_rotated_key_file_is_read_again_es256(oidc_app: Oospath, tmp_path: Path) -> None:
    """The provider rotates to an EC key: the JWKS file is re-read when it changes."""
    new_key = ec.generate_private_key(ec.SECP256R1())
    token = _token(oidc_app, key=new_key, kid="k2", algorithm="ES256")
    with pytest.raises(Unauthenticated, match="unknown key"):
        _actor(oidc_app, token)
    jwks = tmp_path / "jwks.json"
    _publish(jwks, (KEY, "k1"), (new_key, "k2"))
    os.utime(jwks, ns=(jwks.stat().st_atime_ns, jwks.stat().st_mtime_ns + 1_000_000_000))
    assert _actor(oidc_app, token).user == "dr.weber"


def test_fresh_authentication_by_auth_time_oos24(oidc_app: Oospath) -> None:
    """OOS-24 (21 CFR 11.200): an ID token is a fresh authentication for 5 minutes after auth_time."""
    actor = _actor(oidc_app, _token(oidc_app))
    now = oidc_app.clock.now()

    def fresh(**claims: Any) -> bool:
        with oidc_app.uow() as uow:
            return oidc.fresh_authentication(uow.session, oidc_app.settings, _token(oidc_app, **claims), actor, now)

    assert fresh(auth_time=int((now - timedelta(minutes=2)).timestamp()))
    assert not fresh(auth_time=int((now - timedelta(minutes=20)).timestamp()))
    assert not fresh(iat=int((now - timedelta(minutes=20)).timestamp()))  # no auth_time: iat counts
    assert not fresh(auth_time=int(now.timestamp()), preferred_username="someone.else")
    assert not fresh(auth_time=int(now.timestamp()), iss="https://evil.example/")


def _sign(app: Oospath, actor: Any, credentials: signatures.Credentials | None) -> Any:
    with app.uow() as uow:
        row = signatures.sign(uow.session, app.clock.now(), actor, credentials, meaning="request",
                              subject_type="task", subject_id="t-1", content={"decision": "request"})
        uow.commit()
        return signatures.manifestation(row)


def test_oidc_signer_signs_with_a_fresh_id_token_oos24(oidc_app: Oospath) -> None:
    """OOS-24: an OIDC user with no local account signs by re-authenticating; printed name from the claim."""
    actor = _actor(oidc_app, _token(oidc_app))
    oidc_app.clock.advance(timedelta(minutes=1))
    id_token = _token(oidc_app, auth_time=int(oidc_app.clock.now().timestamp()))
    signed = _sign(oidc_app, actor, signatures.Credentials(id_token=id_token, settings=oidc_app.settings))
    assert (signed["signer"], signed["printed_name"]) == ("dr.weber", "Dr. Lena Weber")
    assert signed["method"] == "fresh OIDC authentication"
    assert signed["organisation"] == "Klinikum Nord"


def test_oidc_signer_with_a_stale_or_missing_id_token_signs_nothing_oos24(oidc_app: Oospath) -> None:
    actor = _actor(oidc_app, _token(oidc_app))
    stale = _token(oidc_app, auth_time=int((oidc_app.clock.now() - timedelta(minutes=30)).timestamp()))
    with pytest.raises(signatures.SignatureRefused, match="not fresh"):
        _sign(oidc_app, actor, signatures.Credentials(id_token=stale, settings=oidc_app.settings))
    with pytest.raises(signatures.SignatureRefused, match="ID token"):
        _sign(oidc_app, actor, signatures.Credentials("dr.weber", "a password is not enough"))
    with oidc_app.uow() as uow:
        assert signatures.signature_of(uow.session, "task", "t-1") == []


def test_password_login_cannot_sign_with_an_id_token_oos24(oidc_app: Oospath) -> None:
    with oidc_app.uow() as uow:
        accounts.add_user(uow.session, oidc_app.clock.now(), "qa.berg", "Jonas Berg", "a long passphrase",
                          [("Klinikum Nord", "qa")])
        user = accounts.get_user(uow.session, "qa.berg")
        actor = accounts.actor_for(uow.session, user, "Klinikum Nord", None, "token")
        uow.commit()
    with pytest.raises(signatures.SignatureRefused, match="only for a login through OIDC"):
        _sign(oidc_app, actor, signatures.Credentials("qa.berg", None, id_token=_token(oidc_app),
                                                      settings=oidc_app.settings))


def test_key_set_url_is_fetched_once_and_cached_and_must_be_https(oidc_app: Oospath, monkeypatch: Any) -> None:
    """The issuer's keys from an https URL are cached (JWKS_TTL), not fetched at every request."""
    import io

    fetched: list[str] = []
    body = json.dumps({"keys": [_jwk(KEY, "k1")]}).encode()

    def urlopen(url: str, timeout: float) -> io.BytesIO:
        fetched.append(url)
        return io.BytesIO(body)

    monkeypatch.setattr(oidc.urllib.request, "urlopen", urlopen)
    url = f"https://login.klinikum-nord.example/certs/{id(fetched)}"
    settings = replace(oidc_app.settings, oidc_jwks=url)
    assert _actor(oidc_app, _token(oidc_app), settings).user == "dr.weber"
    assert _actor(oidc_app, _token(oidc_app, jti="j-2"), settings).user == "dr.weber"
    assert fetched == [url]
    with pytest.raises(Unauthenticated, match="must use https"):
        _actor(oidc_app, _token(oidc_app), replace(settings, oidc_jwks="http://login.example/certs"))
