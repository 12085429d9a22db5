"""periodic review: batch decisions, OOS categories, reviews, reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('periodic_reports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('product_code', sa.String(length=100), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_label', sa.String(length=40), nullable=False),
    sa.Column('specification_version', sa.Integer(), nullable=False),
    sa.Column('dataset_sha256', sa.String(length=64), nullable=False),
    sa.Column('dataset_rows', sa.Integer(), nullable=False),
    sa.Column('software_version', sa.String(length=50), nullable=False),
    sa.Column('signals_count', sa.Integer(), nullable=False),
    sa.Column('signals', sa.JSON(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('artifacts', sa.JSON(), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('generated_by', sa.String(length=200), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('work_message_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['product_code'], ['products.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('work_message_id')
    )
    with op.batch_alter_table('periodic_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_periodic_reports_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_periodic_reports_product_code'), ['product_code'], unique=False)

    op.create_table('oos_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('attribute', sa.String(length=200), nullable=False),
    sa.Column('severity', sa.String(length=30), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.batch_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('oos_categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oos_categories_attribute'), ['attribute'], unique=False)
        batch_op.create_index(batch_op.f('ix_oos_categories_batch_id'), ['batch_id'], unique=False)

    op.create_table('periodic_reviews',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('product_code', sa.String(length=100), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ),
    sa.ForeignKeyConstraint(['product_code'], ['products.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id')
    )
    with op.batch_alter_table('periodic_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_periodic_reviews_product_code'), ['product_code'], unique=False)

    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=30), nullable=True))
        batch_op.create_index('ix_batches_product_decided', ['product_code', 'decided_at', 'outcome'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index('ix_batches_product_decided')
        batch_op.drop_column('outcome')
        batch_op.drop_column('decided_at')

    with op.batch_alter_table('periodic_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_periodic_reviews_product_code'))

    op.drop_table('periodic_reviews')
    with op.batch_alter_table('oos_categories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oos_categories_batch_id'))
        batch_op.drop_index(batch_op.f('ix_oos_categories_attribute'))

    op.drop_table('oos_categories')
    with op.batch_alter_table('periodic_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_periodic_reports_product_code'))
        batch_op.drop_index(batch_op.f('ix_periodic_reports_instance_id'))

    op.drop_table('periodic_reports')
