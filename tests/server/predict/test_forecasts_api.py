"""`GET /api/v1/devices/{id}/forecasts` and `/api/v1/kpis/preventive` on a running server:
evidence and chart per check, preventive tickets counted apart, and a client sees only its own."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert

from peers.server import ServerProcess, Tenant, add_user, provision
from server import migrate
from server.db import make_engine, session_factory, write_session
from server.models import SampleRow
from server.predict.job import forecast_site
from server.predict.store import rollup_all_checks
from tests.server.predict.series import sample
from wire.enums import Role

PASSWORD = "correct horse battery staple"
TEMP = "host.disk.sda.celsius"


@dataclass
class World:
    server: ServerProcess
    acme: Tenant
    globex: Tenant

    def client_for(self, username: str) -> httpx.Client:
        token = httpx.post(
            f"{self.server.base_url}/api/v1/auth/token",
            data={"username": username, "password": PASSWORD},
        ).json()["access_token"]
        return httpx.Client(
            base_url=self.server.base_url, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = module_database_url
    migrate.upgrade(database_url=url)
    acme = provision(url, client="acme-f", devices=["nvr-1"])
    globex = provision(url, client="globex-f", devices=["nvr-9"])
    add_user(url, username="boss-f", password=PASSWORD, role=Role.MANAGER)
    add_user(
        url,
        username="globex-viewer",
        password=PASSWORD,
        role=Role.CLIENT,
        client_id=globex.client_id,
    )
    now = datetime.now(UTC)
    device = acme.device_pks["nvr-1"]
    rows = [
        sample(device, now - timedelta(days=39 - i, minutes=5), {TEMP: 40 + 0.6 * i})
        for i in range(40)
    ]
    engine = make_engine(url)
    try:
        with write_session(engine) as session:
            session.execute(insert(SampleRow), rows)
        with session_factory(engine)() as session:
            rollup_all_checks(
                session=session,
                now=now,
                after_site=lambda s, site_id, devices: forecast_site(
                    session=s, site_id=site_id, device_ids=devices, now=now
                ),
            )
    finally:
        engine.dispose()
    server = ServerProcess(url, workdir=tmp_path_factory.mktemp("forecasts"))
    server.start()
    try:
        yield World(server, acme, globex)
    finally:
        server.stop()


def test_device_forecast_carries_evidence_and_chart(world: World) -> None:
    device = world.acme.device_pks["nvr-1"]
    with world.client_for("boss-f") as api:
        answer = api.get(f"/api/v1/devices/{device}/forecasts")
    assert answer.status_code == 200, answer.text
    [forecast] = answer.json()
    assert forecast["check"] == TEMP
    assert forecast["signal"] == "temperature"
    assert forecast["verdict"] == "trend_to_threshold"
    assert forecast["alarm"] is True
    assert forecast["threshold"] == 65.0
    assert forecast["projected"] is not None
    assert len(forecast["days"]) == len(forecast["values"]) == 30
    assert forecast["svg"].startswith("<svg")
    assert "65" in forecast["en"]
    assert forecast["zh"]


def test_other_clients_device_is_not_found(world: World) -> None:
    device = world.acme.device_pks["nvr-1"]
    with world.client_for("globex-viewer") as api:
        answer = api.get(f"/api/v1/devices/{device}/forecasts")
    assert answer.status_code == 404
    assert answer.json()["error"]


def test_preventive_tickets_are_counted_apart_per_scope(world: World) -> None:
    with world.client_for("boss-f") as api:
        staff = api.get("/api/v1/kpis/preventive").json()
        faults = api.get("/api/v1/kpis").json()
        every = api.get("/api/v1/tickets").json()
    assert staff["opened"] == 1
    assert staff["open"] == 1
    assert staff["resolved_by_deadline"] == staff["resolved_late"] == 0
    # The fault KPIs count every ticket but the preventive one.
    assert [t["kind"] for t in every].count("preventive") == 1
    assert sum(row["tickets"] for row in faults) == len(every) - 1
    with world.client_for("globex-viewer") as api:
        assert api.get("/api/v1/kpis/preventive").json()["opened"] == 0
