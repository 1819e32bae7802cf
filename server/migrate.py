"""Alembic driven from code: migrations ship in the package, the URL comes from settings."""

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option, so '%' in passwords needs no escaping.
    config.attributes["database_url"] = database_url
    return config


def upgrade(*, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(*, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
