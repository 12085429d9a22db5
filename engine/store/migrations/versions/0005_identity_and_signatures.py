"""identity: organisations, users, memberships, tokens, login attempts, signatures; definition approval

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _signatures_append_only() -> None:
    """Signatures are never altered or removed (21 CFR 11.70: linked to their records)."""
    dialect = op.get_bind().dialect.name
    for operation in ("UPDATE", "DELETE"):
        name = f"signatures_no_{operation.lower()}"
        if dialect == "postgresql":
            op.execute(f"CREATE TRIGGER {name} BEFORE {operation} ON signatures "
                       "FOR EACH ROW EXECUTE FUNCTION oospath_append_only()")
        else:
            op.execute(f"CREATE TRIGGER {name} BEFORE {operation} ON signatures "
                       "BEGIN SELECT RAISE(ABORT, 'signatures is append-only'); END")


def upgrade() -> None:
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('printed_name', sa.String(length=300), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username'),
    )
    op.create_table('memberships',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=50), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id']),
    sa.ForeignKeyConstraint(['user_id'], ['users.id']),
    sa.PrimaryKeyConstraint('user_id', 'organisation_id', 'role'),
    )
    op.create_table('auth_tokens',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id']),
    sa.ForeignKeyConstraint(['user_id'], ['users.id']),
    sa.PrimaryKeyConstraint('token_sha256'),
    )
    op.create_index('ix_auth_tokens_user_id', 'auth_tokens', ['user_id'])
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_login_attempts_user_at', 'login_attempts', ['username', 'at'])
    op.create_table('signatures',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('signer', sa.String(length=200), nullable=False),
    sa.Column('printed_name', sa.String(length=300), nullable=False),
    sa.Column('organisation', sa.String(length=300), nullable=True),
    sa.Column('meaning', sa.String(length=50), nullable=False),
    sa.Column('statement', sa.String(length=500), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=50), nullable=False),
    sa.Column('subject_id', sa.String(length=200), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=True),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('element_id', sa.String(length=200), nullable=True),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('signed_content', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_signatures_signer', 'signatures', ['signer'])
    op.create_index('ix_signatures_case_id', 'signatures', ['case_id'])
    op.create_index('ix_signatures_instance_id', 'signatures', ['instance_id'])
    _signatures_append_only()
    op.create_table('case_parties',
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('organisation', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('case_id', 'organisation'),
    )
    op.create_index('ix_case_parties_organisation', 'case_parties', ['organisation'])
    with op.batch_alter_table('process_definitions') as batch:
        batch.add_column(sa.Column('status', sa.String(length=30), nullable=False, server_default='approved'))
        batch.add_column(sa.Column('approved_by', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('approval_signature_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('process_definitions') as batch:
        for column in ('approval_signature_id', 'approved_at', 'approved_by', 'status'):
            batch.drop_column(column)
    for table in ('case_parties', 'signatures', 'login_attempts', 'auth_tokens', 'memberships', 'users', 'organisations'):
        op.drop_table(table)
