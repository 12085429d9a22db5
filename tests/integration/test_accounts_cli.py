"""`oospath orgs` and `oospath users`: the administrator sets up organisations, users and roles (OOS-24, OOS-25)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from engine.bootstrap import Oospath
from engine.services import accounts
from engine.services.accounts import LoginPolicy, Unauthenticated
from engine.store.identity_models import User
from oospath.cli import main

PASSWORD = "correct horse battery"


@pytest.fixture
def env(app: Oospath, tmp_path: Path) -> dict[str, str]:
    """The CLI works on the test's database (SQLite, and PostgreSQL when configured)."""
    return {"OOSPATH_DATABASE_URL": app.settings.database_url, "OOSPATH_VAR_DIR": str(tmp_path / "var")}


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


def _with_klinikum(env: dict[str, str]) -> None:
    assert _run(env, "orgs", "add", "Klinikum Nord", "--kind", "treating_site").exit_code == 0


def _login(app: Oospath, username: str, password: str) -> str:
    with app.uow() as uow:
        user = accounts.check_login(uow.session, app.clock.now(), username, password, LoginPolicy())
        token = accounts.issue_token(uow.session, app.clock.now(), user, None, LoginPolicy()).token
        uow.commit()
    return token


def _resolve(app: Oospath, token: str) -> frozenset[str]:
    with app.uow() as uow:
        return accounts.resolve_token(uow.session, app.clock.now(), token).roles


