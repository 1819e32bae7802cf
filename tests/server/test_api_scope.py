"""Team scoping of the REST API over a real server (SQLite and PostgreSQL): a technician sees
and acts on the tickets, faults, sites, devices and KPIs of their teams' sites only (404 for
the rest, nothing stored); a technician in no team sees nothing; a manager sees everything.
The same rule as the console's (test_console_scope.py), from `server.tenancy.scope_for`."""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from peers.server import ServerProcess, Tenant, add_user, provision
from tests.server.samples import batch, sample
from wire.enums import Role

PASSWORD = "correct horse battery staple"
UNREACHABLE = {"code": "device.unreachable", "message": "refused"}


@dataclass
class World:
    server: ServerProcess
    north: Tenant  # tina's team covers it
    south: Tenant  # nobody's team
    tickets: dict[str, int]  # tenant name → its fault ticket
    users: dict[str, int]
    apis: dict[str, httpx.Client]

    def get(self, user: str, path: str) -> httpx.Response:
        return self.apis[user].get(path)

    def post(self, user: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.apis[user].post(path, json=body or {})


def _login(base: str, username: str) -> httpx.Client:
    token = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.Client(base_url=base, headers=headers, timeout=30)


def _take_down(server: ServerProcess, tenant: Tenant, device: str) -> None:
    """Two failing polls of `device`: a confirmed fault, its episode and its ticket."""
    start = datetime.now(UTC) - timedelta(seconds=30)
    body = batch(
        *(
            sample(device, ts=start + timedelta(seconds=10 * i), reachable=False, error=UNREACHABLE)
            for i in range(3)
        )
    )
    stored = httpx.post(
        f"{server.base_url}/api/v1/ingest",
        content=json.dumps(body),
        headers={**tenant.agent_headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert stored.status_code == 200, stored.text


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("api-scope")
    url = module_database_url
    config = workdir / "notify.yaml"
    server = ServerProcess(
        url,
        workdir=workdir / "server",
        env={"SECMON_NOTIFY_CONFIG": str(config), "SECMON_NOTIFY_WORKER": "false"},
    )
    north = provision(url, client="North Mall", site="north-hq", devices=["cam-n"])
    south = provision(url, client="South Bank", site="south-vault", devices=["cam-s"])
    hook = {"channels": {"hook": "json://127.0.0.1:9/never-used"}}
    notify = {
        "contacts": {"tina": hook, "ned": hook},
        "teams": {"north": {"members": ["tina"], "sites": [north.site_id]}},
    }
    config.write_text(yaml.safe_dump(notify))
    users = {
        "tina": add_user(url, username="tina", password=PASSWORD, role=Role.TECHNICIAN),
        "ned": add_user(url, username="ned", password=PASSWORD, role=Role.TECHNICIAN),
        "boss": add_user(url, username="boss", password=PASSWORD, role=Role.MANAGER),
        "mall": add_user(
            url, username="mall", password=PASSWORD, role=Role.CLIENT, client_id=north.client_id
        ),
    }
    server.start()
    apis: dict[str, httpx.Client] = {}
    try:
        apis.update({name: _login(server.base_url, name) for name in users})
        _take_down(server, north, "cam-n")
        _take_down(server, south, "cam-s")
        deadline = time.monotonic() + 60  # a safety bound, not a speed check
        by_site: dict[int, int] = {}
        while len(by_site) < 2:
            assert time.monotonic() < deadline, f"no fault tickets: {server.log()}"
            rows = apis["boss"].get("/api/v1/tickets").json()
            by_site = {t["site_id"]: t["id"] for t in rows}
            time.sleep(0.2)
        tickets = {"north": by_site[north.site_id], "south": by_site[south.site_id]}
        # The manager works both: tina owns north's ticket, the manager south's.
        for name, assignee in (("north", users["tina"]), ("south", users["boss"])):
            ack = apis["boss"].post(
                f"/api/v1/tickets/{tickets[name]}/transitions",
                json={"to": "acknowledged", "assignee_id": assignee},
            )
            assert ack.status_code == 200, ack.text
        yield World(server, north, south, tickets, users, apis)
    finally:
        for api in apis.values():
            api.close()
        server.stop()


def _not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"
    assert response.json()["detail"]  # a reason, not an empty body


def test_technician_lists_only_their_teams_sites_and_devices(world: World) -> None:
    sites = world.get("tina", "/api/v1/sites")
    assert sites.status_code == 200
    assert [s["id"] for s in sites.json()] == [world.north.site_id]
    assert world.get("tina", f"/api/v1/sites/{world.north.site_id}/devices").status_code == 200
    _not_found(world.get("tina", f"/api/v1/sites/{world.south.site_id}/devices"))
    cam_n, cam_s = world.north.device_pks["cam-n"], world.south.device_pks["cam-s"]
    assert world.get("tina", f"/api/v1/devices/{cam_n}").status_code == 200
    assert world.get("tina", f"/api/v1/devices/{cam_n}/samples").json() != []
    _not_found(world.get("tina", f"/api/v1/devices/{cam_s}"))
    _not_found(world.get("tina", f"/api/v1/devices/{cam_s}/samples"))
    _not_found(world.get("tina", f"/api/v1/sites/{world.south.site_id}/maintenance"))


def test_technician_sees_their_sites_tickets_and_404_for_the_others(world: World) -> None:
    north, south = world.tickets["north"], world.tickets["south"]
    listed = world.get("tina", "/api/v1/tickets").json()
    assert [t["id"] for t in listed] == [north]
    assert world.get("tina", f"/api/v1/tickets?site_id={world.south.site_id}").json() == []
    assert world.get("tina", f"/api/v1/tickets/{north}").status_code == 200
    for path in ("", "/events", "/sla"):
        _not_found(world.get("tina", f"/api/v1/tickets/{south}{path}"))
    # Out of scope looks exactly like a ticket that does not exist.
    assert world.get("tina", f"/api/v1/tickets/{south}").json() == {
        "error": "not_found",
        "detail": f"no ticket {south}",
    }


def test_technician_cannot_act_on_another_sites_ticket(world: World) -> None:
    south = world.tickets["south"]
    before = world.get("boss", f"/api/v1/tickets/{south}/events").json()
    eta = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    record = {
        "diagnosis": "x",
        "cause_class": "equipment",
        "actions": "y",
        "time_on_site_minutes": 5,
        "parts": [],
    }
    attempts = [
        ("transitions", {"to": "dispatched", "eta": eta}),
        ("transitions", {"to": "cancelled"}),
        ("pause", {"reason": "client away"}),
        ("resume", None),
        ("resolve", record),
    ]
    for action, body in attempts:
        _not_found(world.post("tina", f"/api/v1/tickets/{south}/{action}", body))
    after = world.get("boss", f"/api/v1/tickets/{south}")
    assert after.json()["state"] == "acknowledged"
    assert after.json()["assignee_id"] == world.users["boss"]
    assert world.get("boss", f"/api/v1/tickets/{south}/events").json() == before
    # The same move on a ticket of her own site works: the 404 was the scope, not the role.
    moved = world.post(
        "tina",
        f"/api/v1/tickets/{world.tickets['north']}/transitions",
        {"to": "dispatched", "eta": eta},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "dispatched"


def test_faults_are_filtered_to_the_technicians_sites(world: World) -> None:
    mine = world.get("tina", "/api/v1/faults?open=false").json()
    assert {e["site_id"] for e in mine} == {world.north.site_id}
    everything = world.get("boss", "/api/v1/faults?open=false").json()
    assert {e["site_id"] for e in everything} == {world.north.site_id, world.south.site_id}


def test_kpis_cover_the_technicians_sites_and_only_their_own_scorecard(world: World) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    by_site = world.get("tina", f"/api/v1/kpis?group=site&from={month}").json()
    assert [(k["key"], k["tickets"]) for k in by_site] == [(world.north.site_id, 1)]
    by_client = world.get("tina", f"/api/v1/kpis?group=client&from={month}").json()
    assert [k["key"] for k in by_client] == [world.north.client_id]
    cards = world.get("tina", f"/api/v1/kpis?group=technician&from={month}").json()
    assert [k["key"] for k in cards] == [world.users["tina"]]

    boss_sites = world.get("boss", f"/api/v1/kpis?group=site&from={month}").json()
    assert sorted(k["key"] for k in boss_sites) == sorted(
        [world.north.site_id, world.south.site_id]
    )
    boss_cards = world.get("boss", f"/api/v1/kpis?group=technician&from={month}").json()
    assert sorted(k["key"] for k in boss_cards) == sorted(
        [world.users["tina"], world.users["boss"]]
    )


def test_a_client_is_seen_through_one_of_its_sites(world: World) -> None:
    assert (
        world.get("tina", f"/api/v1/clients/{world.north.client_id}/service-policy").status_code
        == 200
    )
    _not_found(world.get("tina", f"/api/v1/clients/{world.south.client_id}/service-policy"))
    assert (
        world.get("boss", f"/api/v1/clients/{world.south.client_id}/service-policy").status_code
        == 200
    )


def test_a_technician_in_no_team_sees_nothing(world: World) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    for path in (
        "/api/v1/sites",
        "/api/v1/tickets",
        "/api/v1/faults?open=false",
        f"/api/v1/kpis?group=site&from={month}",
        f"/api/v1/kpis?group=technician&from={month}",
    ):
        answer = world.get("ned", path)
        assert answer.status_code == 200, path
        assert answer.json() == [], path
    _not_found(world.get("ned", f"/api/v1/tickets/{world.tickets['north']}"))
    _not_found(
        world.post(
            "ned", f"/api/v1/tickets/{world.tickets['north']}/transitions", {"to": "cancelled"}
        )
    )
    assert world.get("boss", f"/api/v1/tickets/{world.tickets['north']}").json()["state"] != (
        "cancelled"
    )


def test_manager_and_client_keep_their_scopes(world: World) -> None:
    boss_tickets = {t["id"] for t in world.get("boss", "/api/v1/tickets").json()}
    assert boss_tickets == set(world.tickets.values())
    assert {s["id"] for s in world.get("boss", "/api/v1/sites").json()} == {
        world.north.site_id,
        world.south.site_id,
    }
    assert world.get("boss", f"/api/v1/tickets/{world.tickets['south']}").status_code == 200
    mall = world.get("mall", "/api/v1/tickets").json()
    assert [t["id"] for t in mall] == [world.tickets["north"]]
    _not_found(world.get("mall", f"/api/v1/tickets/{world.tickets['south']}"))
    _not_found(world.get("mall", f"/api/v1/clients/{world.south.client_id}/service-policy"))
    assert (
        world.get("mall", f"/api/v1/clients/{world.north.client_id}/service-policy").status_code
        == 200
    )
