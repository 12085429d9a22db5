"""`oospath catalog ...`: products and specification versions from a file, and QA's signed approval (OOS-01, OOS-24).

A QA user prepares a YAML or JSON file (see docs/examples/catalog.yaml), imports it with
``oospath catalog import`` (all or nothing; problems by line and field) and another QA user
approves each version with ``oospath catalog approve``, re-entering their password: a version
judges no batch before that. The password is read from standard input (a prompt without echo on
a terminal), never from the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 120)


def _signer(session: Any, username: str, org: str | None) -> Any:
    """The QA user acting from the shell, with the roles they hold now (OOS-25)."""
    from sqlalchemy import select

    from engine.services import accounts
    from engine.services.errors import Forbidden
    from engine.store.identity_models import User

    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.disabled:
        raise Forbidden(f"OOS-25: '{username}' is not an active user; add them with `oospath users add`",
                        requirement="OOS-25")
    if org is None:
        org = next((name for name, roles in sorted(accounts.memberships_of(session, user).items())
                    if "qa" in roles), None)
    return accounts.actor_for(session, user, org, None, "service")


def _refused(exc: Exception) -> None:
    from engine.services.batch_file import ImportRefused

    click.secho(f"refused: {getattr(exc, 'detail', exc)}", fg="red", err=True)
    if isinstance(exc, ImportRefused):
        for error in exc.errors:
            click.echo(f"  line {error.line}, field {error.field}: {error.message}", err=True)
    sys.exit(1)


@click.group("catalog")
def catalog_group() -> None:
    """Products and specification versions (OOS-01, OOS-02) under QA change control (OOS-24)."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", required=True, help="Who prepared the file (audit trail); they cannot approve it.")
def import_catalog(file: Path, user: str) -> None:
    """Import the products and specification versions of FILE (YAML or JSON); versions await QA approval.

    Everything is checked first; each problem is reported with its line and field and then nothing is imported.
    """
    from engine.bootstrap import bootstrap
    from engine.services import catalog_import
    from engine.services.errors import ServiceError
    from engine.services.identity import Actor

    app = bootstrap()
    content = file.read_bytes()
    try:
        with app.uow() as uow:
            summary = catalog_import.import_catalog(
                uow.session, app.clock, Actor(user, frozenset({"qa"})), content,
                is_json=catalog_import.is_json_file(file.name, content), source=str(file))
            uow.commit()
    except ServiceError as exc:
        _refused(exc)
    click.echo(f"imported from {file}: products {', '.join(summary.products) or '-'}; specification versions "
                  f"{', '.join(summary.specifications) or '-'} (awaiting QA approval); file SHA-256 {summary.sha256}")


def _decide(product: str, version: int, user: str, org: str | None, reason: str | None) -> Any:
    from engine.bootstrap import bootstrap
    from engine.services import catalog_approval
    from engine.services.errors import ServiceError
    from engine.services.signatures import Credentials
    from oospath.cli_accounts import _read_password

    password = _read_password(confirm=False)
    app = bootstrap(migrate=False)
    try:
        with app.uow() as uow:
            actor, at = _signer(uow.session, user, org), app.clock.now()
            credentials = Credentials(user, password)
            if reason is None:
                row = catalog_approval.approve_specification(uow.session, at, actor, product, version, credentials)
            else:
                row = catalog_approval.reject_specification(uow.session, at, actor, product, version, credentials,
                                                            reason)
            uow.commit()
            return row
    except ServiceError as exc:
        _refused(exc)
    finally:
        app.db.dispose()


@catalog_group.command("approve")
@click.argument("product")
@click.argument("version", type=click.IntRange(1, 2**31 - 1))
@click.option("--user", required=True, help="The approving QA user (not the one who created the version).")
@click.option("--org", default=None, help="The organisation the user approves for (default: their first with qa).")
def approve(product: str, version: int, user: str, org: str | None) -> None:
    """Approve specification VERSION of PRODUCT with your electronic signature (password on standard input)."""
    row = _decide(product, version, user, org, None)
    click.echo(f"specification {row.product_code} v{row.version} approved by {row.approved_by} at "
                  f"{row.approved_at.isoformat()}: it judges batches manufactured from "
                  f"{row.effective_from.isoformat()}")


@catalog_group.command("reject")
@click.argument("product")
@click.argument("version", type=click.IntRange(1, 2**31 - 1))
@click.option("--user", required=True, help="The rejecting QA user.")
@click.option("--reason", required=True, help="Why the version must not take effect.")
@click.option("--org", default=None, help="The organisation the user acts for (default: their first with qa).")
def reject(product: str, version: int, user: str, reason: str, org: str | None) -> None:
    """Reject specification VERSION of PRODUCT with your electronic signature; it never takes effect."""
    row = _decide(product, version, user, org, reason)
    click.echo(f"specification {row.product_code} v{row.version} rejected")


@catalog_group.command("list")
@click.option("--product", default=None, help="Only this product's versions.")
def list_catalog(product: str | None) -> None:
    """Specification versions with their status and who approved them."""
    from engine.bootstrap import bootstrap
    from engine.services import catalog

    app = bootstrap(migrate=False)
    table = Table("product", "version", "effective from", "status", "created by", "approved by", "limits")
    with app.uow() as uow:
        for row in catalog.list_specifications(uow.session, product):
            table.add_row(row.product_code, str(row.version), row.effective_from.isoformat(), row.status,
                          row.created_by, row.approved_by or "-",
                          "; ".join(f"{x['attribute']} {x['limit']}" for x in row.limits))
    console.print(table)
