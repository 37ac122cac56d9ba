"""The database schema as SQLAlchemy 2 typed models.

One schema for PostgreSQL (production) and SQLite (local runs and tests). JSON columns are JSONB on
PostgreSQL where they are queried (``dimensions``, with a GIN ``jsonb_path_ops`` index for containment)
and plain JSON elsewhere. Natural keys carry the unique constraints that ``INSERT … ON CONFLICT DO
NOTHING`` relies on, so replaying an ingest adds nothing.

The value tables (``scalar_values``, ``series_values``) deliberately carry no foreign keys: PostgreSQL
checks a foreign key with one query per inserted row, which measured ~1.2 s of server CPU per key per
100,000 rows, more than the whole ``COPY``. ``ingest`` instead checks once per transaction that the
execution and the attempt exist (locking them ``FOR KEY SHARE``, as the foreign key would), resolves axis
ids in the same transaction, and the migration adds a trigger that deletes an execution's values with it.

The migration in ``db/migrations/versions`` creates exactly this schema; a test compares the two.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON that is JSONB on PostgreSQL (indexable, containment queries) and JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
#: Timestamps are always timezone-aware UTC.
Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ExecutionGroup(Base):
    """One diagnostic applied to one set of inputs. ``dirty`` is true while the group needs a (re)run."""

    __tablename__ = "execution_groups"
    __table_args__ = (UniqueConstraint("provider", "slug", "group_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(63))
    slug: Mapped[str] = mapped_column(String(63))
    diagnostic_version: Mapped[str] = mapped_column(String(63))
    group_key: Mapped[str] = mapped_column(String(253))
    dirty: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class Execution(Base):
    """One request to run a group on a dataset hash (one ``DiagnosticExecution``); ``uid`` is its key."""

    __tablename__ = "executions"
    __table_args__ = (
        UniqueConstraint("uid"),
        Index(None, "namespace", "name"),
        Index(None, "group_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("execution_groups.id", ondelete="CASCADE"))
    namespace: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(253))
    uid: Mapped[str] = mapped_column(String(253))
    dataset_hash: Mapped[str | None] = mapped_column(String(256))
    phase: Mapped[str] = mapped_column(String(16), default="Pending", server_default="Pending")
    failure_class: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    successful: Mapped[bool | None] = mapped_column(Boolean)
    output_location: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The local ``run`` process that runs it (NULL for the cluster's operator): see db/runners.py.
    runner_host: Mapped[str | None] = mapped_column(String(253))
    runner_pid: Mapped[int | None] = mapped_column(Integer)


class Attempt(Base):
    """One try of an execution (one Job and its Pod, or one local process), with its telemetry."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("execution_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    job: Mapped[str | None] = mapped_column(String(253))
    pod: Mapped[str | None] = mapped_column(String(253))
    node: Mapped[str | None] = mapped_column(String(253))
    requested_memory: Mapped[str | None] = mapped_column(String(32))
    requested_cpu: Mapped[str | None] = mapped_column(String(32))
    requested_wall_clock: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    signal: Mapped[int | None] = mapped_column(Integer)
    termination_reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    failure_class: Mapped[str | None] = mapped_column(String(32))
    decision: Mapped[str | None] = mapped_column(String(16))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    peak_memory_source: Mapped[str | None] = mapped_column(String(32))
    memory_limit_bytes: Mapped[int | None] = mapped_column(BigInteger)
    queue_seconds: Mapped[float | None] = mapped_column(Float)
    log_location: Mapped[str | None] = mapped_column(Text)


#: The predicates of the two partial unique indexes of ``outputs``. ``ON CONFLICT`` must name the same text
#: (PostgreSQL infers the arbiter index from it), so both the models and ``ingest`` use these.
BUNDLE_OUTPUT = "NOT partial"
PARTIAL_OUTPUT = "partial"


class Output(Base):
    """One file published to the object store and recorded for an execution.

    ``partial = false``: a file the output bundle of a successful attempt names; its natural key is
    (execution, output type, short name). ``partial = true``: a file a failed or timed-out attempt left in
    its results folder (docs/object-store.md, ``partial/``); never ingested as values, keyed by (attempt,
    path): output type ``data``, short name and filename the path in the results folder, no long name,
    description or dimensions. Each kind has its own unique index, so the partial files of several
    attempts, and a later successful attempt's outputs, never collide.
    """

    __tablename__ = "outputs"
    __table_args__ = (
        Index("uq_outputs_execution_id_output_type_short_name", "execution_id", "output_type", "short_name",
              unique=True, sqlite_where=text(BUNDLE_OUTPUT), postgresql_where=text(BUNDLE_OUTPUT)),
        Index("uq_outputs_partial_attempt_id_filename", "attempt_id", "filename", unique=True,
              sqlite_where=text(PARTIAL_OUTPUT), postgresql_where=text(PARTIAL_OUTPUT)),
        CheckConstraint("output_type IN ('plot', 'data', 'html')", name="output_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"))
    output_type: Mapped[str] = mapped_column(String(8))
    short_name: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    long_name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    dimensions: Mapped[dict[str, str]] = mapped_column(JSONDoc)
    uri: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    partial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ScalarValue(Base):
    """One scalar of the metric bundle; ``value`` NULL means missing (JSON null or NaN)."""

    __tablename__ = "scalar_values"
    __table_args__ = (
        UniqueConstraint("execution_id", "dimensions_hash"),
        CheckConstraint("kind IN ('model', 'reference')", name="kind"),
        Index(
            "ix_scalar_values_dimensions_gin",
            "dimensions",
            postgresql_using="gin",
            postgresql_ops={"dimensions": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # No per-row foreign keys on the value tables (see module docstring): ingest checks the execution
    # and attempt once per transaction, and a trigger deletes the values of a deleted execution.
    execution_id: Mapped[int] = mapped_column(Integer)
    attempt_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    dimensions: Mapped[dict[str, str]] = mapped_column(JSONDoc)
    dimensions_hash: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SeriesIndexAxis(Base):
    """A series index (name + values), shared by every series with the same index."""

    __tablename__ = "series_index_axes"
    __table_args__ = (UniqueConstraint("hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    values: Mapped[list[Any]] = mapped_column(JSON)
    hash: Mapped[str] = mapped_column(String(64))


class SeriesValue(Base):
    """One 1-d series; ``values`` is a JSON array whose null elements are missing values."""

    __tablename__ = "series_values"
    __table_args__ = (
        UniqueConstraint("execution_id", "dimensions_hash"),
        CheckConstraint("kind IN ('model', 'reference')", name="kind"),
        Index(
            "ix_series_values_dimensions_gin",
            "dimensions",
            postgresql_using="gin",
            postgresql_ops={"dimensions": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
        Index(None, "index_axis_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # No per-row foreign keys on the value tables (see module docstring): ingest checks the execution
    # and attempt once per transaction, and a trigger deletes the values of a deleted execution.
    execution_id: Mapped[int] = mapped_column(Integer)
    attempt_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    dimensions: Mapped[dict[str, str]] = mapped_column(JSONDoc)
    dimensions_hash: Mapped[str] = mapped_column(String(64))
    values: Mapped[list[float | None]] = mapped_column(JSON)
    index_axis_id: Mapped[int] = mapped_column(Integer)  # series_index_axes.id (axes are never deleted)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    value_units: Mapped[str | None] = mapped_column(Text)
    value_long_name: Mapped[str | None] = mapped_column(Text)
    index_units: Mapped[str | None] = mapped_column(Text)
    calendar: Mapped[str | None] = mapped_column(Text)
