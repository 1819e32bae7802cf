"""A locked or vanished database answers 503 with Retry-After, and nothing half-stored."""

import json
from pathlib import Path

import httpx
import pytest

from peers.postgres import PostgresServer
from peers.server import ServerProcess, provision
from server.db import make_engine, write_transaction
from tests.server.samples import batch, series


def test_locked_sqlite_answers_503_then_recovers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'secmon.db'}"
    server = ServerProcess(url, workdir=tmp_path, env={"SECMON_SQLITE_BUSY_TIMEOUT_MS": "200"})
    tenant = provision(url, devices=["cam-1"])
    body = json.dumps(batch(*series("cam-1", 3)))
    engine = make_engine(url)
    with server:
        with write_transaction(engine):  # another writer holds the lock meanwhile
            response = httpx.post(
                f"{server.base_url}/api/v1/ingest", content=body, headers=tenant.agent_headers
            )
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "unavailable"
        assert response.headers["Retry-After"]
        retry = httpx.post(
            f"{server.base_url}/api/v1/ingest", content=body, headers=tenant.agent_headers
        )
        assert retry.json() == {"accepted": 3, "duplicates": 0}
    engine.dispose()


@pytest.mark.postgres
def test_vanished_postgres_answers_503(postgres_server: PostgresServer, tmp_path: Path) -> None:
    url = postgres_server.create_database()
    server = ServerProcess(url, workdir=tmp_path)
    tenant = provision(url, devices=["cam-1"])
    with server:
        postgres_server.drop_database(url)
        response = httpx.post(
            f"{server.base_url}/api/v1/ingest",
            content=json.dumps(batch(*series("cam-1", 2))),
            headers=tenant.agent_headers,
        )
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"]
        assert httpx.get(f"{server.base_url}/healthz").status_code == 503
