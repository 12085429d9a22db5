"""specification versions under change control: status, creator, approver (OOS-24)

A specification version takes effect only after a QA user approved it with an electronic
signature (EU GMP Part IV / Annex 11 change control). The versions already stored were in
force before this rule existed: they migrate as ``approved`` by ``migration``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('specifications') as batch:
        batch.add_column(sa.Column('status', sa.String(length=30), nullable=False, server_default='approved'))
        batch.add_column(sa.Column('created_by', sa.String(length=200), nullable=False,
                                   server_default='migration'))
        batch.add_column(sa.Column('approved_by', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('approval_signature_id', sa.String(length=36), nullable=True))
    op.execute("UPDATE specifications SET approved_by = 'migration' WHERE status = 'approved'")


def downgrade() -> None:
    with op.batch_alter_table('specifications') as batch:
        for column in ('approval_signature_id', 'approved_at', 'approved_by', 'created_by', 'status'):
            batch.drop_column(column)
