"""audit_events: (sub, id) and (type, id) indexes for the admin listing (newest first, by id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 07:10:00
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_sub')
        batch_op.drop_index('ix_audit_events_type')
        batch_op.create_index('ix_audit_events_sub_id', ['sub', 'id'], unique=False)
        # varchar_pattern_ops lets PostgreSQL use the index for the "login.*" prefix filter
        batch_op.create_index('ix_audit_events_type_id', ['type', 'id'], unique=False,
                              postgresql_ops={'type': 'varchar_pattern_ops'})


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_type_id')
        batch_op.drop_index('ix_audit_events_sub_id')
        batch_op.create_index('ix_audit_events_type', ['type'], unique=False)
        batch_op.create_index('ix_audit_events_sub', ['sub'], unique=False)
