"""users: the standard profile claims (OpenID Connect Core 1.0, 5.1); refresh_tokens: the
claims an authorization request asked for (OpenID Connect Core 1.0, 5.5), kept across
rotation; audit_events: who acted (an administrator, an m2m client, or null for the person)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 18:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PROFILE_COLUMNS = (
    ('given_name', 200), ('family_name', 200), ('middle_name', 200), ('nickname', 200),
    ('profile', 2048), ('picture', 2048), ('website', 2048), ('gender', 32), ('birthdate', 10),
    ('zoneinfo', 64),
)


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        for name, length in PROFILE_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claims', sa.JSON(), nullable=True))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('actor')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_column('claims')
    with op.batch_alter_table('users', schema=None) as batch_op:
        for name, _length in reversed(PROFILE_COLUMNS):
            batch_op.drop_column(name)
