"""The process that runs a local execution: ``executions.runner_host`` and ``executions.runner_pid``.

A local ``run`` records its host name and process id on the executions it runs. A ``run`` that died without
ending its execution (SIGKILL, a crash, a reboot) leaves it Running; the next command on the same host that
finds the process gone records it as Failed, class Infrastructure, reason RunnerLost. Both columns are NULL
for executions the cluster's operator runs. Nullable columns are added in place on SQLite and PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("executions", sa.Column("runner_host", sa.String(length=253), nullable=True))
    op.add_column("executions", sa.Column("runner_pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    # In place on both (SQLite >= 3.35): a batch rebuild of ``executions`` would drop the old table, and with
    # foreign keys on that deletes every execution's attempts and outputs (ON DELETE CASCADE).
    op.execute("ALTER TABLE executions DROP COLUMN runner_pid")
    op.execute("ALTER TABLE executions DROP COLUMN runner_host")
