"""list indexes: each documented filter and order of the paged lists, and due timers among waiting ones

Keyset pagination (``engine.services.pages``) reads a page as a range of an index in the list's order:
task lists by state, role and kind, soonest due first (then oldest, then id); cases, instances and
incidents newest first, by each documented filter; an audit stream by sequence. The scheduler's
query for due timers reads a partial index of the waiting timers by due time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

INDEXES = {
    'tasks': {'ix_tasks_worklist': ['state', 'role', 'kind', 'due_at', 'created_at', 'id']},
    'audit_log': {'ix_audit_log_stream_sequence': ['stream', 'id']},
    'cases': {'ix_cases_opened': ['opened_at', 'reference'],
              'ix_cases_status_opened': ['status', 'opened_at', 'reference']},
    'process_instances': {'ix_process_instances_started': ['started_at', 'id'],
                          'ix_process_instances_key_started': ['process_key', 'started_at', 'id'],
                          'ix_process_instances_status_started': ['status', 'started_at', 'id']},
    'incidents': {'ix_incidents_created': ['created_at', 'id'],
                  'ix_incidents_status_created': ['status', 'created_at', 'id']},
}
WAITING = "status = 'waiting'"


def upgrade() -> None:
    for table, indexes in INDEXES.items():
        for name, columns in indexes.items():
            op.create_index(name, table, columns)
    op.create_index('ix_timers_waiting_due', 'timers', ['due_at'],
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    op.drop_index('ix_timers_waiting_due', table_name='timers')
    for table, indexes in INDEXES.items():
        for name in indexes:
            op.drop_index(name, table_name=table)
