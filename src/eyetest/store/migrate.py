"""Schema migrations (alembic), run programmatically.

``upgrade(engine)`` brings a database of any earlier eyetest version (or an
empty one) to the current schema; it is called whenever a store is opened,
so a study made by an older version still opens.  ``current_revision``
reports where a database stands.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("eyetest.store") / "migrations"))
    return cfg


def head_revision() -> str:
    """The newest migration revision this version of eyetest knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest)."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
