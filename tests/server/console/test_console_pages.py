"""The console in process (FastAPI's TestClient) over a real database, SQLite and PostgreSQL:
the KPI page, a technician's own tickets outside their teams, who may be assigned, the resolve
form's repair record and open faults, and the queue's state filter."""

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peers.server import TEST_SECRET_KEY, add_user, provision
from server.app import create_app
from server.db import write_session
from server.models import Device, RepairRecord, ServicePolicy, Site, Ticket, TicketEvent
from server.settings import Settings
from server.tickets.intake import Opening, open_ticket
from server.tickets.policy import service_settings
from server.tickets.service import Actor
from server.tickets.states import TicketKind
from tests.server.faultkit import Kit, every, make_kit
from wire.enums import DeviceClass, Role

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NOT_ON_A_TEAM = "You are not on any team yet — ask a manager"
RECORD = {"diagnosis": "PoE port dead", "cause_class": "equipment", "actions": "moved to port 7"}


class Console:
    """One person's browser on the console: cookies, CSRF tokens, no redirects followed."""

    def __init__(self, app: FastAPI, username: str) -> None:
        self.http = TestClient(app, follow_redirects=False)
        form = self.http.get("/console/login")
        token = CSRF.search(form.text)
        assert token is not None
        done = self.http.post(
            "/console/login", data={"username": username, "password": PASSWORD, "csrf": token[1]}
        )
        assert done.status_code == 303, done.text

    def get(self, path: str) -> httpx.Response:
        page: httpx.Response = self.http.get(path)
        return page

    def act(self, ticket_id: int, action: str, **fields: str | list[str]) -> httpx.Response:
        """Post one of the ticket page's forms; answers the page it lands on."""
        page = self.get(f"/console/tickets/{ticket_id}")
        token = CSRF.search(page.text)
        assert token is not None, page.text
        data = {"csrf": token[1], "action": action, "tz_offset": "0", **fields}
        posted = self.http.post(f"/console/tickets/{ticket_id}", data=data)
        assert posted.status_code == 303, posted.text
        return self.get(posted.headers["location"])


@dataclass
class World:
    kit: Kit
    app: FastAPI
    notify: Path
    users: dict[str, int]
    consoles: dict[str, Console] = field(default_factory=dict)

    def console(self, username: str) -> Console:
        if username not in self.consoles:
            self.consoles[username] = Console(self.app, username)
        return self.consoles[username]

    def team(self, members: list[str]) -> None:
        """Rewrite the notify config: these members make the team serving the kit's site."""
        hook = {"channels": {"hook": "json://127.0.0.1:9/never-used"}}
        config = {
            "contacts": dict.fromkeys(members, hook),
            "teams": {"field": {"members": members, "sites": [self.kit.tenant.site_id]}},
        }
        old = self.notify.stat().st_mtime_ns if self.notify.exists() else 0
        self.notify.write_text(yaml.safe_dump(config))
        # The config is re-read when its mtime changes: make sure it does.
        stamp = max(old + 1_000_000_000, self.notify.stat().st_mtime_ns)
        os.utime(self.notify, ns=(stamp, stamp))

    def fault(self, ext: str, start: datetime) -> int:
        """Two failing polls: a confirmed fault; returns its ticket's id."""
        self.kit.poll(start, {ext: False})
        self.kit.poll(start + timedelta(seconds=10), {ext: False})
        return self.ticket_of(ext).id

    def recover(self, ext: str, start: datetime) -> None:
        for ts in every(start, 10, 3):
            self.kit.poll(ts, {ext: True})

    def ticket_of(self, ext: str) -> Ticket:
        with Session(self.kit.engine) as session:
            ticket = session.scalars(
                select(Ticket)
                .where(Ticket.device_id == self.kit.pks[ext])
                .order_by(Ticket.id.desc())
                .limit(1)
            ).one()
            session.expunge(ticket)
            return ticket

    def state(self, ticket_id: int) -> str:
        with Session(self.kit.engine) as session:
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None
            return ticket.state

    def count(self, model: Any, ticket_id: int) -> int:
        with Session(self.kit.engine) as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(model).where(model.ticket_id == ticket_id)
                )
                or 0
            )


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    kit = make_kit(database_url, agent_offline_after=timedelta(days=30))
    kit.add_devices(
        [(f"cam-{i}", DeviceClass.CAMERA, None) for i in range(1, 5)]
        + [("nvr-1", DeviceClass.NVR, None)]
    )
    other = provision(database_url, client="other-client", site="vault")
    users = {
        name: add_user(database_url, username=name, password=PASSWORD, role=role, client_id=client)
        for name, role, client in [
            ("boss", Role.MANAGER, None),
            ("tech", Role.TECHNICIAN, None),
            ("ned", Role.TECHNICIAN, None),
            ("loner", Role.TECHNICIAN, None),
            ("desk", Role.DESK, None),
            ("acme", Role.CLIENT, kit.tenant.client_id),
            ("stranger", Role.CLIENT, other.client_id),
        ]
    }
    world = World(kit=kit, app=FastAPI(), notify=tmp_path / "notify.yaml", users=users)
    world.team(["tech", "ned"])
    settings = Settings(
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        fault_sweep_seconds=3600,
        notify_config=world.notify,
        notify_worker=False,
    )
    # No lifespan: no background sweep racing the test's own clock.
    world.app = create_app(settings)
    yield world
    world.app.state.ctx.engine.dispose()
    kit.engine.dispose()


