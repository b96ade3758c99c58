"""lean log_record: no per-row foreign-key checks, partial subject index, BRIN on time (PostgreSQL)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

SUBJECT_SET = sa.text('subject_id IS NOT NULL')


def upgrade() -> None:
    # log_record is the one high-volume, append-only table. Its two foreign keys cost PostgreSQL a
    # SELECT … FOR KEY SHARE per inserted row, the biggest single cost of bulk ingest, and guard
    # against nothing that happens: subjects are never deleted (a merge sets merged_into_id),
    # sources are never deleted, and ingest holds its source row FOR UPDATE in the transaction
    # that inserts the lines. `portal db check` counts orphaned rows instead.
    # About 70% of lines carry no identifier and are never read by subject: the subject index
    # leaves them out. Lines arrive in time order and only retention reads by time alone
    # (at < cutoff), so on PostgreSQL the time index is a BRIN; SQLite keeps a btree.
    # On SQLite batch mode rebuilds the table (it cannot drop a foreign key in place).
    with op.batch_alter_table('log_record', schema=None) as batch_op:
        batch_op.drop_constraint('fk_log_record_source_id_ingest_source', type_='foreignkey')
        batch_op.drop_constraint('fk_log_record_subject_id_subject', type_='foreignkey')
        batch_op.drop_index('ix_log_record_subject_at')
        batch_op.drop_index('ix_log_record_at')
        batch_op.create_index('ix_log_record_subject_at', ['subject_id', 'at', 'id'], unique=False,
                              sqlite_where=SUBJECT_SET, postgresql_where=SUBJECT_SET)
        batch_op.create_index('ix_log_record_at', ['at'], unique=False, postgresql_using='brin')


def downgrade() -> None:
    # Re-adding the foreign keys validates every row: it fails while `portal db check` reports orphans.
    with op.batch_alter_table('log_record', schema=None) as batch_op:
        batch_op.drop_index('ix_log_record_at')
        batch_op.drop_index('ix_log_record_subject_at')
        batch_op.create_index('ix_log_record_at', ['at'], unique=False)
        batch_op.create_index('ix_log_record_subject_at', ['subject_id', 'at', 'id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_log_record_subject_id_subject'), 'subject', ['subject_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_log_record_source_id_ingest_source'), 'ingest_source', ['source_id'], ['id'])
