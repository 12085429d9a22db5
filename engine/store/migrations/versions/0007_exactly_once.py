"""integrity constraints: case reference sequence, one open case per batch (helper E)

Case references (``OOS-<year>-<number>``) come from a counter row per year that is
incremented under the row's lock, so concurrent openings never collide; the counter
starts after the highest number already given out. One open case per batch becomes a
partial unique index (``WHERE status = 'open'``, on SQLite and PostgreSQL alike).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import re

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

REFERENCE = re.compile(r"^OOS-(\d{4})-(\d+)$")


def _seed_counters() -> None:
    """Continue each year's numbering after the highest reference already in the cases table."""
    highest: dict[int, int] = {}
    for (reference,) in op.get_bind().execute(sa.text("SELECT reference FROM cases")):
        match = REFERENCE.match(reference or "")
        if match:
            year, number = int(match.group(1)), int(match.group(2))
            highest[year] = max(highest.get(year, 0), number)
    counters = sa.table("case_reference_counters", sa.column("year", sa.Integer),
                        sa.column("last_number", sa.Integer))
    if highest:
        op.bulk_insert(counters, [{"year": y, "last_number": n} for y, n in sorted(highest.items())])


def _refuse_duplicate_open_cases() -> None:
    """A database that already holds two open cases for one batch cannot take the constraint: say which."""
    duplicates = op.get_bind().execute(sa.text(
        "SELECT batch_id FROM cases WHERE status = 'open' GROUP BY batch_id HAVING COUNT(*) > 1")).scalars().all()
    if duplicates:
        raise RuntimeError(
            f"OOS-01: batches {sorted(duplicates)} have more than one open OOS case; close the duplicates "
            "before upgrading (one open case per batch)")


def upgrade() -> None:
    op.create_table('case_reference_counters',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year'),
    )
    _seed_counters()
    _refuse_duplicate_open_cases()
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_one_open_per_batch', ['batch_id'], unique=True,
                              sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_one_open_per_batch')
    op.drop_table('case_reference_counters')
