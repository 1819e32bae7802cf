"""The server survives a SIGTERM restart on the same port and database (what e2e relies on)."""

import json
from pathlib import Path

import httpx

from peers.server import ServerProcess, provision
from tests.server.samples import batch, series


def test_restart_keeps_data_and_tokens(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess(database_url, workdir=tmp_path)
    tenant = provision(database_url, devices=["cam-1"])
    body = json.dumps(batch(*series("cam-1", 3)))
    url = f"{server.base_url}/api/v1/ingest"
    with server:
        assert httpx.post(url, content=body, headers=tenant.agent_headers).json()["accepted"] == 3
        port = server.port
        server.restart()
        assert server.port == port
        again = httpx.post(url, content=body, headers=tenant.agent_headers)
        assert again.json() == {"accepted": 0, "duplicates": 3}
    assert server.stop() is None  # already stopped by the context manager
