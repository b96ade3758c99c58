"""log_record id from (source_id, line_no): the primary key holds each line to one row

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# portal.models.sitedata.LINE_BITS, written out: a migration must not change when the model does.
LINE_FACTOR = 1 << 40
UNIQUE = "uq_log_record_source_id_line_no"


def upgrade() -> None:
    # Every insert into log_record updated two unique indexes: the primary key (a sequence value)
    # and (source_id, line_no). With id = source_id * 2**40 + line_no the primary key says both,
    # and ingest knows each id without a sequence call. Existing rows get their derived id: the
    # old ids are all below 2**40, the new ones above, so no two rows meet on the way.
    op.execute(f"UPDATE log_record SET id = source_id * {LINE_FACTOR} + line_no")  # noqa: S608 (a constant)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(UNIQUE, "log_record", type_="unique")
        op.execute("ALTER TABLE log_record ALTER COLUMN id DROP DEFAULT")
        op.execute("DROP SEQUENCE IF EXISTS log_record_id_seq")
    else:
        # SQLite cannot drop a constraint in place: batch mode rebuilds the table.
        with op.batch_alter_table("log_record", schema=None) as batch_op:
            batch_op.drop_constraint(UNIQUE, type_="unique")


def downgrade() -> None:
    # The ids stay as they are; new rows get ids above them again.
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint(UNIQUE, "log_record", ["source_id", "line_no"])
        op.execute("CREATE SEQUENCE log_record_id_seq OWNED BY log_record.id")
        op.execute(
            "SELECT setval('log_record_id_seq', COALESCE((SELECT max(id) FROM log_record), 0) + 1, false)"
        )
        op.execute("ALTER TABLE log_record ALTER COLUMN id SET DEFAULT nextval('log_record_id_seq')")
    else:
        with op.batch_alter_table("log_record", schema=None) as batch_op:
            batch_op.create_unique_constraint(UNIQUE, ["source_id", "line_no"])
