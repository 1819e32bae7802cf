"""`/`, the first URL a new user opens, leads to the console; `/healthz` names this server."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from peers.server import TEST_SECRET_KEY
from server import migrate
from server.app import create_app
from server.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'secmon.db'}"
    migrate.upgrade(database_url=url)
    return Settings(
        database_url=url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        notify_worker=False,
        instance="run-4f2a",
    )


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_root_redirects_to_the_console(api: TestClient) -> None:
    answer = api.get("/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console"
    followed = api.get("/")  # the console sends a signed-out visitor on to its login form
    assert followed.status_code == 200
    assert followed.url.path == "/console/login"


def test_healthz_names_the_instance_it_was_started_as(api: TestClient) -> None:
    assert api.get("/healthz").json()["instance"] == "run-4f2a"
