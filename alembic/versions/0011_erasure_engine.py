"""erasure engine: its progress per request, the suppression list, erased identifiers, mail that
is erased once delivered

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 01:09:38.924464
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What outlives an erasure, as keyed hashes only: the address on the suppression list (never
    # mailed promotions again) and the identifiers ingest must not tie to anyone again.
    op.create_table('erased_identifier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('value_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('erased_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erased_identifier')),
    sa.UniqueConstraint('kind', 'name', 'value_hash', name=op.f('uq_erased_identifier_kind_name_value_hash'))
    )
    op.create_table('suppression',
    sa.Column('email_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('email_hash', name=op.f('pk_suppression'))
    )
    # Counts per registry category, committed with each batch: a killed run resumes with exact counts.
    op.create_table('erasure_run',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('planned', sa.Text(), nullable=False),
    sa.Column('done', sa.Text(), nullable=False),
    sa.Column('batches', sa.Integer(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['data_request.id'], name=op.f('fk_erasure_run_request_id_data_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_erasure_run'))
    )
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erase_when_sent', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.drop_column('erase_when_sent')
    op.drop_table('erasure_run')
    op.drop_table('suppression')
    op.drop_table('erased_identifier')
