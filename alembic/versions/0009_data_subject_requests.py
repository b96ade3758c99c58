"""data-subject requests: the request, its timeline and staff's internal notes

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30 23:40:47.291215
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # due_on is derived (portal/requests/deadlines.py) and kept current, so the queue can sort and
    # page on an index. closed_at IS NULL marks open requests: the partial indexes hold only those
    # (a few thousand among 100,000s), and the partial unique index keeps one open request per
    # person and kind.
    op.create_table('data_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('paused_from', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('regime', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('deadline_basis', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('extension_months', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('extension_days', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('extended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('contact_addr', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('contact_confirmed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('wait_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('reminded_for', sa.Date(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['account.id'], name=op.f('fk_data_request_assignee_id_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_data_request_subject_id_subject'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_request'))
    )
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.create_index('ix_data_request_assignee_due', ['assignee_id', 'due_on', 'id'], unique=False, sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
        batch_op.create_index('ix_data_request_open_due', ['due_on', 'id'], unique=False, sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
        batch_op.create_index('ix_data_request_open_kind_due', ['kind', 'due_on', 'id'], unique=False, sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
        batch_op.create_index('ix_data_request_open_basis', ['deadline_basis'], unique=False, sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
        batch_op.create_index('ix_data_request_status_due', ['status', 'due_on', 'id'], unique=False)
        batch_op.create_index('ix_data_request_subject_received', ['subject_id', 'received_at'], unique=False)
        batch_op.create_index('uq_data_request_open_kind', ['subject_id', 'kind'], unique=True, sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))

    op.create_table('request_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('audit_seq', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['data_request.id'], name=op.f('fk_request_event_request_id_data_request'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_request_event_subject_id_subject'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_event'))
    )
    with op.batch_alter_table('request_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_event_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_request_event_subject_id'), ['subject_id'], unique=False)

    op.create_table('request_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['account.id'], name=op.f('fk_request_note_author_id_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['request_id'], ['data_request.id'], name=op.f('fk_request_note_request_id_data_request'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_request_note_subject_id_subject'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_note'))
    )
    with op.batch_alter_table('request_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_note_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_request_note_subject_id'), ['subject_id'], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes.
    op.drop_table('request_note')
    op.drop_table('request_event')
    op.drop_table('data_request')
