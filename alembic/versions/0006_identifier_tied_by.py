"""identifier.tied_by: the evidence that tied an identifier to its subject

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Relinking (portal relink) keeps a tie only when evidence named the person: a site event
    # carrying the site user id ("event") or the person presenting the cookie while logged in
    # ("claim"); everything else is re-derived from the log lines ("seen"). Rows written before
    # this column existed stay NULL, except site user ids (always a site event), and the first
    # relink settles them.
    with op.batch_alter_table("identifier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tied_by", sa.String(length=16), nullable=True))
    op.execute("UPDATE identifier SET tied_by = 'event' WHERE kind = 'site_user'")


def downgrade() -> None:
    with op.batch_alter_table("identifier", schema=None) as batch_op:
        batch_op.drop_column("tied_by")
