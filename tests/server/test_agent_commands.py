"""Operator requests for an agent and the picture evidence of a ticket, in process over a real
database (SQLite and PostgreSQL): a picture re-learn asked through the API and the console,
refused to the roles and devices it is not for, delivered with the site agent's next ingest
answer, acknowledged by id and kept as the audit trail; and a picture fault's measures on its
ticket in the API and on the console's ticket page."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from agent.inventory import InventoryBook
from agent.outbox import AsyncOutbox, Outbox
from agent.probes.onvif.baseline import BaselineStore
from agent.pusher import Pusher, PushSettings, Step
from peers.server import TEST_SECRET_KEY, Tenant, add_user, provision, register_devices
from server.app import create_app
from server.faults.picture import parse
from server.settings import Settings
from tests.server.faultkit import T0, Kit, make_kit
from tests.server.samples import batch, sample
from wire.enums import DeviceClass, ProbeKind, Role
from wire.ids import uuid7
from wire.schema import AgentCommand, Sample

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EVIDENCE = (
    "covered: covered_share=0.93 flat_fraction=0.02 edge_ratio=0.14 brightness_ratio=0.59 "
    "snapshots=2"
)


@dataclass
class World:
    kit: Kit
    other: Tenant
    api: TestClient
    tokens: dict[str, dict[str, str]]

    def as_user(self, name: str) -> dict[str, str]:
        return self.tokens[name]

    def ingest(self, tenant: Tenant, device: str) -> dict[str, Any]:
        answer = self.api.post(
            "/api/v1/ingest", json=batch(sample(device)), headers=tenant.agent_headers
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def ack(self, tenant: Tenant, *ids: str) -> httpx.Response:
        answer: httpx.Response = self.api.post(
            "/api/v1/commands/ack", json={"ids": list(ids)}, headers=tenant.agent_headers
        )
        return answer


def console_of(world: World, username: str) -> TestClient:
    """A browser logged in to the console (cookies kept, redirects not followed)."""
    console = TestClient(world.api.app, follow_redirects=False)
    form = console.get("/console/login")
    token = CSRF.search(form.text)
    assert token is not None
    done = console.post(
        "/console/login", data={"username": username, "password": PASSWORD, "csrf": token[1]}
    )
    assert done.status_code == 303, done.text
    return console


@pytest.fixture(scope="module")
def world(module_database_url: str) -> Iterator[World]:
    url = module_database_url
    kit = make_kit(url, agent_offline_after=timedelta(days=30))
    kit.add_devices([("nvr-1", DeviceClass.NVR, None)])  # polled over TCP: no picture
    register_devices(url, kit.tenant.site_id, ["cam-1", "cam-2"])  # ONVIF cameras
    kit.pks.update(kit._pks())
    other = provision(url, client="other-client", site="vault", devices=["cam-9"])
    for name, role, client in [
        ("boss", Role.MANAGER, None),
        ("desk", Role.DESK, None),
        ("stranger", Role.CLIENT, other.client_id),
    ]:
        add_user(url, username=name, password=PASSWORD, role=role, client_id=client)
    settings = Settings(
        database_url=url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        fault_sweep_seconds=3600,
        notify_worker=False,
    )
    app = create_app(settings)  # no lifespan: nothing runs in the background
    api = TestClient(app, follow_redirects=False)
    tokens = {}
    for name in ("boss", "desk", "stranger"):
        login = api.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
        assert login.status_code == 200, login.text
        tokens[name] = {"Authorization": f"Bearer {login.json()['access_token']}"}
    yield World(kit, other, api, tokens)
    app.state.ctx.engine.dispose()
    kit.engine.dispose()


def test_relearn_is_delivered_with_the_ingest_answer_and_acknowledged_once(
    world: World,
) -> None:
    cam = world.kit.pks["cam-1"]
    path = f"/api/v1/devices/{cam}/picture/relearn"
    assert world.ingest(world.kit.tenant, "cam-1") == {"accepted": 1, "duplicates": 0}

    asked = world.api.post(path, headers=world.as_user("boss"))
    again = world.api.post(path, headers=world.as_user("boss"))

    assert asked.status_code == 202, asked.text
    assert (again.status_code, again.json()) == (200, asked.json())  # the pending one
    command = asked.json()["id"]
    # The other site's agent is not told, and cannot acknowledge it.
    assert "commands" not in world.ingest(world.other, "cam-9")
    assert world.ack(world.other, command).json() == {"acknowledged": 0}
    answer = world.ingest(world.kit.tenant, "cam-1")
    assert answer["commands"] == [{"id": command, "kind": "picture.relearn", "device": "cam-1"}]

    assert world.ack(world.kit.tenant, command).json() == {"acknowledged": 1}
    assert world.ack(world.kit.tenant, command).json() == {"acknowledged": 0}
    assert "commands" not in world.ingest(world.kit.tenant, "cam-1")
    (trail,) = world.api.get(
        f"/api/v1/devices/{cam}/commands", headers=world.as_user("boss")
    ).json()
    assert (trail["id"], trail["requested_by"]) == (command, "boss")
    assert trail["acked_at"] is not None


def test_relearn_is_refused_to_other_roles_scopes_and_devices_and_stores_nothing(
    world: World,
) -> None:
    cam, nvr = world.kit.pks["cam-2"], world.kit.pks["nvr-1"]
    path = f"/api/v1/devices/{cam}/picture/relearn"

    assert world.api.post(path).status_code == 401
    desk = world.api.post(path, headers=world.as_user("desk"))
    assert (desk.status_code, desk.json()["error"]) == (403, "forbidden")
    assert world.api.post(path, headers=world.as_user("stranger")).status_code == 404
    tcp = world.api.post(f"/api/v1/devices/{nvr}/picture/relearn", headers=world.as_user("boss"))
    assert tcp.status_code == 409
    assert "onvif" in tcp.json()["detail"]
    assert (
        world.api.get(f"/api/v1/devices/{cam}/commands", headers=world.as_user("boss")).json() == []
    )


def test_console_device_page_relearn_button_asks_the_agent(world: World) -> None:
    console = console_of(world, "boss")
    cam = world.kit.pks["cam-2"]
    page = console.get(f"/console/devices/{cam}")
    token = CSRF.search(page.text)
    assert token is not None
    assert 'id="relearn"' in page.text

    posted = console.post(f"/console/devices/{cam}/picture/relearn", data={"csrf": token[1]})
    stale = console.post(f"/console/devices/{cam}/picture/relearn", data={"csrf": "forged"})

    assert posted.status_code == 303, posted.text
    assert stale.status_code == 400
    after = console.get(posted.headers["location"])
    assert re.search(r'<tr class="command"><td>picture.relearn</td><td>boss</td>', after.text)
    assert "pending" in after.text
    assert 'id="relearn"' not in console.get(f"/console/devices/{world.kit.pks['nvr-1']}").text
    commands = world.ingest(world.kit.tenant, "cam-2")["commands"]
    assert [c["device"] for c in commands] == ["cam-2"]
    world.ack(world.kit.tenant, *(c["id"] for c in commands))


def test_picture_ticket_shows_the_measures_behind_its_reason(world: World) -> None:
    abnormal = {"camera.image_abnormal": True, "camera.image_abnormal.evidence": EVIDENCE}
    for i in range(3):
        world.kit.poll(T0 + timedelta(minutes=5 * i), {"cam-1": dict(abnormal)})
    (ticket,) = [t for t in world.kit.tickets() if t.code == "camera.image_abnormal"]

    detail = world.api.get(f"/api/v1/tickets/{ticket.id}", headers=world.as_user("boss")).json()

    (covered,) = detail["evidence"]
    assert covered["reason"] == "covered"
    assert covered["measures"]["edge_ratio"] == 0.14
    assert "edge density 14 % of baseline" in covered["text"]
    assert "brightness -41 %" in covered["text"]
    assert detail["evidence_at"] is not None
    console = console_of(world, "boss")
    page = console.get(f"/console/tickets/{ticket.id}").text
    assert '<li class="evidence" data-reason="covered">covered: structure lost in 93 %' in page


def test_evidence_text_reads_every_reason_and_skips_garbage() -> None:
    found = parse(
        "frozen: frame_change=0 frozen_below=0.0025 unchanged_snapshots=3; moved: "
        "scene_match=0.11 texture_ratio=0.85 odd=1.5 bad=x brightness_ratio=inf; nonsense"
    )

    assert [e.reason for e in found] == ["frozen", "moved"]
    assert found[0].text == (
        "frozen: frame change 0; frozen below 0.0025; 3 unchanged snapshots in a row"
    )
    assert found[1].measures == {"scene_match": 0.11, "texture_ratio": 0.85, "odd": 1.5}
    assert found[1].text == (
        "moved: structured blocks 85 % of baseline; scene match 0.11 (1: the learned view); odd 1.5"
    )


async def test_the_agents_pusher_runs_the_relearn_and_the_server_sees_it_done(
    world: World, tmp_path: Path
) -> None:
    """The agent's own pusher against the server app: the command rides on the ingest answer,
    the camera's re-learn request file is left for its next snapshot, and the acknowledgement
    closes the command."""
    cam = world.kit.pks["cam-1"]
    asked = world.api.post(f"/api/v1/devices/{cam}/picture/relearn", headers=world.as_user("boss"))
    assert asked.status_code == 202, asked.text
    outbox = Outbox(tmp_path / "outbox.sqlite", max_bytes=1_000_000)
    outbox.put(
        [Sample(id=uuid7(), device_id="cam-1", ts=T0, probe=ProbeKind.ONVIF, reachable=True)]
    )
    store = BaselineStore(tmp_path / "picture")

    def run(command: AgentCommand) -> bool:
        store.request_relearn(command.device)
        return True

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=world.api.app)) as client:
        pusher = Pusher(
            outbox=AsyncOutbox(outbox),
            client=client,
            settings=PushSettings(
                server_url="http://testserver",
                token=world.kit.tenant.token,
                call_timeout=30.0,
                batch_size=10,
                batch_max_age=0.0,
            ),
            inventory=InventoryBook([], agent_version="test"),
            run_command=run,
        )
        assert (await pusher.push_batch()).step is Step.SENT

    assert (tmp_path / "picture" / "cam-1.picture.relearn").exists()
    trail = world.api.get(f"/api/v1/devices/{cam}/commands", headers=world.as_user("boss")).json()
    assert trail[0]["id"] == asked.json()["id"]
    assert trail[0]["acked_at"] is not None
