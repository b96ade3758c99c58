"""subject.log_records: how many log records name each subject, kept by their writers

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subject") as batch:
        batch.add_column(sa.Column("log_records", sa.BigInteger(), nullable=False, server_default="0"))
    # One count per subject that has records, each an index-only walk of ix_log_record_subject_at.
    op.execute(
        "UPDATE subject SET log_records = "
        "(SELECT count(*) FROM log_record WHERE log_record.subject_id = subject.id) "
        "WHERE id IN (SELECT subject_id FROM log_record WHERE subject_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("subject") as batch:
        batch.drop_column("log_records")