def test_first_organisation_and_administrator_can_log_in_oos24(app: Oospath, env: dict[str, str]) -> None:
    """OOS-24: the password comes from standard input; the new user logs in with it."""
    added = _run(env, "orgs", "add", "Klinikum Nord", "--kind", "treating_site")
    assert added.exit_code == 0, added.output
    assert "Klinikum Nord" in _run(env, "orgs", "list").output
    result = _run(env, "users", "add", "admin.roth", "--name", "Eva Roth", "--org", "Klinikum Nord",
                  "--role", "admin", "--role", "qa", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert _resolve(app, _login(app, "admin.roth", PASSWORD)) == {"admin", "qa"}
    listed = _run(env, "users", "list").output
    assert "admin.roth" in listed and "Eva Roth" in listed and "password" in listed
    with app.uow() as uow:
        stored = uow.session.scalar(select(User.password_hash).where(User.username == "admin.roth"))
    assert stored and PASSWORD not in stored  # an Argon2 hash only


def test_user_without_password_signs_in_only_through_oidc_oos24(app: Oospath, env: dict[str, str]) -> None:
    _with_klinikum(env)
    result = _run(env, "users", "add", "dr.weber", "--name", "Dr. Lena Weber", "--org", "Klinikum Nord",
                  "--role", "physician")
    assert result.exit_code == 0, result.output
    assert "OIDC only" in _run(env, "users", "list").output
    with pytest.raises(Unauthenticated):
        _login(app, "dr.weber", "")


def test_grant_and_revoke_change_the_roles_of_an_open_login_oos25(app: Oospath, env: dict[str, str]) -> None:
    """OOS-25: roles are read at every request, so a revoked role stops at once."""
    _with_klinikum(env)
    _run(env, "users", "add", "qa.berg", "--name", "Jonas Berg", "--org", "Klinikum Nord", "--role", "qa",
         "--password-stdin", stdin=PASSWORD)
    token = _login(app, "qa.berg", PASSWORD)
    granted = _run(env, "users", "grant", "qa.berg", "--org", "Klinikum Nord", "--role", "qp", "--role", "auditor")
    assert granted.exit_code == 0, granted.output
    assert _resolve(app, token) == {"qa", "qp", "auditor"}
    revoked = _run(env, "users", "revoke", "qa.berg", "--org", "Klinikum Nord", "--role", "qp")
    assert revoked.exit_code == 0, revoked.output
    assert _resolve(app, token) == {"qa", "auditor"}
    again = _run(env, "users", "revoke", "qa.berg", "--org", "Klinikum Nord", "--role", "qp")
    assert again.exit_code == 1 and "does not hold role 'qp'" in again.output


def test_disabled_user_token_stops_resolving_and_login_is_refused_oos24(app: Oospath, env: dict[str, str]) -> None:
    _with_klinikum(env)
    _run(env, "users", "add", "qa.berg", "--name", "Jonas Berg", "--org", "Klinikum Nord", "--role", "qa",
         "--password-stdin", stdin=PASSWORD)
    token = _login(app, "qa.berg", PASSWORD)
    result = _run(env, "users", "disable", "qa.berg")
    assert result.exit_code == 0, result.output
    with pytest.raises(Unauthenticated):
        _resolve(app, token)
    with pytest.raises(Unauthenticated):
        _login(app, "qa.berg", PASSWORD)
    assert "disabled" in _run(env, "users", "list").output


def test_passwd_replaces_the_password_oos24(app: Oospath, env: dict[str, str]) -> None:
    _with_klinikum(env)
    _run(env, "users", "add", "qa.berg", "--name", "Jonas Berg", "--org", "Klinikum Nord", "--role", "qa",
         "--password-stdin", stdin=PASSWORD)
    short = _run(env, "users", "passwd", "qa.berg", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    changed = _run(env, "users", "passwd", "qa.berg", "--password-stdin", stdin="a brand new passphrase\n")
    assert changed.exit_code == 0, changed.output
    with pytest.raises(Unauthenticated):
        _login(app, "qa.berg", PASSWORD)
    assert _resolve(app, _login(app, "qa.berg", "a brand new passphrase")) == {"qa"}
    assert _run(env, "users", "passwd", "qa.berg").exit_code != 0  # the password comes only from stdin


@pytest.mark.parametrize("args", [
    ["users", "add", "qa.berg", "--name", "Jonas Berg", "--org", "Klinikum Nord", "--role", "qa",
     "--password", PASSWORD],
    ["users", "add", "qa.berg", PASSWORD, "--name", "Jonas Berg", "--org", "Klinikum Nord", "--role", "qa"],
    ["users", "add", "qa.berg", "--name", "Jonas Berg", "--org", "Klinikum Nord", "--role", "qa",
     "--password-stdin", PASSWORD],
])
def test_password_on_the_command_line_is_refused_oos24(app: Oospath, env: dict[str, str], args: list[str]) -> None:
    """OOS-24: a password on argv would be in the shell history and the process list: never accepted."""
    _with_klinikum(env)
    result = _run(env, *args, stdin="")
    assert result.exit_code == 2, result.output
    with app.uow() as uow:
        assert uow.session.scalar(select(User).where(User.username == "qa.berg")) is None


def test_unknown_kind_and_role_are_refused_by_name(app: Oospath, env: dict[str, str]) -> None:
    """OOS-25: a mistyped role or kind is refused with the allowed values; nothing half-added stays."""
    kind = _run(env, "orgs", "add", "Klinikum Nord", "--kind", "hospital")
    assert kind.exit_code == 1 and "kind 'hospital' is not one of" in kind.output and "treating_site" in kind.output
    _with_klinikum(env)
    role = _run(env, "users", "add", "qa.berg", "--name", "Jonas Berg", "--org", "Klinikum Nord", "--role", "qa",
                "--role", "boss", "--password-stdin", stdin=PASSWORD)
    assert role.exit_code == 1 and "role 'boss' is not one of" in role.output and "physician" in role.output
    assert "qa.berg" not in _run(env, "users", "list").output
    unknown_org = _run(env, "users", "grant", "nobody", "--org", "Klinikum Nord", "--role", "qa")
    assert unknown_org.exit_code == 1 and "user 'nobody' does not exist" in unknown_org.output
    twice = _run(env, "orgs", "add", "Klinikum Nord", "--kind", "treating_site")
    assert twice.exit_code == 1 and "already exists" in twice.output
