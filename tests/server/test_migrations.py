"""The shipped migrations: up, down to nothing, up again, and they match the models."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from server import migrate
from server.db import make_engine
from server.schema import Base


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    assert _tables(database_url) == set(Base.metadata.tables)
    migrate.downgrade(database_url=database_url, revision="base")
    assert _tables(database_url) == set()
    migrate.upgrade(database_url=database_url)
    assert _tables(database_url) == set(Base.metadata.tables)


def test_migrations_match_the_models(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
