"""Initial schema: groups, executions, attempts, outputs, scalar and series values, series index axes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:34:38.380376
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "execution_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=63), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("diagnostic_version", sa.String(length=63), nullable=False),
        sa.Column("group_key", sa.String(length=253), nullable=False),
        sa.Column("dirty", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_groups")),
        sa.UniqueConstraint(
            "provider", "slug", "group_key", name=op.f("uq_execution_groups_provider_slug_group_key")
        ),
    )
    op.create_table(
        "series_index_axes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series_index_axes")),
        sa.UniqueConstraint("hash", name=op.f("uq_series_index_axes_hash")),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("uid", sa.String(length=253), nullable=False),
        sa.Column("dataset_hash", sa.String(length=256), nullable=True),
        sa.Column("phase", sa.String(length=16), server_default="Pending", nullable=False),
        sa.Column("failure_class", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("successful", sa.Boolean(), nullable=True),
        sa.Column("output_location", sa.Text(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("attempt_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["execution_groups.id"],
            name=op.f("fk_executions_group_id_execution_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
        sa.UniqueConstraint("uid", name=op.f("uq_executions_uid")),
    )
    op.create_index(op.f("ix_executions_group_id"), "executions", ["group_id"])
    op.create_index(op.f("ix_executions_namespace_name"), "executions", ["namespace", "name"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=253), nullable=True),
        sa.Column("pod", sa.String(length=253), nullable=True),
        sa.Column("node", sa.String(length=253), nullable=True),
        sa.Column("requested_memory", sa.String(length=32), nullable=True),
        sa.Column("requested_cpu", sa.String(length=32), nullable=True),
        sa.Column("requested_wall_clock", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("signal", sa.Integer(), nullable=True),
        sa.Column("termination_reason", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("failure_class", sa.String(length=32), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("peak_memory_source", sa.String(length=32), nullable=True),
        sa.Column("memory_limit_bytes", sa.BigInteger(), nullable=True),
        sa.Column("queue_seconds", sa.Float(), nullable=True),
        sa.Column("log_location", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_attempts_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("execution_id", "number", name=op.f("uq_attempts_execution_id_number")),
    )
    op.create_table(
        "outputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("output_type", sa.String(length=8), nullable=False),
        sa.Column("short_name", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("long_name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "dimensions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint("output_type IN ('plot', 'data', 'html')", name=op.f("ck_outputs_output_type")),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name=op.f("fk_outputs_attempt_id_attempts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_outputs_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outputs")),
        sa.UniqueConstraint(
            "execution_id",
            "output_type",
            "short_name",
            name=op.f("uq_outputs_execution_id_output_type_short_name"),
        ),
    )
    op.create_table(
        "scalar_values",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "dimensions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("dimensions_hash", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.CheckConstraint("kind IN ('model', 'reference')", name=op.f("ck_scalar_values_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scalar_values")),
        sa.UniqueConstraint(
            "execution_id", "dimensions_hash", name=op.f("uq_scalar_values_execution_id_dimensions_hash")
        ),
    )
    if _postgresql():
        op.create_index(
            "ix_scalar_values_dimensions_gin",
            "scalar_values",
            ["dimensions"],
            postgresql_using="gin",
            postgresql_ops={"dimensions": "jsonb_path_ops"},
        )
    op.create_table(
        "series_values",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "dimensions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("dimensions_hash", sa.String(length=64), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("index_axis_id", sa.Integer(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("value_units", sa.Text(), nullable=True),
        sa.Column("value_long_name", sa.Text(), nullable=True),
        sa.Column("index_units", sa.Text(), nullable=True),
        sa.Column("calendar", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('model', 'reference')", name=op.f("ck_series_values_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series_values")),
        sa.UniqueConstraint(
            "execution_id", "dimensions_hash", name=op.f("uq_series_values_execution_id_dimensions_hash")
        ),
    )
    if _postgresql():
        op.create_index(
            "ix_series_values_dimensions_gin",
            "series_values",
            ["dimensions"],
            postgresql_using="gin",
            postgresql_ops={"dimensions": "jsonb_path_ops"},
        )
    op.create_index(op.f("ix_series_values_index_axis_id"), "series_values", ["index_axis_id"])
    # The value tables have no per-row foreign keys (too slow for bulk ingest, see models.py): delete an
    # execution's values together with it.
    if _postgresql():
        op.execute(
            "CREATE FUNCTION dxop_delete_execution_values() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN DELETE FROM scalar_values WHERE execution_id = OLD.id; "
            "DELETE FROM series_values WHERE execution_id = OLD.id; RETURN OLD; END $$"
        )
        op.execute(
            "CREATE TRIGGER trg_executions_delete_values AFTER DELETE ON executions "
            "FOR EACH ROW EXECUTE FUNCTION dxop_delete_execution_values()"
        )
    else:
        op.execute(
            "CREATE TRIGGER trg_executions_delete_values AFTER DELETE ON executions BEGIN "
            "DELETE FROM scalar_values WHERE execution_id = OLD.id; "
            "DELETE FROM series_values WHERE execution_id = OLD.id; END"
        )


def downgrade() -> None:
    on = " ON executions" if _postgresql() else ""
    op.execute(f"DROP TRIGGER IF EXISTS trg_executions_delete_values{on}")
    if _postgresql():
        op.execute("DROP FUNCTION IF EXISTS dxop_delete_execution_values()")
    op.drop_table("series_values")
    op.drop_table("scalar_values")
    op.drop_table("outputs")
    op.drop_table("attempts")
    op.drop_table("executions")
    op.drop_table("series_index_axes")
    op.drop_table("execution_groups")
