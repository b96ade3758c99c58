"""back-office: disabled accounts, on-behalf confirmation links, staff-prepared copies, verifier runs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    op.create_table('request_confirmation',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reminder_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('reminded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['data_request.id'], name=op.f('fk_request_confirmation_request_id_data_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_request_confirmation')),
    sa.UniqueConstraint('reminder_hash', name=op.f('uq_request_confirmation_reminder_hash')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_request_confirmation_token_hash'))
    )
    op.create_table('request_copy',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('export_id', sa.Integer(), nullable=True),
    sa.Column('prepared_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prepared_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('released_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('released_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['export_id'], ['data_export.id'], name=op.f('fk_request_copy_export_id_data_export'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['request_id'], ['data_request.id'], name=op.f('fk_request_copy_request_id_data_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_request_copy'))
    )
    op.create_table('audit_verify_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('checked', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('total', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_verify_run'))
    )
    # Counts per status of open requests on every queue page, read from a covering partial index (a
    # few thousand entries, not the whole table); the dashboard's completion times and its
    # revocations and unsubscribes per day.
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.create_index('ix_data_request_open_status', ['status', 'closed_at'], unique=False, sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
        batch_op.create_index('ix_data_request_closed', ['closed_at'], unique=False, sqlite_where=sa.text('closed_at IS NOT NULL'), postgresql_where=sa.text('closed_at IS NOT NULL'))
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_event_at'), ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_event_at'))
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.drop_index('ix_data_request_closed')
        batch_op.drop_index('ix_data_request_open_status')
    op.drop_table('audit_verify_run')
    op.drop_table('request_copy')
    op.drop_table('request_confirmation')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('disabled_at')
