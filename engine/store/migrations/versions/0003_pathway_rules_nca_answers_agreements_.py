"""pathway rules: nca answers, agreements, risk evaluations, administrations, late notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('administrations',
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('administered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dose', sa.String(length=200), nullable=False),
    sa.Column('patient_pseudonym', sa.String(length=100), nullable=False),
    sa.Column('chain_of_identity_id', sa.String(length=100), nullable=False),
    sa.Column('pv_case_reference', sa.String(length=100), nullable=False),
    sa.Column('decision_record_sha256', sa.String(length=64), nullable=True),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('case_id')
    )
    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_administrations_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_administrations_chain_of_identity_id'), ['chain_of_identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_administrations_patient_pseudonym'), ['patient_pseudonym'], unique=False)
        batch_op.create_index(batch_op.f('ix_administrations_pv_case_reference'), ['pv_case_reference'], unique=False)

    op.create_table('agreements',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('manufacturer', sa.String(length=300), nullable=False),
    sa.Column('importer', sa.String(length=300), nullable=True),
    sa.Column('mah', sa.String(length=300), nullable=False),
    sa.Column('responsibilities', sa.JSON(), nullable=False),
    sa.Column('signatures', sa.JSON(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('put_in_force_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreements_reference'), ['reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreements_status'), ['status'], unique=False)

    op.create_table('nca_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('must_be_informed', sa.Boolean(), nullable=False),
    sa.Column('reference', sa.String(length=300), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('nca_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nca_answers_country'), ['country'], unique=False)

    op.create_table('risk_evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('risk_level', sa.String(length=20), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'version')
    )
    with op.batch_alter_table('risk_evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_evaluations_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('late', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('late')
        batch_op.drop_column('due_at')

    with op.batch_alter_table('risk_evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_evaluations_case_id'))

    op.drop_table('risk_evaluations')
    with op.batch_alter_table('nca_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nca_answers_country'))

    op.drop_table('nca_answers')
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreements_status'))
        batch_op.drop_index(batch_op.f('ix_agreements_reference'))

    op.drop_table('agreements')
    with op.batch_alter_table('administrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_administrations_pv_case_reference'))
        batch_op.drop_index(batch_op.f('ix_administrations_patient_pseudonym'))
        batch_op.drop_index(batch_op.f('ix_administrations_chain_of_identity_id'))
        batch_op.drop_index(batch_op.f('ix_administrations_batch_id'))

    op.drop_table('administrations')
