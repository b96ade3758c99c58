"""site data, ingest and consent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 18:01:46.934251
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cookie_catalog',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('purposes', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('lifetime_days', sa.Integer(), nullable=True),
    sa.Column('identifies_browser', sa.Boolean(), nullable=False),
    sa.Column('decoder', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cookie_catalog')),
    sa.UniqueConstraint('name', name=op.f('uq_cookie_catalog_name'))
    )
    op.create_table('ingest_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('lines_read', sa.BigInteger(), nullable=False),
    sa.Column('stored', sa.BigInteger(), nullable=False),
    sa.Column('duplicates', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_run'))
    )
    op.create_table('ingest_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('device', sa.BigInteger(), nullable=True),
    sa.Column('inode', sa.BigInteger(), nullable=True),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('fingerprint_bytes', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('lines', sa.BigInteger(), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_source'))
    )
    with op.batch_alter_table('ingest_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_source_fingerprint'), ['fingerprint'], unique=False)

    op.create_table('unclassified_cookie',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('seen', sa.BigInteger(), nullable=False),
    sa.Column('first_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_unclassified_cookie'))
    )
    op.create_table('consent',
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('personalization', sa.Boolean(), nullable=False),
    sa.Column('marketing', sa.Boolean(), nullable=False),
    sa.Column('email', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_consent_subject_id_subject')),
    sa.PrimaryKeyConstraint('subject_id', name=op.f('pk_consent'))
    )
    op.create_table('consent_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('value', sa.Boolean(), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_consent_event_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_event'))
    )
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_event_subject_id'), ['subject_id'], unique=False)

    op.create_table('identifier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('value_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('first_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('set_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_user_agent', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_identifier_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identifier')),
    sa.UniqueConstraint('kind', 'name', 'value_hash', name=op.f('uq_identifier_kind_name_value_hash'))
    )
    with op.batch_alter_table('identifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identifier_subject_id'), ['subject_id'], unique=False)

    op.create_table('log_record',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.BigInteger(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ip', sqlmodel.sql.sqltypes.AutoString(length=45), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('protocol', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=True),
    sa.Column('referrer', sa.Text(), nullable=True),
    sa.Column('referrer_domain', sqlmodel.sql.sqltypes.AutoString(length=253), nullable=True),
    sa.Column('user_agent', sa.Text(), nullable=True),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('cookies', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['ingest_source.id'], name=op.f('fk_log_record_source_id_ingest_source')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_log_record_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_record')),
    sa.UniqueConstraint('source_id', 'line_no', name=op.f('uq_log_record_source_id_line_no'))
    )
    with op.batch_alter_table('log_record', schema=None) as batch_op:
        batch_op.create_index('ix_log_record_at', ['at'], unique=False)
        batch_op.create_index('ix_log_record_subject_at', ['subject_id', 'at', 'id'], unique=False)

    op.create_table('promo_email',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('list', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('campaign', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_promo_email_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promo_email'))
    )
    with op.batch_alter_table('promo_email', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promo_email_subject_id'), ['subject_id'], unique=False)

    op.create_table('quarantined_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('line_no', sa.BigInteger(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('raw_length', sa.BigInteger(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['ingest_run.id'], name=op.f('fk_quarantined_line_run_id_ingest_run'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['ingest_source.id'], name=op.f('fk_quarantined_line_source_id_ingest_source'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_line'))
    )
    with op.batch_alter_table('quarantined_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_line_run_id'), ['run_id'], unique=False)

    op.create_table('search_preference',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('term', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('engine', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('first_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('times', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_search_preference_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_preference')),
    sa.UniqueConstraint('subject_id', 'term', 'source', 'engine', name=op.f('uq_search_preference_subject_id_term_source_engine'))
    )
    with op.batch_alter_table('search_preference', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_preference_subject_id'), ['subject_id'], unique=False)

    op.create_table('site_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('email_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('adult_verified', sa.Boolean(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_site_account_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site_account')),
    sa.UniqueConstraint('site_user_id', name=op.f('uq_site_account_site_user_id'))
    )
    with op.batch_alter_table('site_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_account_email_hash'), ['email_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_site_account_subject_id'), ['subject_id'], unique=False)

    op.create_table('subject_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('merged_id', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_subject_link_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_link'))
    )
    with op.batch_alter_table('subject_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_link_subject_id'), ['subject_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subject_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_link_subject_id'))

    op.drop_table('subject_link')
    with op.batch_alter_table('site_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_account_subject_id'))
        batch_op.drop_index(batch_op.f('ix_site_account_email_hash'))

    op.drop_table('site_account')
    with op.batch_alter_table('search_preference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_preference_subject_id'))

    op.drop_table('search_preference')
    with op.batch_alter_table('quarantined_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_line_run_id'))

    op.drop_table('quarantined_line')
    with op.batch_alter_table('promo_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promo_email_subject_id'))

    op.drop_table('promo_email')
    with op.batch_alter_table('log_record', schema=None) as batch_op:
        batch_op.drop_index('ix_log_record_subject_at')
        batch_op.drop_index('ix_log_record_at')

    op.drop_table('log_record')
    with op.batch_alter_table('identifier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identifier_subject_id'))

    op.drop_table('identifier')
    with op.batch_alter_table('consent_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_event_subject_id'))

    op.drop_table('consent_event')
    op.drop_table('consent')
    op.drop_table('unclassified_cookie')
    with op.batch_alter_table('ingest_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_source_fingerprint'))

    op.drop_table('ingest_source')
    op.drop_table('ingest_run')
    op.drop_table('cookie_catalog')
