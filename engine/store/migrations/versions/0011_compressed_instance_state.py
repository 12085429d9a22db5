"""compressed instance state: process_instances.state stored zlib-compressed (issue 10: bytes per instance)

A process instance's state is SpiffWorkflow's JSON of its task tree, in which every task carries its own
copy of the data: ~6 KB for a short process, most of it repeated. Stored compressed (zlib level 6, see
``engine.store.types.CompressedText``) it takes ~1 KB. The text of every existing row is compressed into a
new binary column, which then replaces the text column; downgrade decompresses it back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import zlib

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BATCH = 500


def _convert(source: str, target: str, change) -> None:  # type: ignore[no-untyped-def]
    """Copy ``source`` into ``target`` through ``change``, a batch of rows at a time."""
    connection = op.get_bind()
    table = sa.table('process_instances', sa.column('id', sa.String), sa.column(source), sa.column(target))
    last = ''
    while True:
        rows = connection.execute(sa.select(table.c.id, table.c[source]).where(table.c.id > last)
                                  .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        for ident, value in rows:
            connection.execute(table.update().where(table.c.id == ident).values({target: change(value)}))
        last = rows[-1][0]


def _replace(old: str, new: str, new_type: str, empty: str, change) -> None:  # type: ignore[no-untyped-def]
    """Replace column ``old`` by ``new`` holding ``change(value)``. In place (no table rebuild: on SQLite a
    rebuild would drop the table the tasks, timers and cases refer to): add the new column NOT NULL with an
    empty default, convert every row, drop the old column, rename the new one."""
    op.execute(f"ALTER TABLE process_instances ADD COLUMN {new} {new_type} NOT NULL DEFAULT {empty}")
    _convert(old, new, change)
    op.execute(f"ALTER TABLE process_instances DROP COLUMN {old}")
    op.execute(f"ALTER TABLE process_instances RENAME COLUMN {new} TO {old}")
    if op.get_bind().dialect.name != 'sqlite':  # SQLite cannot drop a default; the code always gives a value
        op.execute(f"ALTER TABLE process_instances ALTER COLUMN {old} DROP DEFAULT")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    _replace('state', 'state_compressed', 'BLOB' if sqlite else 'BYTEA', "x''" if sqlite else "''::bytea",
             lambda text: zlib.compress(text.encode(), 6))


def downgrade() -> None:
    _replace('state', 'state_text', 'TEXT', "''", lambda data: zlib.decompress(data).decode())
