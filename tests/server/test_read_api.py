"""Read API with user tokens: login, sites, devices with state, samples; role client scoping."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from peers.server import ServerProcess, Tenant, add_user, provision
from tests.server.samples import batch, sample
from wire.enums import Role

PASSWORD = "correct horse battery staple"


@dataclass
class World:
    server: ServerProcess
    acme: Tenant
    globex: Tenant

    def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return httpx.post(
            f"{self.server.base_url}/api/v1/auth/token",
            data={"username": username, "password": password},
        )

    def client_for(self, username: str) -> httpx.Client:
        token = self.login(username).json()["access_token"]
        return httpx.Client(
            base_url=self.server.base_url, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = module_database_url
    workdir = tmp_path_factory.mktemp("read")
    server = ServerProcess(url, workdir=workdir)
    acme = provision(url, client="acme", devices=["cam-1", "cam-2"])
    globex = provision(url, client="globex", devices=["cam-9"])
    add_user(url, username="boss", password=PASSWORD, role=Role.MANAGER)
    add_user(
        url, username="acme-viewer", password=PASSWORD, role=Role.CLIENT, client_id=acme.client_id
    )
    server.start()
    t0 = datetime.now(UTC) - timedelta(minutes=1)
    body = batch(*(sample("cam-1", ts=t0 + timedelta(seconds=i)) for i in range(5)))
    assert (
        httpx.post(
            f"{server.base_url}/api/v1/ingest", content=json.dumps(body), headers=acme.agent_headers
        ).status_code
        == 200
    )
    try:
        yield World(server, acme, globex)
    finally:
        server.stop()


def test_wrong_password_is_refused(world: World) -> None:
    response = world.login("boss", "nope")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert world.login("nobody").status_code == 401


def test_reads_need_a_valid_token(world: World) -> None:
    assert httpx.get(f"{world.server.base_url}/api/v1/sites").status_code == 401
    bad = httpx.get(
        f"{world.server.base_url}/api/v1/sites", headers={"Authorization": "Bearer x.y.z"}
    )
    assert (bad.status_code, bad.json()["error"]) == (401, "unauthorized")
    # An agent token is not a user token.
    agent = httpx.get(f"{world.server.base_url}/api/v1/sites", headers=world.acme.agent_headers)
    assert agent.status_code == 401


def test_staff_see_every_site_and_device_state(world: World) -> None:
    with world.client_for("boss") as api:
        sites = api.get("/api/v1/sites").json()
        assert {s["id"] for s in sites} == {world.acme.site_id, world.globex.site_id}
        devices = api.get(f"/api/v1/sites/{world.acme.site_id}/devices").json()
    by_ext = {d["ext_id"]: d for d in devices}
    assert by_ext["cam-1"]["state"]["status"] == "up"
    assert by_ext["cam-1"]["state"]["checks"]["stream_ok"]["value"] is True
    assert by_ext["cam-2"]["state"]["status"] == "unknown"


def test_client_sees_only_its_own_sites_and_devices(world: World) -> None:
    other_device = world.globex.device_pks["cam-9"]
    with world.client_for("acme-viewer") as api:
        sites = api.get("/api/v1/sites").json()
        assert [s["id"] for s in sites] == [world.acme.site_id]
        assert api.get(f"/api/v1/sites/{world.acme.site_id}/devices").status_code == 200
        for path in (
            f"/api/v1/sites/{world.globex.site_id}/devices",
            f"/api/v1/devices/{other_device}",
            f"/api/v1/devices/{other_device}/samples",
        ):
            response = api.get(path)
            assert (response.status_code, response.json()["error"]) == (404, "not_found"), path


def test_samples_come_newest_first_and_page_with_before(world: World) -> None:
    pk = world.acme.device_pks["cam-1"]
    with world.client_for("acme-viewer") as api:
        device = api.get(f"/api/v1/devices/{pk}").json()
        first = api.get(f"/api/v1/devices/{pk}/samples", params={"limit": 3}).json()
        rest = api.get(
            f"/api/v1/devices/{pk}/samples", params={"limit": 3, "before": first[-1]["ts"]}
        ).json()
    assert device["ext_id"] == "cam-1"
    stamps = [s["ts"] for s in first + rest]
    assert len(stamps) == 5
    assert stamps == sorted(stamps, reverse=True)


def test_docs_and_openapi_offer_the_password_flow(world: World) -> None:
    spec = httpx.get(f"{world.server.base_url}/openapi.json").json()
    flows = spec["components"]["securitySchemes"]["UserToken"]["flows"]
    assert flows["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert "IngestBatch" in spec["components"]["schemas"]
    assert httpx.get(f"{world.server.base_url}/docs").status_code == 200
