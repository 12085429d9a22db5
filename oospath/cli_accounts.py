"""`oospath orgs ...` and `oospath users ...`: organisations, users and their roles (OOS-24, OOS-25).

Run by the installation's administrator on the server (OOSPATH_DATABASE_URL), after `oospath db-upgrade`.
Passwords are read from standard input (``--password-stdin``), never from the command line, where other
users of the machine and the shell history would see them. Every change is in the audit trail.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 120)


def _administrator() -> Any:
    """Who changes accounts from the command line: the operating-system user, in the audit trail."""
    from engine.services.identity import Actor

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return Actor(f"cli:{login}", frozenset({"admin"}), printed_name=f"administrator at the console ({login})")


@contextmanager
def _accounts() -> Iterator[tuple[Any, Any]]:
    """A session on the configured database, committed when the block succeeds; refusals exit 1 with the reason."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.bootstrap import bootstrap
    from engine.services.errors import ServiceError

    app = bootstrap(migrate=False)
    try:
        with app.uow() as uow:
            yield uow.session, app.clock.now()
            uow.commit()
    except ServiceError as refused:
        click.secho(f"refused: {refused.detail}", fg="red", err=True)
        sys.exit(1)
    except SQLAlchemyError as exc:
        first_line = str(exc).splitlines()[0]
        click.secho(f"the database is not ready (run `oospath db-upgrade` first?): {first_line}", fg="red", err=True)
        sys.exit(1)
    finally:
        app.db.dispose()


def _read_password(confirm: bool = True) -> str:
    """From standard input: a prompt without echo on a terminal, else the first line of what is piped in."""
    stdin = sys.stdin
    if stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=confirm))
    password = stdin.readline().rstrip("\r\n")
    if not password:
        click.secho("refused: --password-stdin: standard input holds no password", fg="red", err=True)
        sys.exit(1)
    return password


def _roles_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--role", "roles", multiple=True, required=True, metavar="ROLE",
                        help="qa, physician, qp, mah_ra, sponsor, importer_qa, management, process_designer, "
                             "auditor or admin; repeat for several.")(func)


# ---- oospath orgs ---------------------------------------------------------------------------------------------
@click.group("orgs")
def orgs_group() -> None:
    """Organisations (legal entities) whose users act in cases (OOS-25)."""


@orgs_group.command("add")
@click.argument("name")
@click.option("--kind", required=True,
              help="manufacturer, importer, mah, treating_site, sponsor or authority.")
def orgs_add(name: str, kind: str) -> None:
    """Register the organisation NAME."""
    from engine.services import accounts

    with _accounts() as (session, at):
        accounts.add_organisation(session, at, name, kind, _administrator())
    click.echo(f"organisation '{name}' ({kind}) added")


@orgs_group.command("list")
def orgs_list() -> None:
    """Every organisation with its kind."""
    from sqlalchemy import select

    from engine.store.identity_models import Organisation

    table = Table("name", "kind", "added")
    with _accounts() as (session, _):
        for org in session.scalars(select(Organisation).order_by(Organisation.name)):
            table.add_row(org.name, org.kind, org.created_at.isoformat(timespec="seconds"))
    console.print(table)


# ---- oospath users --------------------------------------------------------------------------------------------
@click.group("users")
def users_group() -> None:
    """Users, their roles per organisation, and their passwords (OOS-24, OOS-25)."""


@users_group.command("add")
@click.argument("username")
@click.option("--name", "printed_name", required=True, help="Printed name, shown with every signature.")
@click.option("--org", required=True, help="The organisation the roles are held at.")
@_roles_option
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input. Without it the user signs in only through OIDC.")
def users_add(username: str, printed_name: str, org: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Add the user USERNAME with ROLE(s) at ORG."""
    from engine.services import accounts

    password = _read_password() if password_stdin else None
    with _accounts() as (session, at):
        accounts.add_user(session, at, username, printed_name, password, [(org, role) for role in roles],
                          _administrator())
    how = "password" if password is not None else "OIDC only"
    click.echo(f"user '{username}' added ({how}): {', '.join(roles)} at '{org}'")


@users_group.command("grant")
@click.argument("username")
@click.option("--org", required=True)
@_roles_option
def users_grant(username: str, org: str, roles: tuple[str, ...]) -> None:
    """Give USERNAME the ROLE(s) at ORG."""
    from engine.services import accounts

    with _accounts() as (session, at):
        for role in roles:
            accounts.grant(session, at, username, org, role, _administrator())
    click.echo(f"'{username}' holds {', '.join(roles)} at '{org}'")


@users_group.command("revoke")
@click.argument("username")
@click.option("--org", required=True)
@_roles_option
def users_revoke(username: str, org: str, roles: tuple[str, ...]) -> None:
    """Take the ROLE(s) at ORG from USERNAME; effective at their next request."""
    from engine.services import accounts

    with _accounts() as (session, at):
        for role in roles:
            accounts.revoke(session, at, username, org, role, _administrator())
    click.echo(f"'{username}' no longer holds {', '.join(roles)} at '{org}'")


@users_group.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Stop USERNAME signing in; their open logins end at once. Their records and signatures stay."""
    from engine.services import accounts

    with _accounts() as (session, at):
        accounts.disable(session, at, username, _administrator())
    click.echo(f"user '{username}' disabled")


@users_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (required).")
def users_passwd(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME."""
    from engine.services import accounts

    if not password_stdin:
        raise click.UsageError("give the new password on standard input with --password-stdin")
    password = _read_password()
    with _accounts() as (session, at):
        accounts.set_password(session, at, username, password, _administrator())
    click.echo(f"password of '{username}' set")


@users_group.command("list")
def users_list() -> None:
    """Every user: printed name, how they sign in, state and roles per organisation."""
    from sqlalchemy import select

    from engine.services import accounts
    from engine.store.identity_models import User

    table = Table("user", "printed name", "sign-in", "state", "roles")
    with _accounts() as (session, _):
        for user in session.scalars(select(User).order_by(User.username)):
            held = accounts.memberships_of(session, user)
            roles = "; ".join(f"{org}: {', '.join(sorted(r))}" for org, r in sorted(held.items()))
            table.add_row(user.username, user.printed_name, "password" if user.password_hash else "OIDC only",
                          "disabled" if user.disabled else "active", roles or "-")
    console.print(table)
