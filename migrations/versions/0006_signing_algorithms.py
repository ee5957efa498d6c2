"""applications: the signing algorithm of their access tokens (null: GATEHOUSE_JWT_ALG) and of
their ID tokens (OpenID Connect Dynamic Client Registration 1.0, 2, ``RS256`` by default);
signing_keys: at most one active key per algorithm (a unique partial index, which both SQLite
and PostgreSQL enforce, so two workers creating an algorithm's first key cannot both win)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ACTIVE = sa.text('active')


def upgrade() -> None:
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_token_alg', sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column('id_token_signed_response_alg', sa.String(length=16), nullable=False, server_default='RS256')
        )
    _retire_extra_active_keys()
    op.create_index(
        'uq_signing_keys_active_alg', 'signing_keys', ['alg'], unique=True,
        sqlite_where=ACTIVE, postgresql_where=ACTIVE,
    )


def _retire_extra_active_keys() -> None:
    """Two workers starting at once on an older release could each create a first key: keep
    the newest active key of each algorithm active, retire the others (they stay published
    until their retention ends, so no token they signed stops verifying)."""
    keys = sa.table(
        'signing_keys', sa.column('kid', sa.String), sa.column('alg', sa.String),
        sa.column('active', sa.Boolean), sa.column('created_at', sa.DateTime(timezone=True)),
        sa.column('retired_at', sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(keys.c.kid, keys.c.alg).where(keys.c.active.is_(True)).order_by(keys.c.created_at.desc())
    ).all()
    seen: set[str] = set()
    extra = []
    for kid, alg in rows:
        if alg in seen:
            extra.append(kid)
        seen.add(alg)
    if extra:
        bind.execute(
            keys.update().where(keys.c.kid.in_(extra)).values(active=False, retired_at=sa.func.current_timestamp())
        )


def downgrade() -> None:
    op.drop_index('uq_signing_keys_active_alg', table_name='signing_keys')
    # the release before this one reads every key as RSA and verifies RS256 only: ES256 and
    # EdDSA keys must go (tokens they signed could not be verified by it anyway)
    op.execute(sa.text("DELETE FROM signing_keys WHERE alg <> 'RS256'"))
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('id_token_signed_response_alg')
        batch_op.drop_column('access_token_alg')
