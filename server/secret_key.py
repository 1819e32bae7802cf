"""The key that signs user access tokens: from the environment, a file, or (dev only) generated."""

import logging
import secrets
from pathlib import Path

from server.db import sqlite_path
from server.settings import Environment, Settings

log = logging.getLogger(__name__)
DEV_KEY_FILENAME = "secmon-secret.key"


class SecretKeyMissingError(RuntimeError):
    pass


def dev_key_path(settings: Settings) -> Path:
    """Next to the SQLite file, or in the working directory for other databases."""
    db_file = sqlite_path(settings.database_url)
    return (db_file.parent if db_file else Path.cwd()) / DEV_KEY_FILENAME


def load_secret_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.secret_key_file is not None:
        key = settings.secret_key_file.read_text().strip()
        if not key:
            raise SecretKeyMissingError(f"{settings.secret_key_file} is empty")
        return key
    if settings.environment != Environment.DEVELOPMENT:
        raise SecretKeyMissingError(
            "set SECMON_SECRET_KEY or SECMON_SECRET_KEY_FILE (a dev key is only generated "
            "when SECMON_ENVIRONMENT=development)"
        )
    path = dev_key_path(settings)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    log.warning("no SECMON_SECRET_KEY set: generated a development key in %s", path)
    return key