def _rows(page: httpx.Response) -> list[int]:
    return [int(t) for t in re.findall(r'data-ticket="(\d+)"', page.text)]


def _heading(page: httpx.Response) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page.text, re.S)
    assert found is not None
    return re.sub(r"<[^>]+>", "", found[1]).strip()


def _options(page: httpx.Response, action: str) -> set[str]:
    """The technician names the `action` form offers."""
    form = re.search(
        rf'name="action" value="{action}".*?</form>', page.text, re.S
    )  # the form's fields follow its hidden action input
    assert form is not None, page.text
    return set(re.findall(r'<option value="\d+">([^<]+)</option>', form[0]))


def _error(page: httpx.Response) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page.text, re.S)
    return found[1] if found else ""


def test_kpi_page_shows_assigned_and_unassigned_tickets_side_by_side(world: World) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    mine = world.fault("cam-1", start)
    world.fault("cam-2", start)
    boss = world.console("boss")
    boss.act(mine, "acknowledge")  # assigns the manager; cam-2's ticket stays unassigned
    page = boss.get("/console/kpis")
    assert page.status_code == 200, page.text
    technicians = page.text.split("By technician", 1)[1]
    assert "unassigned" in technicians
    assert "boss" in technicians


def _kpi_cell(page: httpx.Response, group: str, kpi: str) -> str:
    table = page.text.split(f"By {group}", 1)[1].split("</table>", 1)[0]
    found = re.search(rf'<td data-kpi="{kpi}">(.*?)</td>', table, re.S)
    assert found is not None, table
    return found[1]


