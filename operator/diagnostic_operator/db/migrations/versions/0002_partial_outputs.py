"""Partial outputs: ``outputs.partial`` marks the files a failed or timed-out attempt left behind.

The bundle outputs' natural key (execution, output type, short name) becomes a unique index over the rows
with ``partial = false`` only, and the partial rows get their own, (attempt, filename): a failed attempt's
files must collide neither with another failed attempt's nor with the outputs of the attempt that
succeeds later. SQLite cannot drop a table constraint in place: the table is rebuilt (Alembic batch mode),
with its check constraint and foreign keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUNDLE_KEY = "uq_outputs_execution_id_output_type_short_name"
PARTIAL_KEY = "uq_outputs_partial_attempt_id_filename"
BUNDLE_COLUMNS = ["execution_id", "output_type", "short_name"]


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    column: sa.Column[bool] = sa.Column("partial", sa.Boolean(), server_default=sa.false(), nullable=False)
    if _postgresql():
        op.add_column("outputs", column)
        op.drop_constraint(BUNDLE_KEY, "outputs", type_="unique")
    else:
        with op.batch_alter_table("outputs", recreate="always") as batch:
            batch.add_column(column)
            batch.drop_constraint(BUNDLE_KEY, type_="unique")
    op.create_index(BUNDLE_KEY, "outputs", BUNDLE_COLUMNS, unique=True,
                    sqlite_where=sa.text("NOT partial"), postgresql_where=sa.text("NOT partial"))
    op.create_index(PARTIAL_KEY, "outputs", ["attempt_id", "filename"], unique=True,
                    sqlite_where=sa.text("partial"), postgresql_where=sa.text("partial"))


def downgrade() -> None:
    # The partial rows have no place in the old schema (they could break its unique constraint).
    op.execute("DELETE FROM outputs WHERE partial")
    op.drop_index(PARTIAL_KEY, "outputs")
    op.drop_index(BUNDLE_KEY, "outputs")
    if _postgresql():
        op.create_unique_constraint(BUNDLE_KEY, "outputs", BUNDLE_COLUMNS)
        op.drop_column("outputs", "partial")
    else:
        with op.batch_alter_table("outputs", recreate="always") as batch:
            batch.create_unique_constraint(BUNDLE_KEY, BUNDLE_COLUMNS)
            batch.drop_column("partial")
