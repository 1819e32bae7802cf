"""POST /api/v1/heartbeat: the latest report per agent token, shown on the console."""

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from peers.server import ServerProcess, Tenant, provision
from server.models import AgentHeartbeatRow, AgentToken


@pytest.fixture(scope="module")
def served(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Tenant, str]]:
    server = ServerProcess(module_database_url, workdir=tmp_path_factory.mktemp("hb"))
    tenant = provision(module_database_url)
    server.start()
    try:
        yield server, tenant, module_database_url
    finally:
        server.stop()


def _beat(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "agent_version": "0.1.0",
        "sent_at": datetime.now(UTC).isoformat(),
        "outbox_depth": 12,
        "outbox_bytes": 4096,
        "outbox_oldest_age_s": 30.5,
        "outbox_dropped_total": 0,
        "outbox_rejected_total": 1,
    }
    body.update(over)
    return body


def _rows(url: str) -> list[AgentHeartbeatRow]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(AgentHeartbeatRow)))
    finally:
        engine.dispose()


def test_latest_heartbeat_is_kept_and_marks_the_token_used(
    served: tuple[ServerProcess, Tenant, str],
) -> None:
    server, tenant, url = served
    for depth in (12, 7):
        response = httpx.post(
            f"{server.base_url}/api/v1/heartbeat",
            json=_beat(outbox_depth=depth),
            headers=tenant.agent_headers,
        )
        assert response.status_code == 204, response.text
    (row,) = _rows(url)
    assert row.outbox_depth == 7
    assert row.site_id == tenant.site_id
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.max(AgentToken.last_used_at))) is not None
    finally:
        engine.dispose()


def test_bad_heartbeats_are_refused_and_store_nothing(
    served: tuple[ServerProcess, Tenant, str],
) -> None:
    server, tenant, url = served
    before = [(r.token_id, r.outbox_depth) for r in _rows(url)]
    url_hb = f"{server.base_url}/api/v1/heartbeat"
    assert httpx.post(url_hb, json=_beat()).status_code == 401
    bad = httpx.post(url_hb, json=_beat(outbox_depth=-1), headers=tenant.agent_headers)
    assert bad.status_code == 422
    assert "error" in bad.json()
    naive = httpx.post(
        url_hb, json=_beat(sent_at="2026-11-23T10:00:00"), headers=tenant.agent_headers
    )
    assert naive.status_code == 422
    assert [(r.token_id, r.outbox_depth) for r in _rows(url)] == before
