"""audit integrity: the append-only tables refuse TRUNCATE too (OOS-17, OOS-24)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

The row triggers of 0001 (audit_log, records) and 0005 (signatures) refuse UPDATE and
DELETE, but on PostgreSQL ``TRUNCATE`` fires no row trigger: a statement trigger refuses it.
SQLite has no TRUNCATE (its ``DELETE FROM`` fires the existing row triggers).
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_log", "records", "signatures")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION oospath_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
