"""Settings and the token-signing key: dev generates and keeps one; production refuses."""

from pathlib import Path

import pytest

from server.secret_key import SecretKeyMissingError, WeakSecretKeyError, load_secret_key
from server.settings import DEFAULT_DATABASE_URL, Environment, Settings


def test_defaults_to_an_sqlite_file_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert Settings().database_url == DEFAULT_DATABASE_URL == "sqlite:///./secmon.db"
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("SECMON_RETENTION_DAYS", "7")
    settings = Settings()
    assert (settings.database_url, settings.retention_days) == ("postgresql+psycopg://u@h/db", 7)


def test_dev_key_is_generated_next_to_the_sqlite_file_and_reused(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'data' / 'secmon.db'}",
        secret_key=None,
        secret_key_file=None,
    )
    key = load_secret_key(settings)
    assert (tmp_path / "data" / "secmon-secret.key").read_text().strip() == key
    assert load_secret_key(settings) == key
    assert len(key) >= 32


FILE_KEY = "from-file-0123456789abcdefghijklmnop"
ENV_KEY = "from-env-0123456789abcdefghijklmnopq"


def test_key_from_file_or_env_wins(tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_text(FILE_KEY + "\n")
    assert load_secret_key(Settings(secret_key_file=keyfile)) == FILE_KEY
    assert load_secret_key(Settings(secret_key=ENV_KEY)) == ENV_KEY


@pytest.mark.parametrize("environment", list(Environment))
@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "is empty"),
        ("changeme", "placeholder"),
        ("CHANGEME", "placeholder"),
        ("short-but-random-Zq81", "shorter than 32 bytes"),
        ("a" * 64, "different characters"),
    ],
)
def test_an_empty_short_or_placeholder_key_refuses_to_start_in_any_environment(
    tmp_path: Path, environment: Environment, key: str, why: str
) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_text(key + "\n")
    for settings in (
        Settings(environment=environment, secret_key=key),
        Settings(environment=environment, secret_key=None, secret_key_file=keyfile),
    ):
        with pytest.raises(WeakSecretKeyError, match=why):
            load_secret_key(settings)


def test_production_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'secmon.db'}",
        environment=Environment.PRODUCTION,
        secret_key=None,
        secret_key_file=None,
    )
    with pytest.raises(SecretKeyMissingError):
        load_secret_key(settings)
