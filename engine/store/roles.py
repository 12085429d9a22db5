"""PostgreSQL least privilege: the application's login role owns no table (OOS-24).

Migrations run as the schema owner. The application connects as a role that may read and
write rows but owns nothing, so it cannot ``ALTER TABLE ... DISABLE TRIGGER`` or drop the
append-only guards, and has no TRUNCATE privilege; the triggers still refuse UPDATE, DELETE
and TRUNCATE on the append-only tables (audit_log, records, signatures) for it as for anyone.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleRefused(ValueError):
    """The role cannot serve as the application's role (named reason)."""


def grant_app_role_statements(role: str, database: str, schema: str, password: str | None,
                              exists: bool) -> list[str]:
    """The SQL that creates (or re-aligns) ``role`` and grants it row access in ``schema``."""
    if not ROLE_NAME.match(role):
        raise RoleRefused(f"role name '{role}' must be lower-case letters, digits and underscores")
    login = [] if exists and password is None else [f"{'ALTER' if exists else 'CREATE'} ROLE {role} LOGIN"]
    if password is not None:
        login[0] += " PASSWORD '" + password.replace("'", "''") + "'"
    rows = "SELECT, INSERT, UPDATE, DELETE"
    return [
        *login,
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f'GRANT USAGE ON SCHEMA "{schema}" TO {role}',
        f'REVOKE CREATE ON SCHEMA "{schema}" FROM {role}',
        f'GRANT {rows} ON ALL TABLES IN SCHEMA "{schema}" TO {role}',
        f'REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA "{schema}" FROM {role}',
        f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}',
        # Tables and sequences later migrations create (as this same owner) are granted alike.
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT {rows} ON TABLES TO {role}',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT USAGE ON SEQUENCES TO {role}',
    ]


def grant_app_role(conn: Connection, role: str, password: str | None = None) -> None:
    """Create or re-align the application's login role; run as the owner of the schema (migrations' role)."""
    if conn.dialect.name != "postgresql":
        raise RoleRefused("database roles exist on PostgreSQL only; SQLite has no roles")
    database, schema, me = conn.execute(text("SELECT current_database(), current_schema(), current_user")).one()
    if role == me:
        raise RoleRefused(f"role '{role}' is the one running the migrations; the application role must own no table")
    owned = conn.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = :schema AND tableowner = :role"),
                        {"schema": schema, "role": role})
    if owned:
        raise RoleRefused(f"role '{role}' owns {owned} table(s) in schema {schema}; the application role must own none")
    found = conn.execute(text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = :role"),
                         {"role": role}).first()
    if found is not None and found[0]:
        raise RoleRefused(f"role '{role}' is a superuser or bypasses row security; the application role must not")
    exists = found is not None
    for statement in grant_app_role_statements(role, database, schema, password, exists):
        conn.execute(text(statement))
