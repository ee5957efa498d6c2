"""factors, recovery codes, remembered devices; applications.remember_device_days

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 06:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('factors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sub', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('secret', sa.String(length=255), nullable=True),
    sa.Column('last_totp_step', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sub', 'type', name='uq_factors_sub_type')
    )
    with op.batch_alter_table('factors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_factors_sub'), ['sub'], unique=False)

    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sub', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_sub'), ['sub'], unique=False)

    op.create_table('remembered_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sub', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('remembered_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_remembered_devices_sub'), ['sub'], unique=False)

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remember_device_days', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('remember_device_days')
    with op.batch_alter_table('remembered_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_remembered_devices_sub'))
    op.drop_table('remembered_devices')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_sub'))
    op.drop_table('recovery_codes')
    with op.batch_alter_table('factors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_factors_sub'))
    op.drop_table('factors')
