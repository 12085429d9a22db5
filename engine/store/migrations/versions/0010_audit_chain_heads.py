"""audit chain heads: each stream's last row id and hash, read by primary key at every append (OOS-24)

Appending to the hash chain needs the previous row's hash. Reading it from ``audit_log``
(``ORDER BY id DESC LIMIT 1`` per stream) costs an index descent at best and, on PostgreSQL
with stale statistics, a scan of the table. The head of every stream is kept in its own
table instead, updated in the same transaction as the rows it points to (under the stream's
lock), so the lookup is one primary-key read whatever the table's size or statistics.
The heads are derived data: verification still recomputes every chain from ``audit_log``
and the anchors; a head that disagreed with the table would produce a detectable break.
The single-column index on ``audit_log.stream`` goes: ``ix_audit_log_stream_sequence``
(stream, id) of 0009 serves every query by stream, and each audit row is smaller to store.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_chain_heads',
        sa.Column('stream', sa.String(length=64), nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.Column('last_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('stream'),
    )
    # Backfill: every stream's current last row (its highest id), in one statement.
    op.execute(
        "INSERT INTO audit_chain_heads (stream, last_id, last_hash) "
        "SELECT audit_log.stream, audit_log.id, audit_log.row_hash FROM audit_log "
        "JOIN (SELECT stream, MAX(id) AS last_id FROM audit_log GROUP BY stream) AS heads "
        "ON audit_log.id = heads.last_id"
    )
    op.drop_index('ix_audit_log_stream', table_name='audit_log')


def downgrade() -> None:
    op.create_index('ix_audit_log_stream', 'audit_log', ['stream'])
    op.drop_table('audit_chain_heads')
