"""email change: the new address a mailed link confirms, the account a queued change is for, the
addresses an account had before

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 02:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("former_emails", sa.Text(), nullable=True))
    with op.batch_alter_table("link_token") as batch:
        batch.add_column(sa.Column("new_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
    with op.batch_alter_table("mail_request") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_request") as batch:
        batch.drop_column("account_id")
    with op.batch_alter_table("link_token") as batch:
        batch.drop_column("new_email")
    with op.batch_alter_table("account") as batch:
        batch.drop_column("former_emails")
