"""The client's status page over a real server: plain words, share links, languages, scoping,
and nothing on it that a stranger holding the link should not see."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert, update

from peers.server import ServerProcess, Tenant, add_user, provision
from server.db import make_engine, session_factory, write_session
from server.models import Device, DeviceState, FaultEpisode, Ticket
from server.state import DeviceStatus
from server.status.rollup import rollup_all
from server.status.words import CATALOG, pick_language
from wire.enums import Role

PASSWORD = "correct horse battery staple"
SECRET_IP = "192.168.1.64"
SECRET_SERIAL = "SN-SECRET-4711"


@dataclass
class World:
    server: ServerProcess
    acme: Tenant
    globex: Tenant
    eta: datetime

    def api(self, username: str) -> httpx.Client:
        token = httpx.post(
            f"{self.server.base_url}/api/v1/auth/token",
            data={"username": username, "password": PASSWORD},
        ).json()["access_token"]
        return httpx.Client(
            base_url=self.server.base_url, headers={"Authorization": f"Bearer {token}"}
        )

    def link(self, username: str = "boss", client_id: int | None = None) -> str:
        with self.api(username) as api:
            response = api.post(f"/api/v1/clients/{client_id or self.acme.client_id}/status-link")
        assert response.status_code == 200, response.text
        path: str = response.json()["path"]
        return path


def _ticket(tenant: Tenant, device_id: int, started: datetime, eta: datetime) -> dict[str, object]:
    return {
        "open_key": f"{device_id}:device.unreachable",
        "kind": "fault",
        "state": "dispatched",
        "severity": "general",
        "client_id": tenant.client_id,
        "site_id": tenant.site_id,
        "device_id": device_id,
        "code": "device.unreachable",
        "system": "video",
        "title": f"Gate camera {SECRET_IP} not responding",
        "symptom": f"internal note: camera at {SECRET_IP} serial {SECRET_SERIAL}",
        "channel": "monitoring",
        "reporter": "monitoring",
        "first_failure_at": started,
        "created_at": started,
        "updated_at": started,
        "acknowledged_at": started + timedelta(minutes=5),
        "respond_by": started + timedelta(minutes=30),
        "eta": eta,
        "reopened_count": 0,
        "occurrences": 1,
    }


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = module_database_url
    server = ServerProcess(url, workdir=tmp_path_factory.mktemp("status"))
    acme = provision(url, client="acme", devices=["cam-1", "cam-2", "nvr-1", "panel-1"])
    globex = provision(url, client="globex", devices=["cam-9"])
    add_user(url, username="boss", password=PASSWORD, role=Role.MANAGER)
    add_user(url, username="acme-1", password=PASSWORD, role=Role.CLIENT, client_id=acme.client_id)
    add_user(
        url, username="globex-1", password=PASSWORD, role=Role.CLIENT, client_id=globex.client_id
    )
    now = datetime.now(UTC)
    started = now - timedelta(hours=2)
    eta = now + timedelta(hours=1)
    engine = make_engine(url)
    try:
        with write_session(engine) as session:
            for ext, cls, sub in (
                ("cam-1", "camera", "video"),
                ("cam-2", "camera", "video"),
                ("nvr-1", "nvr", "video"),
                ("panel-1", "alarm_panel", "alarm"),
            ):
                session.execute(
                    update(Device)
                    .where(Device.id == acme.device_pks[ext])
                    .values(
                        device_class=cls,
                        subsystem=sub,
                        first_registered_at=now - timedelta(days=3),
                    )
                )
            session.execute(
                update(Device)
                .where(Device.id == acme.device_pks["cam-1"])
                .values(name=f"Gate camera {SECRET_IP}", serial=SECRET_SERIAL)
            )
            ticket_id = session.execute(
                insert(Ticket).returning(Ticket.id),
                [_ticket(acme, acme.device_pks["cam-1"], started, eta)],
            ).scalar_one()
            key = f"{acme.device_pks['cam-1']}:device.unreachable"
            session.execute(
                insert(FaultEpisode),
                [
                    {
                        "key": key,
                        "open_key": key,
                        "site_id": acme.site_id,
                        "device_id": acme.device_pks["cam-1"],
                        "code": "device.unreachable",
                        "severity": "general",
                        "started_at": started,
                        "confirmed_at": started + timedelta(seconds=30),
                        "recovered_at": None,
                        "last_failing_at": now,
                        "occurrences": 1,
                        "flapping": False,
                        "ticket_id": ticket_id,
                    }
                ],
            )
            # globex's camera answers, but nothing beyond reachability is read from it
            session.execute(
                update(DeviceState)
                .where(DeviceState.device_id == globex.device_pks["cam-9"])
                .values(
                    status=DeviceStatus.UNMONITORED.value,
                    reachable=True,
                    error_message="no profile matched what the device answers",
                )
            )
        with session_factory(engine)() as session:
            rollup_all(session=session, now=now)
    finally:
        engine.dispose()
    server.start()
    try:
        yield World(server, acme, globex, eta)
    finally:
        server.stop()


def _get(world: World, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{world.server.base_url}{path}", headers=headers)


def test_share_link_shows_plain_words_and_no_addresses_or_serials(world: World) -> None:
    page = _get(world, world.link(), **{"Accept-Language": "en-GB,en;q=0.9"})
    assert page.status_code == 200
    html = page.text
    assert "acme" in html
    assert "1 camera not working since" in html
    assert "technician on the way, expected" in html
    assert "Alarm panel" not in html  # no alarm fault: the alarm subsystem reads "Working"
    assert "Intrusion alarm" in html
    assert "Working" in html
    assert "answered in time" in html
    assert SECRET_IP not in html
    assert SECRET_SERIAL not in html
    assert "internal note" not in html
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", html)
    # 90 bars per monitored subsystem, each with a text alternative.
    assert html.count('tabindex="0" aria-label=') == 2 * 90
    assert 'aria-label="' in html
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    # the other client's device is not on acme's page
    assert "globex" not in html


def test_language_follows_the_browser_and_the_switch_sticks(world: World) -> None:
    path = world.link()
    zh = _get(world, path, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in zh.text
    assert "台摄像机自" in zh.text
    with httpx.Client(base_url=world.server.base_url) as browser:
        switched = browser.get(f"{path}?lang=en", headers={"Accept-Language": "zh-CN"})
        assert '<html lang="en">' in switched.text
        again = browser.get(path, headers={"Accept-Language": "zh-CN"})
        assert '<html lang="en">' in again.text


def test_rotating_the_link_kills_the_old_one(world: World) -> None:
    old = world.link()
    assert _get(world, old).status_code == 200
    new = world.link(username="acme-1")  # the client may rotate its own link
    assert new != old
    assert _get(world, old).status_code == 404
    assert _get(world, new).status_code == 200
    assert _get(world, "/status/not-a-real-token").status_code == 404


def test_a_client_cannot_manage_another_clients_page(world: World) -> None:
    with world.api("globex-1") as api:
        response = api.post(f"/api/v1/clients/{world.acme.client_id}/status-link")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        response = api.put(
            f"/api/v1/clients/{world.acme.client_id}/status-contact", json={"name": "x"}
        )
        assert response.status_code == 404


def test_contact_card_hides_the_phone_unless_asked(world: World) -> None:
    card = {"name": "Service desk", "phone": "+86 21 5555 0100", "email": "desk@example.com"}
    with world.api("boss") as api:
        url = f"/api/v1/clients/{world.acme.client_id}/status-contact"
        assert api.put(url, json=card).status_code == 204
        path = world.link()
        html = _get(world, path).text
        assert "Service desk" in html
        assert "desk@example.com" in html
        assert "5555 0100" not in html
        assert api.put(url, json={**card, "show_phone": True}).status_code == 204
        assert "5555 0100" in _get(world, path).text
        bad = api.put(url, json={"email": "not an email"})
        assert bad.status_code == 422


def test_maintenance_windows_are_announced_and_checked(world: World) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    with world.api("boss") as api:
        url = f"/api/v1/sites/{world.acme.site_id}/maintenance"
        body = {
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "title": "Annual lens cleaning",
        }
        assert api.post(url, json=body).status_code == 201
        backwards = {**body, "ends_at": (start - timedelta(hours=1)).isoformat()}
        response = api.post(url, json=backwards)
        assert response.status_code == 422
        assert len(api.get(url).json()) == 1
    with world.api("acme-1") as client_api:
        assert client_api.post(url, json=body).status_code == 403
    assert "Annual lens cleaning" in _get(world, world.link()).text


def test_every_phrase_exists_in_both_languages() -> None:
    assert set(CATALOG["en"]) == set(CATALOG["zh-CN"])
    assert pick_language(query=None, cookie=None, accept_language="zh-TW;q=0.8, en;q=0.9") == "en"
    assert pick_language(query=None, cookie=None, accept_language="fr, zh;q=0.5") == "zh-CN"
    assert pick_language(query="xx", cookie="zh-CN", accept_language="en") == "zh-CN"
    assert pick_language(query=None, cookie=None, accept_language=None) == "en"


def test_a_device_nothing_is_read_from_has_its_own_word_not_working(world: World) -> None:
    path = world.link(client_id=world.globex.client_id)
    en = _get(world, path, **{"Accept-Language": "en"}).text
    assert "1 camera: answering, but health not checked" in en
    assert "Some equipment answers, but its health is not checked" in en
    assert "All systems working" not in en
    assert 'class="state unmonitored"' in en
    zh = _get(world, path, **{"Accept-Language": "zh-CN"}).text
    assert CATALOG["zh-CN"]["subsystem_unmonitored"].format(count=1, noun="摄像机") in zh
