"""Schema migrations (alembic), run programmatically.

``upgrade(engine)`` brings a database of any earlier eyetest version (or an
empty one) to the current schema; it is called whenever a store is opened
(``open_store``), so a study made by an older version still opens.
``current_revision`` reports where a database stands.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import DatabaseError, OperationalError

from eyetest.store.engine import StoreError, describe, is_sqlite, make_engine


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("eyetest.store") / "migrations"))
    return cfg


def head_revision() -> str:
    """The newest migration revision this version of eyetest knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def _known(revision: str) -> bool:
    try:
        ScriptDirectory.from_config(_config()).get_revision(revision)
    except CommandError:
        return False
    return True


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest).

    A file that is not a database (or not eyetest's), and a database migrated
    by a newer eyetest, are a :class:`~eyetest.store.engine.StoreError`
    naming the database.
    """
    cfg = _config()
    try:
        with engine.begin() as conn:
            if is_sqlite(engine) and MigrationContext.configure(conn).get_current_revision() is None:
                tables = inspect(conn).get_table_names()
                if tables:
                    raise StoreError(f"{describe(engine)} is not an eyetest database (it has the tables "
                                     f"{', '.join(tables[:5])} but no eyetest schema)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except CommandError as exc:
        found = current_revision(engine)
        if found is not None and not _known(found):
            raise StoreError(f"the database {describe(engine)} was made by a newer eyetest (schema revision "
                             f"{found!r}; this one knows up to {head_revision()!r}): upgrade eyetest") from None
        raise StoreError(f"cannot migrate the database {describe(engine)}: {exc}") from None
    except OperationalError as exc:
        raise StoreError(f"cannot open the database {describe(engine)}: {exc.orig}") from None
    except DatabaseError as exc:
        raise StoreError(f"{describe(engine)} is not an eyetest database: {exc.orig}") from None


def open_store(url, *, create: bool = False, **engine_options) -> Engine:
    """An engine on a migrated study database (:func:`~eyetest.store.engine.make_engine` + :func:`upgrade`).

    ``create=False`` opens an existing SQLite file only; commands that only
    read or manage studies use it, so a mistyped path is an error rather than
    a new, empty database.
    """
    engine = make_engine(url, create=create, **engine_options)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
