"""`oospath audit verify|anchor` and `oospath db-grant-app-role`: an audit trail that proves itself (OOS-24)."""

from __future__ import annotations

import sys

import click

BREAKS_SHOWN = 50


@click.group("audit")
def audit_group() -> None:
    """Verify the hash-chained audit trail against the anchors kept outside the database (OOS-24)."""


@audit_group.command("verify")
@click.option("--case", "case_id", default=None, help="Only this case's stream (case id or reference).")
def verify(case_id: str | None) -> None:
    """Recompute every chain (or one case's) and check it against every anchor; non-zero on any break."""
    from engine.bootstrap import bootstrap
    from engine.services.audit_anchors import verify_audit_trail, verify_case_chain
    from engine.services.cases import get_case
    from engine.services.errors import ServiceError

    app = bootstrap(migrate=False)
    anchor_log = app.settings.audit_anchor_log
    assert anchor_log is not None
    with app.uow() as uow:
        if case_id is None:
            result = verify_audit_trail(uow.session, anchor_log)
        else:
            try:
                case = get_case(uow.session, case_id)
            except ServiceError as exc:
                click.secho(str(exc), fg="red", err=True)
                sys.exit(2)
            result = verify_case_chain(uow.session, anchor_log, case)
    app.db.dispose()
    for found in result.breaks[:BREAKS_SHOWN]:  # plain lines, never wrapped: operators grep them
        click.echo(click.style("BREAK ", fg="red") + str(found))
    if len(result.breaks) > BREAKS_SHOWN:
        click.echo(f"... and {len(result.breaks) - BREAKS_SHOWN} more break(s)")
    click.secho(result.summary(), fg=None if result.intact else "red", bold=not result.intact)
    sys.exit(0 if result.intact else 1)


@audit_group.command("anchor")
def anchor_now() -> None:
    """Append the current chain heads to the anchor log (the scheduler also does this on every pass)."""
    from engine.bootstrap import bootstrap
    from engine.services.audit_anchors import anchor

    app = bootstrap(migrate=False)
    written = anchor(app)
    app.db.dispose()
    if written.line is None:
        click.echo(f"{written.streams} stream(s); no head changed since the last anchor in {written.path}")
    else:
        click.echo(f"anchored {written.changed} changed head(s) of {written.streams} stream(s) "
                   f"as line {written.line} of {written.path}")


@click.command("db-grant-app-role")
@click.argument("role")
@click.option("--password", envvar="OOSPATH_APP_ROLE_PASSWORD", default=None,
              help="Login password to set (or OOSPATH_APP_ROLE_PASSWORD); omitted: an existing role's is kept.")
def db_grant_app_role(role: str, password: str | None) -> None:
    """Create or re-align ROLE as the application's PostgreSQL login: row access, owns nothing (OOS-24).

    Run as the schema owner (OOSPATH_DATABASE_URL = the migrations' role), after `oospath db-upgrade`.
    """
    from sqlalchemy import create_engine

    from engine.settings import Settings
    from engine.store.roles import RoleRefused, grant_app_role

    engine = create_engine(Settings().database_url)
    try:
        with engine.begin() as conn:
            grant_app_role(conn, role, password)
    except RoleRefused as exc:
        click.secho(str(exc), fg="red", err=True)
        sys.exit(2)
    finally:
        engine.dispose()
    click.echo(f"role {role} may read and write rows and owns no table; run the application as {role}")