def test_kpi_page_counts_a_dispatch_as_the_response_and_rates_each_kpi_by_its_target(
    world: World,
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    dispatched = world.fault("cam-1", start)
    world.fault("cam-2", start)  # nobody has answered yet, deadline ahead: counted apart
    boss = world.console("boss")
    eta = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    boss.act(dispatched, "dispatch", eta=eta, assignee_id=str(world.users["tech"]))
    assert world.state(dispatched) == "dispatched"
    assert world.ticket_of("cam-1").acknowledged_at is not None  # the respond clock stopped
    page = boss.get("/console/kpis")
    assert page.status_code == 200, page.text
    response = _kpi_cell(page, "client", "response_timeliness")
    assert 'data-standing="met"' in response
    assert "(1/1)" in response
    assert "1 within deadline" in _kpi_cell(page, "client", "apart")
    head = page.text.split("By client", 1)[1].split("</thead>", 1)[0]
    assert [int(t) for t in re.findall(r"target ≥ (\d+) %", head)] == [90, 90, 95, 100, 85]


def test_kpi_page_counts_preventive_tickets_apart_from_faults(world: World) -> None:
    world.fault("cam-1", datetime.now(UTC) - timedelta(minutes=5))
    with write_session(world.kit.engine) as session:
        device = session.get(Device, world.kit.pks["nvr-1"])
        assert device is not None
        site = session.get(Site, device.site_id)
        assert site is not None
        open_ticket(
            session=session,
            site=site,
            device=device,
            opening=Opening(
                kind=TicketKind.PREVENTIVE,
                code="predict.disk_sectors",
                open_key=f"d{device.id}:predict.disk_sectors",
                severity="general",
                title="nvr-1: disk_sectors forecast",
                symptom="reallocated sectors rising",
                first_failure_at=datetime.now(UTC),
                deadline=datetime.now(UTC) + timedelta(days=20),
            ),
            settings=service_settings(session=session, client_id=site.client_id, known_codes=[]),
            actor=Actor.monitoring(),
            now=datetime.now(UTC),
        )
    page = world.console("boss").get("/console/kpis")
    assert page.status_code == 200, page.text
    faults = page.text.split("By client", 1)[1].split("</table>", 1)[0]
    assert re.search(r"<td>1</td>", faults), faults  # the fault ticket only
    apart = page.text.split('data-kpi="preventive"', 1)[1].split("</table>", 1)[0]
    assert '<td data-count="opened">1</td>' in apart
    assert '<td data-count="open">1</td>' in apart
    assert '<td data-count="resolved_late">0</td>' in apart


def test_a_technician_off_every_team_still_sees_and_works_their_ticket(world: World) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    emergency = world.fault("nvr-1", start)
    other = world.fault("cam-1", start)
    eta = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    boss = world.console("boss")
    dispatched = boss.act(emergency, "dispatch", eta=eta, assignee_id=str(world.users["ned"]))
    assert 'id="state">dispatched<' in dispatched.text, _error(dispatched)
    world.team(["tech"])  # the manager takes ned off the team

    ned = world.console("ned")
    queue = ned.get("/console")
    assert _rows(queue) == [emergency]
    assert NOT_ON_A_TEAM in queue.text
    assert "All quiet" not in queue.text
    seen = ned.get(f"/console/tickets/{emergency}")
    assert seen.status_code == 200
    assert '<span id="diagnosis-clock" data-status="ok">' in seen.text  # 001: due in 1 h
    assert ned.get(f"/console/tickets/{other}").status_code == 404  # not theirs, not their site
    arrived = ned.act(emergency, "on_site")
    assert 'id="state">on_site<' in arrived.text, _error(arrived)

    api = TestClient(world.app)  # the API answers the same, from the same Scope
    login = api.post("/api/v1/auth/token", data={"username": "ned", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert [t["id"] for t in api.get("/api/v1/tickets", headers=headers).json()] == [emergency]
    assert api.get(f"/api/v1/tickets/{emergency}", headers=headers).json()["state"] == "on_site"
    assert api.get(f"/api/v1/tickets/{other}", headers=headers).status_code == 404

    loner = world.console("loner")  # no team and nothing assigned
    empty = loner.get("/console")
    assert _rows(empty) == []
    assert NOT_ON_A_TEAM in empty.text
    assert "All quiet" not in empty.text


def test_dispatch_offers_only_staff_covering_the_site_and_refuses_anyone_else(
    world: World,
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    ticket = world.fault("cam-1", start)
    boss = world.console("boss")
    page = boss.get(f"/console/tickets/{ticket}")
    assert _options(page, "dispatch") == {"boss", "ned", "tech"}
    assert _options(page, "reassign") == {"boss", "ned", "tech"}
    eta = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    before = world.count(TicketEvent, ticket)
    for who in ("stranger", "acme", "desk", "loner"):
        for action, fields in (("dispatch", {"eta": eta}), ("reassign", {})):
            refused = boss.act(ticket, action, assignee_id=str(world.users[who]), **fields)
            assert "not staff covering" in _error(refused), (who, action)
    unknown = boss.act(ticket, "reassign", assignee_id="999999")
    assert "not staff covering" in _error(unknown)
    assert world.ticket_of("cam-1").assignee_id is None
    assert world.state(ticket) == "new"
    assert world.count(TicketEvent, ticket) == before
    moved = boss.act(ticket, "reassign", assignee_id=str(world.users["tech"]))
    assert _error(moved) == ""
    assert world.ticket_of("cam-1").assignee_id == world.users["tech"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"diagnosis": "", "actions": "", "minutes": "-50"}, "diagnosis"),
        ({"diagnosis": "   ", "actions": "moved to port 7", "minutes": "5"}, "diagnosis"),
        ({"diagnosis": "PoE port dead", "actions": "", "minutes": "5"}, "actions"),
        ({"diagnosis": "PoE port dead", "actions": "moved", "minutes": "-50"}, "minutes"),
        ({"diagnosis": "PoE port dead", "actions": "moved", "minutes": "many"}, "minutes"),
    ],
)
def test_console_resolve_refuses_an_incomplete_record_and_stores_nothing(
    world: World, fields: dict[str, str], problem: str
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    ticket = world.fault("cam-1", start)
    world.recover("cam-1", start + timedelta(seconds=20))
    boss = world.console("boss")
    boss.act(ticket, "acknowledge")
    before = world.count(TicketEvent, ticket)
    page = boss.act(ticket, "resolve", cause_class="equipment", **fields)
    assert problem in _error(page)
    assert 'id="state">acknowledged<' in page.text
    assert world.count(RepairRecord, ticket) == 0
    assert world.count(TicketEvent, ticket) == before


def test_console_resolve_with_the_fault_open_needs_an_override_and_never_says_repaired(
    world: World,
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    ticket = world.fault("cam-1", start)
    boss = world.console("boss")
    boss.act(ticket, "acknowledge")
    record = {**RECORD, "minutes": "20"}
    refused = boss.act(ticket, "resolve", **record)
    assert "still open" in _error(refused)
    assert 'id="state">acknowledged<' in refused.text
    assert world.count(RepairRecord, ticket) == 0

    reason = "fixed, device offline for a reason the client knows"
    done = boss.act(ticket, "resolve", fault_override=reason, **record)
    assert 'id="state">resolved<' in done.text, _error(done)
    assert reason in done.text  # in the history

    client = world.console("acme")
    status = client.get("/console/status?lang=en")
    assert status.status_code == 200
    assert "Repaired" not in status.text
    assert "Still not working" in status.text


def test_queue_state_filter_lists_every_state_and_the_heading_counts_it(world: World) -> None:
    base = datetime.now(UTC) - timedelta(hours=3)
    closed = world.fault("cam-3", base)
    world.recover("cam-3", base + timedelta(seconds=20))
    world.kit.sweep(base + timedelta(hours=1))  # quiet for 30 min: closed
    recovered = world.fault("cam-2", base + timedelta(hours=2))
    world.recover("cam-2", base + timedelta(hours=2, seconds=20))
    boss = world.console("boss")
    cancelled = world.fault("nvr-1", base + timedelta(hours=2))
    boss.act(cancelled, "cancel", note="duplicate of a call")
    resolved = world.fault("cam-4", base + timedelta(hours=2))
    boss.act(resolved, "acknowledge")
    world.recover("cam-4", base + timedelta(hours=2, seconds=20))
    boss.act(resolved, "resolve", minutes="5", **RECORD)
    fresh = world.fault("cam-1", base + timedelta(hours=2))

    expected = {
        "closed": closed,
        "cancelled": cancelled,
        "recovered": recovered,
        "resolved": resolved,
        "new": fresh,
    }
    for state, ticket in expected.items():
        assert world.state(ticket) == state
        page = boss.get(f"/console?state={state}")
        assert _rows(page) == [ticket], state
        assert _heading(page) == f"{state.capitalize()} tickets (1)"
    default = boss.get("/console")
    assert _rows(default) == [fresh]  # open work: not resolved, recovered or finished
    assert _heading(default) == "Open tickets (1)"
    assert "No tickets match" in boss.get("/console?state=on_site").text


def test_a_ticket_without_deadlines_is_a_visible_problem_on_top_of_the_queue(
    world: World,
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=30)
    timed = world.fault("cam-1", start)
    with Session(world.kit.engine) as session:  # the policy changed under the site's zone
        session.add(
            ServicePolicy(
                client_id=world.kit.tenant.client_id,
                severity={},
                sla={"preset": "ring_road"},
                updated_at=start,
            )
        )
        session.commit()
    untimed = world.fault("cam-2", start + timedelta(minutes=1))
    assert world.ticket_of("cam-2").respond_by is None
    page = world.console("boss").get("/console")
    assert _rows(page) == [untimed, timed]
    alert = re.search(r'<p class="error" role="alert" id="sla-problems">(.*?)</p>', page.text, re.S)
    assert alert is not None
    assert alert[1].startswith("1 ticket without SLA deadlines")
    row = page.text.split(f'data-ticket="{untimed}"', 1)[1].split("</tr>", 1)[0]
    assert "no deadline" in row
    assert (
        "no SLA deadlines: policy ring_road has no general targets for zone &#39;default&#39;"
        in row
    )


def _forms(page: httpx.Response) -> set[str]:
    return set(re.findall(r'name="action" value="([a-z_]+)"', page.text))


def test_the_ticket_page_offers_only_the_flows_moves_and_resolve_files_parts_and_serials(
    world: World,
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    ticket = world.fault("cam-2", start)
    world.recover("cam-2", start + timedelta(seconds=20))
    assert world.state(ticket) == "recovered"
    boss = world.console("boss")
    recovered = _forms(boss.get(f"/console/tickets/{ticket}"))
    assert "resolve" not in recovered  # recovered → resolved is not a move of the flow
    assert {"acknowledge", "cancel"} <= recovered
    acked = _forms(boss.act(ticket, "acknowledge"))
    assert "resolve" in acked
    assert "on_site" not in acked
    device = str(world.kit.pks["cam-2"])
    record: dict[str, str | list[str]] = {**RECORD, "cause_class": "installation", "minutes": "35",
              "part_name": ["camera", "", ""], "part_old": ["OLD-1", "", ""],
              "part_new": ["NEW-2", "", ""], "part_device": [device, "", ""]}  # fmt: skip
    refused = boss.act(ticket, "resolve", **record)
    assert "consent to replacing parts" in _error(refused)
    boss.act(ticket, "consent", scope="parts", given_by="Mr Li", channel="phone")
    done = boss.act(ticket, "resolve", **record)
    assert 'id="state">resolved<' in done.text, _error(done)
    assert "Client consent to parts: Mr Li via phone" in done.text
    with Session(world.kit.engine) as session:
        saved = session.get(RepairRecord, ticket)
        assert saved is not None
        assert saved.cause_class == "installation"
        assert saved.time_on_site_minutes == 35
        assert saved.parts == [{"name": "camera", "device_id": int(device),
                                "old_serial": "OLD-1", "new_serial": "NEW-2"}]  # fmt: skip
        camera = session.get(Device, int(device))
        assert camera is not None
        assert camera.serial == "NEW-2"


def test_the_console_files_a_complex_faults_plan_and_a_manager_approves_it(world: World) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    ticket = world.fault("nvr-1", start)
    tech, boss = world.console("tech"), world.console("boss")
    tech.act(ticket, "acknowledge")
    page = tech.act(ticket, "diagnose", path="complex", diagnosis="array degraded")
    assert "diagnosis by" in page.text  # the emergency's 1 h diagnosis deadline
    page = tech.act(ticket, "plan", steps="swap disk 3\nrebuild", tools="screwdriver",
                    parts="hdd 4tb", minutes="90")  # fmt: skip
    assert "not approved yet" in page.text
    refused = tech.act(ticket, "approve_plan")
    assert "a manager approves" in _error(refused)
    approved = boss.act(ticket, "approve_plan")
    assert "approved by boss" in approved.text
    assert "Steps: swap disk 3; rebuild" in approved.text


def test_a_resolved_ticket_closes_only_by_a_managers_override_with_the_reason_shown(
    world: World,
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    ticket = world.fault("cam-1", start)
    world.recover("cam-1", start + timedelta(seconds=20))
    boss = world.console("boss")
    boss.act(ticket, "acknowledge")
    resolved = boss.act(ticket, "resolve", **RECORD, minutes="20")
    assert 'id="state">resolved<' in resolved.text, _error(resolved)
    assert 'id="record-v1"' in resolved.text
    assert "Not signed by the client yet." in resolved.text
    skipped = boss.act(ticket, "close")
    assert "signature" in _error(skipped)
    assert 'id="state">resolved<' in skipped.text
    tech_page = world.console("tech").get(f"/console/tickets/{ticket}")
    assert 'value="close_without_signature"' not in tech_page.text
    closed = boss.act(ticket, "close_without_signature", note="client abroad until March")
    assert 'id="state">closed<' in closed.text, _error(closed)
    assert "Closed without the client's signature by boss" in closed.text
    assert "client abroad until March" in closed.text
