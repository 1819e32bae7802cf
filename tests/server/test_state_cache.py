"""Replicas with their own state caches on one database end with the state a cache-less server
computes: a cached state is used only while the row still carries its version."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from peers.server import provision
from server import migrate
from server.agent_tokens import AgentPrincipal
from server.db import make_engine
from server.ingest import store_batch
from server.state import CurrentState
from server.state_cache import StateCache
from server.state_store import load_states
from tests.server.samples import sample
from wire.schema import IngestBatch

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _batch(second: int, *, temp: int, reachable: bool = True) -> IngestBatch:
    body = sample(
        "cam-1", ts=T0 + timedelta(seconds=second), reachable=reachable, checks={"temp_c": temp}
    )
    return IngestBatch.model_validate({"samples": [body]})


def _final_state(tmp_path: Path, name: str, caches: list[StateCache | None]) -> CurrentState:
    """Ingest the same batches, the i-th through the replica with caches[i % len(caches)]."""
    url = f"sqlite:///{tmp_path / name}.db"
    migrate.upgrade(database_url=url)
    tenant = provision(url, devices=["cam-1"])
    engine = make_engine(url)
    principal = AgentPrincipal(token_id=1, site_id=tenant.site_id, prefix=tenant.token_prefix)
    batches = [
        _batch(0, temp=40),
        _batch(10, temp=41),
        _batch(20, temp=41, reachable=False),
        _batch(30, temp=45),
        _batch(40, temp=45),
    ]
    for i, batch in enumerate(batches):
        cache = caches[i % len(caches)]
        store_batch(engine=engine, principal=principal, batch=batch, now=T0, states=cache)
    with engine.connect() as conn:
        state = load_states(conn, tenant.device_pks.values())[tenant.device_pks["cam-1"]]
    engine.dispose()
    return state


def test_two_replicas_with_caches_match_a_server_without_one(tmp_path: Path) -> None:
    replicas = _final_state(tmp_path, "replicas", [StateCache(), StateCache()])
    plain = _final_state(tmp_path, "plain", [None])
    assert replicas.checks["temp_c"].value == 45
    assert replicas.checks["temp_c"].changed_at == T0 + timedelta(seconds=30)
    assert replicas.status_changed_at == T0 + timedelta(seconds=30)
    assert (replicas.status, replicas.checks) == (plain.status, plain.checks)


def test_stale_entry_is_not_used() -> None:
    cache = StateCache()
    old = CurrentState(last_sample_id=_batch(0, temp=1).samples[0].id)
    cache.put_many({7: old})
    assert cache.get(7, old.last_sample_id) is old
    assert cache.get(7, _batch(1, temp=1).samples[0].id) is None
    assert cache.get(7, None) is None
    assert cache.get(8, old.last_sample_id) is None
