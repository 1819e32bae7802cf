"""The backbone end to end: real `secmon server run` and `secmon agent run` processes, on SQLite
and on PostgreSQL. Nothing the agent measured may be lost or stored twice, whatever happens to
either process."""

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from peers.server import ServerProcess, Tenant, provision
from peers.site import INTERVAL_S, AgentProcess, Site, read_outbox, wait_for
from server.models import Device, DeviceState, SampleRow
from simulate.peers.net import free_port
from tests.e2e.holdproxy import HoldProxy

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site.make(tmp_path / "site")
    yield made
    made.close()


def sample_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(SampleRow)).scalar_one())


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(row[0]) for row in conn.execute(select(SampleRow.id))}


def server_metric(server: ServerProcess, name: str, label: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(f"{name}{{{label}}} "):
            return float(line.split()[1])
    return 0.0


def assert_no_gaps(engine: Engine, *, device_ids: list[str], slack: float = 2.5) -> None:
    """Each device's samples follow each other at its poll interval: no poll went missing."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Device.ext_id, SampleRow.ts)
            .join(Device, Device.id == SampleRow.device_id)
            .order_by(Device.ext_id, SampleRow.ts)
        ).all()
    by_device: dict[str, list[object]] = {}
    for ext_id, ts in rows:
        by_device.setdefault(ext_id, []).append(ts)
    for ext_id in device_ids:
        times = by_device.get(ext_id, [])
        assert len(times) >= 2, f"{ext_id}: {len(times)} samples"
        gaps = [b - a for a, b in itertools.pairwise(times)]  # type: ignore[operator]
        assert max(gaps) <= timedelta(seconds=INTERVAL_S * slack), f"{ext_id}: gap {max(gaps)}"


def start_agent(
    server: ServerProcess,
    site: Site,
    agents: list[AgentProcess],
    *,
    server_url: str | None = None,
    batch_size: int = 500,
) -> tuple[Tenant, AgentProcess]:
    """A fresh tenant in the server's database and an agent polling the site for it."""
    tenant = provision(server.database_url)
    config = site.write_config(
        server_url=server_url or server.base_url, token=tenant.token, batch_size=batch_size
    )
    agent = AgentProcess(config).start()
    agents.append(agent)
    return tenant, agent


def drain_and_stop(agent: AgentProcess, site: Site, engine: Engine) -> None:
    """Let the agent push everything, stop it cleanly, and check the server has every sample."""
    wait_for("outbox drained", lambda: agent.metric("secmon_agent_outbox_depth") == 0)
    assert agent.stop() == 0, agent.log()
    view = read_outbox(site.outbox_path)
    if view.depth:  # the last in-flight polls, flushed at shutdown; push them with one more run
        agent.start()
        wait_for("final drain", lambda: agent.metric("secmon_agent_outbox_depth") == 0)
        assert agent.stop() == 0, agent.log()
        view = read_outbox(site.outbox_path)
    assert view.depth == 0
    assert view.dropped == 0
    assert view.rejected == 0
    assert sample_count(engine) == view.total_enqueued


def test_samples_flow_into_device_state(
    database_url: str,
    server_factory: Callable[..., ServerProcess],
    site: Site,
    engine: Engine,
    agents: list[AgentProcess],
) -> None:
    tenant, agent = start_agent(server_factory(database_url), site, agents)

    def states() -> dict[str, DeviceState]:
        with Session(engine) as session:
            rows = session.execute(
                select(Device.ext_id, DeviceState)
                .join(DeviceState, DeviceState.device_id == Device.id)
                .where(Device.site_id == tenant.site_id)
            ).all()
        return {row[0]: row[1] for row in rows}

    def sampled() -> set[str]:
        return {dev for dev, state in states().items() if state.last_sample_at is not None}

    wait_for("a sample of every device", lambda: sampled() == set(site.device_ids))
    current = states()
    for dev in site.up:
        assert current[dev].reachable is True, dev
        assert current[dev].status == "up"
        assert current[dev].latency_ms is not None
    for dev in site.down:
        assert current[dev].reachable is False, dev
        assert current[dev].status == "down"
        assert current[dev].error_code == "device.unreachable"
    with engine.connect() as conn:
        names = dict(conn.execute(select(Device.ext_id, Device.device_class)).all())
    assert names == {**dict.fromkeys(site.up, "camera"), **dict.fromkeys(site.down, "ups")}
    drain_and_stop(agent, site, engine)


def test_server_down_for_60s_loses_and_duplicates_nothing(
    database_url: str,
    server_factory: Callable[..., ServerProcess],
    site: Site,
    engine: Engine,
    agents: list[AgentProcess],
) -> None:
    server = server_factory(database_url)
    _, agent = start_agent(server, site, agents)
    wait_for("first samples stored", lambda: sample_count(engine) >= len(site.device_ids))

    server.stop()
    stored_before = sample_count(engine)
    time.sleep(60)  # the outage itself; the agent keeps polling into its outbox
    queued = agent.metric("secmon_agent_outbox_depth")
    assert queued is not None
    # 4 devices polled every 5 s for a minute: about 48 samples wait in the outbox.
    assert queued >= len(site.device_ids) * (60 // INTERVAL_S) * 0.7
    assert sample_count(engine) == stored_before

    server.start()
    drain_and_stop(agent, site, engine)
    assert_no_gaps(engine, device_ids=list(site.up))  # down devices back off by design


def test_agent_killed_mid_push_loses_and_duplicates_nothing(
    database_url: str,
    server_factory: Callable[..., ServerProcess],
    site: Site,
    engine: Engine,
    agents: list[AgentProcess],
) -> None:
    server = server_factory(database_url)
    proxy = HoldProxy(port=free_port(), upstream_port=server.port)
    proxy.start()
    try:
        _, agent = start_agent(
            server, site, agents, server_url=f"http://127.0.0.1:{proxy.port}", batch_size=3
        )
        wait_for("first samples stored", lambda: sample_count(engine) >= 3)

        # The server stores the next batch, its answer never reaches the agent: kill it then.
        proxy.arm()
        assert proxy.held.wait(60), agent.log()
        wait_for("batch stored", lambda: len(stored_ids(engine)) > 0)
        agent.kill()
        view = read_outbox(site.outbox_path)
        stored_but_unacked = view.pending_ids & stored_ids(engine)
        assert stored_but_unacked, "the kill should leave a stored batch still in the outbox"

        proxy.disarm()
        agent.start()
        drain_and_stop(agent, site, engine)
    finally:
        proxy.stop()
    # The re-sent batch was recognised and ignored, not stored again.
    assert server_metric(server, "secmon_samples_ingested_total", 'result="duplicate"') >= len(
        stored_but_unacked
    )
    assert stored_but_unacked <= stored_ids(engine)
