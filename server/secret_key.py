"""The key that signs user access tokens: from the environment, a file, or (dev only) generated."""

import logging
import secrets
from pathlib import Path

from server.db import sqlite_path
from server.settings import Environment, Settings

log = logging.getLogger(__name__)
DEV_KEY_FILENAME = "secmon-secret.key"


# Values copied from examples and tutorials; a key equal to one of them is known to everyone.
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "secret",
        "secretkey",
        "secret-key",
        "secret_key",
        "your-secret-key",
        "your_secret_key",
        "please-change-me",
        "password",
        "default",
        "test",
        "example",
        "xxx",
    }
)
MIN_KEY_BYTES = 32
MIN_DISTINCT_CHARACTERS = 8


class SecretKeyMissingError(RuntimeError):
    pass


class WeakSecretKeyError(SecretKeyMissingError):
    """The key is empty, short or a known placeholder: anyone could sign a token with it."""


def key_problem(key: str) -> str | None:
    """Why a signing key is unfit, in any environment, or None."""
    if not key:
        return "is empty"
    if key.strip().lower() in PLACEHOLDERS:
        return "is a known placeholder"
    if len(key.encode()) < MIN_KEY_BYTES:
        return f"is shorter than {MIN_KEY_BYTES} bytes"
    if len(set(key)) < MIN_DISTINCT_CHARACTERS:
        return f"has fewer than {MIN_DISTINCT_CHARACTERS} different characters"
    return None


def _checked(key: str, source: str) -> str:
    problem = key_problem(key)
    if problem is not None:
        raise WeakSecretKeyError(
            f"{source} {problem}; use at least {MIN_KEY_BYTES} random bytes"
            " (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )
    return key


def dev_key_path(settings: Settings) -> Path:
    """Next to the SQLite file, or in the working directory for other databases."""
    db_file = sqlite_path(settings.database_url)
    return (db_file.parent if db_file else Path.cwd()) / DEV_KEY_FILENAME


def load_secret_key(settings: Settings) -> str:
    """The signing key; refused (the server does not start) when empty, short or a placeholder."""
    if settings.secret_key is not None:
        return _checked(settings.secret_key.get_secret_value(), "SECMON_SECRET_KEY")
    if settings.secret_key_file is not None:
        key = settings.secret_key_file.read_text().strip()
        return _checked(key, str(settings.secret_key_file))
    if settings.environment != Environment.DEVELOPMENT:
        raise SecretKeyMissingError(
            "set SECMON_SECRET_KEY or SECMON_SECRET_KEY_FILE (a dev key is only generated "
            "when SECMON_ENVIRONMENT=development)"
        )
    path = dev_key_path(settings)
    if path.exists():
        return _checked(path.read_text().strip(), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    log.warning("no SECMON_SECRET_KEY set: generated a development key in %s", path)
    return key
