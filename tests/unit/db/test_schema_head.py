"""The fast "already migrated?" check compares with a constant; it must equal Alembic's own head."""

from diagnostic_operator.db.engine import SCHEMA_HEAD, head_revision


def test_schema_head_constant_matches_the_newest_migration() -> None:
    assert head_revision() == SCHEMA_HEAD, "update SCHEMA_HEAD in db/engine.py when adding a migration"
