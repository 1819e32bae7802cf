"""The ticket API in process (FastAPI's TestClient) over a real database: the repair flow from
a detected fault to the client's signature, desk calls merging, scoping and refusals."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from peers.server import TEST_SECRET_KEY, add_user, provision
from server.app import create_app
from server.db import write_session
from server.models import Device, ServicePolicy, Site
from server.settings import Settings
from server.tickets.intake import Opening, open_ticket
from server.tickets.policy import service_settings
from server.tickets.service import KNOWN_FAULT_CODES, Actor
from server.tickets.states import TicketKind
from tests.server.faultkit import Kit, make_kit, wait_detected
from wire.enums import DeviceClass, Role
from wire.ids import uuid7

PASSWORD = "correct horse battery staple"


@dataclass
class World:
    kit: Kit
    api: TestClient
    other_client_id: int
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def as_user(self, username: str) -> dict[str, str]:
        """Bearer headers; one login per user (Argon2 is slow on purpose)."""
        if username in self.tokens:
            return self.tokens[username]
        response = self.api.post(
            "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        self.tokens[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return self.tokens[username]

    def fault(self, ext: str, start: datetime | None = None) -> datetime:
        """Take a device down for two polls: a confirmed fault and its ticket; returns the first
        failing poll's time (recent: the app's sweep judges the agent's silence by real time)."""
        start = start or datetime.now(UTC) - timedelta(seconds=30)
        self.kit.poll(start, {ext: False})
        self.kit.poll(start + timedelta(seconds=10), {ext: False})
        return start

    def recover(self, ext: str) -> None:
        """Three passing polls: monitoring confirms the device works again."""
        start = datetime.now(UTC) - timedelta(seconds=5)
        for i in range(3):
            self.kit.poll(start + timedelta(seconds=i), {ext: True})


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    kit = make_kit(database_url)
    kit.add_devices(
        [
            ("cam-1", DeviceClass.CAMERA, None),
            ("cam-2", DeviceClass.CAMERA, None),
            ("nvr-1", DeviceClass.NVR, None),
        ]
    )
    other = provision(database_url, client="other-client")
    users = {}
    for name, role, client in [
        ("boss", Role.MANAGER, None),
        ("tech", Role.TECHNICIAN, None),
        ("desk", Role.DESK, None),
        ("acme", Role.CLIENT, kit.tenant.client_id),
        ("stranger", Role.CLIENT, other.client_id),
        ("loner", Role.TECHNICIAN, None),
    ]:
        users[name] = add_user(
            database_url, username=name, password=PASSWORD, role=role, client_id=client
        )
    # The technician works in the team that covers the kit's site (the API scopes them to it).
    notify = tmp_path / "notify.yaml"
    notify.write_text(
        yaml.safe_dump(
            {
                "contacts": {"tech": {"channels": {"hook": "json://127.0.0.1:9/never-used"}}},
                "teams": {"field": {"members": ["tech"], "sites": [kit.tenant.site_id]}},
            }
        )
    )
    settings = Settings(
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        fault_sweep_seconds=3600,
        notify_config=notify,
        notify_worker=False,
    )
    app = create_app(settings)
    # The kit drains its own batches at once; the app's detector only answers its wake-ups
    # (HTTP ingest), so it never takes a kit's batch from under it.
    app.state.ctx.faults.poll_seconds = 3600
    with TestClient(app) as api:
        yield World(kit=kit, api=api, other_client_id=other.client_id, users=users)
    kit.engine.dispose()


def post(world: World, user: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return world.api.post(path, json=body or {}, headers=world.as_user(user))


def test_repair_flow_from_detection_to_client_signature(world: World) -> None:
    world.fault("cam-1")
    tech = world.as_user("tech")
    (ticket,) = world.api.get("/api/v1/tickets?open=true", headers=tech).json()
    tid = ticket["id"]
    assert ticket["state"] == "new"
    assert ticket["severity"] == "general"
    assert ticket["reporter"] == "monitoring"

    sla = world.api.get(f"/api/v1/tickets/{tid}/sla", headers=tech).json()
    assert sla["policy"] == "security_default"
    assert sla["respond"]["deadline"] == ticket["respond_by"]
    assert sla["respond"]["status"] in ("ok", "near_breach", "breached")
    assert sla["diagnose"] is None  # a general fault has no diagnosis deadline

    assert (
        post(world, "tech", f"/api/v1/tickets/{tid}/transitions", {"to": "on_site"}).status_code
        == 409
    )
    assert (
        post(
            world, "tech", f"/api/v1/tickets/{tid}/transitions", {"to": "acknowledged"}
        ).status_code
        == 200
    )
    no_eta = post(world, "tech", f"/api/v1/tickets/{tid}/transitions", {"to": "dispatched"})
    assert no_eta.status_code == 422
    eta = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    moved = post(
        world,
        "tech",
        f"/api/v1/tickets/{tid}/transitions",
        {"to": "dispatched", "eta": eta, "note": "leaving now"},
    )
    assert moved.status_code == 200
    assert moved.json()["eta"] is not None
    assert (
        post(world, "tech", f"/api/v1/tickets/{tid}/transitions", {"to": "on_site"}).status_code
        == 200
    )

    world.recover("cam-1")  # the repair worked: monitoring sees the camera again
    cam = world.kit.pks["cam-1"]
    record = {
        "diagnosis": "PoE injector dead",
        "cause_class": "equipment",
        "actions": "replaced the camera and the injector",
        "time_on_site_minutes": 45,
        "parts": [
            {"name": "camera", "device_id": cam, "old_serial": None, "new_serial": "SN-NEW-1"}
        ],
    }
    # Parts are replaced only with the client's consent, recorded first (003 方案).
    no_consent = post(world, "tech", f"/api/v1/tickets/{tid}/resolve", record)
    assert no_consent.status_code == 409
    assert "consent" in no_consent.json()["detail"]
    consent = {"scope": "parts", "given_by": "Ms Client", "channel": "phone"}
    assert post(world, "tech", f"/api/v1/tickets/{tid}/consents", consent).status_code == 201
    resolved = post(world, "tech", f"/api/v1/tickets/{tid}/resolve", record)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["repair"]["technician_name"] == "tech"
    with Session(world.kit.engine) as session:
        device = session.get(Device, cam)
        assert device is not None
        assert device.serial == "SN-NEW-1"  # the swap updated the inventory
    # What the client sees through the API is what its status page promises: the ticket's
    # states and times, no staff notes, no hardware serials (staff see both).
    acme = world.as_user("acme")
    client_events = world.api.get(f"/api/v1/tickets/{tid}/events", headers=acme).json()
    staff_events = world.api.get(f"/api/v1/tickets/{tid}/events", headers=tech).json()
    assert "leaving now" in [e["note"] for e in staff_events]
    assert [e["to_state"] for e in client_events] == [e["to_state"] for e in staff_events]
    assert all(e["note"] is None and e["data"] is None for e in client_events)
    client_view = world.api.get(f"/api/v1/tickets/{tid}", headers=acme).json()
    assert "SN-NEW-1" not in str(client_view["repair"])
    assert "SN-NEW-1" in str(world.api.get(f"/api/v1/tickets/{tid}", headers=tech).json())
    site = world.kit.tenant.site_id
    client_devices = world.api.get(f"/api/v1/sites/{site}/devices", headers=acme).json()
    assert {d["serial"] for d in client_devices} == {None}
    assert world.api.get(f"/api/v1/devices/{cam}", headers=acme).json()["serial"] is None
    assert world.api.get(f"/api/v1/devices/{cam}", headers=tech).json()["serial"] == "SN-NEW-1"

    # The client is not satisfied: reopened, fixed again, then signed.
    unhappy = post(
        world,
        "acme",
        f"/api/v1/tickets/{tid}/sign-off",
        {"name": "Ms Client", "satisfied": False, "comment": "still dark at night"},
    )
    assert unhappy.json()["state"] == "reopened"
    assert unhappy.json()["reopened_count"] == 1
    again = dict(record, actions="replaced the injector again, new cable", parts=[])
    assert post(world, "tech", f"/api/v1/tickets/{tid}/resolve", again).status_code == 200
    # Nobody closes a resolved ticket past the client: not staff by a plain transition, not
    # the desk by an override, not a manager without a reason.
    skip = post(world, "boss", f"/api/v1/tickets/{tid}/transitions", {"to": "closed"})
    assert skip.status_code == 409
    assert "signature" in skip.json()["detail"]
    override = f"/api/v1/tickets/{tid}/close-without-signature"
    assert post(world, "desk", override, {"reason": "client away"}).status_code == 403
    assert post(world, "boss", override, {"reason": ""}).status_code == 422
    happy = post(
        world, "acme", f"/api/v1/tickets/{tid}/sign-off", {"name": "Ms Client", "satisfied": True}
    )
    assert happy.json()["state"] == "closed"

    link = post(world, "desk", f"/api/v1/tickets/{tid}/survey").json()
    answer = f"/api/v1/surveys/{link['token']}"
    four = {"response_time": 5, "repair_quality": 4, "attitude": 4, "problem_solving": 3}
    assert world.api.post(answer, json={"rating": 4}).status_code == 422  # the four dimensions
    assert world.api.post(answer, json=dict(four, attitude=7)).status_code == 422
    assert world.api.post(answer, json=dict(four, comment="quick")).status_code == 204
    assert world.api.post(answer, json=four).status_code == 404  # one answer
    assert world.api.post("/api/v1/surveys/sms_nope", json=four).status_code == 404

    detail = world.api.get(f"/api/v1/tickets/{tid}", headers=tech).json()
    assert detail["survey_rating"] == 4
    assert detail["survey"]["problem_solving"] == 3
    assert detail["repair"]["client_signed_name"] == "Ms Client"
    assert detail["repair"]["version"] == 2
    first, second = detail["repair_versions"]
    assert (first["version"], first["client_satisfied"]) == (1, False)
    assert first["client_comment"] == "still dark at night"
    assert first["superseded_at"] is not None
    assert first["actions"] == "replaced the camera and the injector"
    assert (second["client_satisfied"], second["superseded_at"]) == (True, None)
    assert [e["code"] for e in detail["episodes"]] == ["device.unreachable"]
    events = world.api.get(f"/api/v1/tickets/{tid}/events", headers=tech).json()
    moves = [
        (e["from_state"], e["to_state"], e["actor"]) for e in events if e["kind"] == "transition"
    ]
    assert moves == [
        ("new", "acknowledged", "tech"),
        ("acknowledged", "dispatched", "tech"),
        ("dispatched", "on_site", "tech"),
        ("on_site", "resolved", "tech"),
        ("resolved", "reopened", "acme"),
        ("reopened", "resolved", "tech"),
        ("resolved", "closed", "acme"),
    ]

    month = datetime.now(UTC).strftime("%Y-%m")
    (kpi,) = world.api.get(
        f"/api/v1/kpis?group=technician&from={month}", headers=world.as_user("boss")
    ).json()
    assert kpi["tickets"] == 1
    assert kpi["repair_success"] == {"value": 0.0, "numerator": 0, "denominator": 1}  # reopened
    assert kpi["record_completeness"]["value"] == 1.0
    assert kpi["satisfaction_mean"] == 4.0
    assert kpi["mtta_minutes"] is not None
    assert [c["given_by"] for c in detail["consents"]] == ["Ms Client"]

    # The same fault back within 30 days of closing: a repeat, shown on both tickets.
    world.fault("cam-1", datetime.now(UTC))
    (again,) = world.api.get("/api/v1/tickets?open=true", headers=tech).json()
    assert again["repeat_of_id"] == tid
    assert world.api.get(f"/api/v1/tickets/{tid}", headers=tech).json()["repeated_by"] == [
        again["id"]
    ]


def test_a_client_call_about_a_device_with_an_open_ticket_joins_it(world: World) -> None:
    world.fault("cam-1")
    desk = world.as_user("desk")
    (auto,) = world.api.get("/api/v1/tickets", headers=desk).json()
    call = {
        "symptom": "camera 1 shows nothing",
        "reporter": "guard on duty",
        "reporter_contact": "+86 10 5555 0101",
        "device_id": world.kit.pks["cam-1"],
    }
    merged = post(world, "desk", "/api/v1/tickets", call)
    assert merged.status_code == 201
    assert merged.json()["id"] == auto["id"]
    kinds = [
        e["kind"]
        for e in world.api.get(f"/api/v1/tickets/{auto['id']}/events", headers=desk).json()
    ]
    assert kinds == ["created", "call_merged"]

    # A call first, then monitoring confirms the fault on that device: still one ticket.
    first = post(world, "desk", "/api/v1/tickets", {**call, "device_id": world.kit.pks["cam-2"]})
    assert first.json()["kind"] == "call"
    world.fault("cam-2", start=datetime.now(UTC) - timedelta(seconds=20))
    tickets = world.api.get("/api/v1/tickets", headers=desk).json()
    assert len(tickets) == 2
    joined = next(t for t in tickets if t["id"] == first.json()["id"])
    assert joined["code"] == "device.unreachable"


def test_a_client_call_about_a_device_with_a_preventive_ticket_opens_its_own(world: World) -> None:
    """A forecast's ticket has no emergency clock: a call about that device is not folded into
    it, and a fault confirmed later does not join it either."""
    with write_session(world.kit.engine) as session:
        device = session.get(Device, world.kit.pks["cam-1"])
        assert device is not None
        site = session.get(Site, device.site_id)
        assert site is not None
        forecast = open_ticket(
            session=session,
            site=site,
            device=device,
            opening=Opening(
                kind=TicketKind.PREVENTIVE,
                code="predict.sharpness",
                open_key=f"d{device.id}:predict.sharpness",
                severity="general",
                title="cam-1: sharpness forecast",
                symptom="focus drifting",
                first_failure_at=datetime.now(UTC),
            ),
            settings=service_settings(
                session=session, client_id=site.client_id, known_codes=list(KNOWN_FAULT_CODES)
            ),
            actor=Actor.monitoring(),
            now=datetime.now(UTC),
        )
        session.flush()
        forecast_id = forecast.id
    call = {"symptom": "camera 1 is blurred", "reporter": "guard on duty",
            "device_id": world.kit.pks["cam-1"]}  # fmt: skip
    answer = post(world, "desk", "/api/v1/tickets", call)
    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] != forecast_id
    assert answer.json()["kind"] == "call"
    world.fault("cam-1")
    tickets = {
        t["id"]: t for t in world.api.get("/api/v1/tickets", headers=world.as_user("boss")).json()
    }
    assert tickets[forecast_id]["kind"] == "preventive"
    assert tickets[forecast_id]["code"] == "predict.sharpness"
    assert tickets[answer.json()["id"]]["code"] == "device.unreachable"  # the call met its fault


def test_scoping_and_refusals(world: World) -> None:
    world.fault("cam-1")
    (ticket,) = world.api.get("/api/v1/tickets", headers=world.as_user("boss")).json()
    tid = ticket["id"]
    stranger = world.as_user("stranger")
    assert world.api.get(f"/api/v1/tickets/{tid}", headers=stranger).status_code == 404
    assert world.api.get("/api/v1/tickets", headers=stranger).json() == []
    assert len(world.api.get("/api/v1/tickets", headers=world.as_user("acme")).json()) == 1
    # A client cannot move tickets, a technician cannot log calls.
    ack = post(world, "acme", f"/api/v1/tickets/{tid}/transitions", {"to": "acknowledged"})
    assert ack.status_code == 403
    assert (
        post(
            world, "tech", "/api/v1/tickets", {"symptom": "x", "reporter": "y", "site_id": 1}
        ).status_code
        == 403
    )
    assert (
        post(
            world, "acme", f"/api/v1/tickets/{tid}/sign-off", {"name": "n", "satisfied": True}
        ).status_code
        == 409
    )
    bad_state = post(world, "tech", f"/api/v1/tickets/{tid}/transitions", {"to": "exploded"})
    assert bad_state.status_code == 422
    assert world.api.get("/api/v1/tickets/999999", headers=world.as_user("boss")).status_code == 404


def test_client_severity_override_and_sla_preset(world: World) -> None:
    boss = world.as_user("boss")
    cid = world.kit.tenant.client_id
    bad = world.api.put(
        f"/api/v1/clients/{cid}/service-policy",
        headers=boss,
        json={"severity": {"device.melted": "general"}},
    )
    assert bad.status_code == 422
    assert "unknown fault code" in bad.text
    bad_sla = world.api.put(
        f"/api/v1/clients/{cid}/service-policy", headers=boss, json={"sla": {"preset": "nope"}}
    )
    assert bad_sla.status_code == 422
    ok = world.api.put(
        f"/api/v1/clients/{cid}/service-policy",
        headers=boss,
        json={"severity": {"device.unreachable@camera": "emergency"}, "sla": {"preset": "telecom"}},
    )
    assert ok.status_code == 200, ok.text
    assert (
        world.api.put(
            f"/api/v1/clients/{cid}/service-policy", headers=world.as_user("tech"), json={}
        ).status_code
        == 403
    )
    start = world.fault("cam-1")
    (ticket,) = world.api.get("/api/v1/tickets", headers=boss).json()
    assert ticket["severity"] == "emergency"
    assert ticket["sla_policy"] == "telecom"
    assert ticket["respond_by"] == (start + timedelta(minutes=30)).isoformat().replace(
        "+00:00", "Z"
    )


def test_rules_and_faults_endpoints(world: World) -> None:
    world.fault("nvr-1")
    boss = world.as_user("boss")
    rules = world.api.get("/api/v1/faults/rules", headers=boss).json()
    assert "ring_road" in rules["sla_presets"]
    assert any(r["code"] == "alarm.panel_offline" for r in rules["rules"])
    (episode,) = world.api.get("/api/v1/faults", headers=boss).json()
    assert episode["code"] == "device.unreachable"
    assert episode["severity"] == "emergency"
    assert episode["open"] is True
    assert world.api.get("/api/v1/faults", headers=world.as_user("stranger")).json() == []


def test_a_failing_fault_evaluation_never_fails_the_ingest(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken stored policy (written around the API's checks) makes detection fail: the batch
    is still stored and answered 200, so the agent does not resend it for ever."""
    with write_session(world.kit.engine) as session:
        session.add(
            ServicePolicy(
                client_id=world.kit.tenant.client_id,
                severity={},
                sla={"preset": "no-such"},
                recovered_quiet_minutes=None,
                updated_at=datetime.now(UTC),
            )
        )
    start = datetime.now(UTC) - timedelta(seconds=30)
    body = {
        "samples": [
            {
                "id": str(uuid7()),
                "device_id": "cam-1",
                "ts": (start + timedelta(seconds=10 * i)).isoformat(),
                "probe": "tcp",
                "reachable": False,
                "error": {"code": "device.unreachable", "message": "x"},
            }
            for i in range(3)
        ]
    }
    response = world.api.post("/api/v1/ingest", json=body, headers=world.kit.tenant.agent_headers)
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "duplicates": 0}
    wait_detected(world.api)
    assert "evaluation of a batch" in caplog.text
    assert world.api.get("/api/v1/tickets", headers=world.as_user("boss")).json() == []


def test_the_clock_pauses_while_waiting_for_the_client_where_the_policy_allows(
    world: World,
) -> None:
    world.fault("cam-1")
    world.fault("nvr-1")
    boss = world.as_user("boss")
    by_device = {t["device_id"]: t for t in world.api.get("/api/v1/tickets", headers=boss).json()}
    general = by_device[world.kit.pks["cam-1"]]
    emergency = by_device[world.kit.pks["nvr-1"]]
    refused = post(world, "tech", f"/api/v1/tickets/{emergency['id']}/pause", {"reason": "x"})
    assert refused.status_code == 409
    assert "does not pause emergency" in refused.text
    tid = general["id"]
    assert post(world, "tech", f"/api/v1/tickets/{tid}/resume").status_code == 409
    paused = post(world, "tech", f"/api/v1/tickets/{tid}/pause", {"reason": "client away"})
    assert paused.status_code == 200
    assert (
        post(world, "tech", f"/api/v1/tickets/{tid}/pause", {"reason": "again"}).status_code == 409
    )
    sla = world.api.get(f"/api/v1/tickets/{tid}/sla", headers=boss).json()
    assert sla["respond"]["paused"] is True
    resumed = post(world, "tech", f"/api/v1/tickets/{tid}/resume")
    assert resumed.status_code == 200
    assert resumed.json()["respond_by"] >= general["respond_by"]
    kinds = [e["kind"] for e in world.api.get(f"/api/v1/tickets/{tid}/events", headers=boss).json()]
    assert kinds[-2:] == ["clock_paused", "clock_resumed"]


RECORD = {
    "diagnosis": "PoE port dead",
    "cause_class": "equipment",
    "actions": "moved the camera to port 7",
    "time_on_site_minutes": 20,
}


def test_resolve_is_refused_while_the_fault_is_open_unless_the_resolver_says_why(
    world: World,
) -> None:
    world.fault("cam-1")
    boss = world.as_user("boss")
    (ticket,) = world.api.get("/api/v1/tickets", headers=boss).json()
    tid = ticket["id"]
    before = world.api.get(f"/api/v1/tickets/{tid}/events", headers=boss).json()
    refused = post(world, "tech", f"/api/v1/tickets/{tid}/resolve", RECORD)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "conflict"
    assert "device.unreachable" in refused.json()["detail"]
    assert "fault_override" in refused.json()["detail"]  # says how to go on
    detail = world.api.get(f"/api/v1/tickets/{tid}", headers=boss).json()
    assert (detail["state"], detail["repair"]) == ("new", None)
    assert world.api.get(f"/api/v1/tickets/{tid}/events", headers=boss).json() == before
    empty = post(world, "tech", f"/api/v1/tickets/{tid}/resolve", {**RECORD, "fault_override": " "})
    assert empty.status_code == 422

    reason = "fixed, device offline for a reason the client knows"
    done = post(
        world, "tech", f"/api/v1/tickets/{tid}/resolve", {**RECORD, "fault_override": reason}
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "resolved"
    events = world.api.get(f"/api/v1/tickets/{tid}/events", headers=boss).json()
    (override,) = [e for e in events if e["kind"] == "resolved_with_open_fault"]
    assert (override["actor"], override["note"]) == ("tech", reason)


@pytest.mark.parametrize("who", ["unknown", "stranger", "acme", "desk", "loner"])
def test_an_assignee_must_be_staff_covering_the_tickets_site(world: World, who: str) -> None:
    world.fault("cam-1")
    boss = world.as_user("boss")
    (ticket,) = world.api.get("/api/v1/tickets", headers=boss).json()
    tid = ticket["id"]
    assignee = world.users.get(who, 999_999)
    refused = post(
        world,
        "boss",
        f"/api/v1/tickets/{tid}/transitions",
        {"to": "acknowledged", "assignee_id": assignee},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid"
    assert "not staff covering" in str(refused.json()["detail"])
    after = world.api.get(f"/api/v1/tickets/{tid}", headers=boss).json()
    assert (after["state"], after["assignee_id"]) == ("new", None)
    covered = post(
        world,
        "boss",
        f"/api/v1/tickets/{tid}/transitions",
        {"to": "acknowledged", "assignee_id": world.users["tech"]},
    )
    assert covered.status_code == 200, covered.text
    assert covered.json()["assignee_id"] == world.users["tech"]


def test_a_complex_fault_needs_its_plan_approved_by_a_manager_before_dispatch(
    world: World,
) -> None:
    world.fault("nvr-1")
    tech = world.as_user("tech")
    (ticket,) = world.api.get("/api/v1/tickets?open=true", headers=tech).json()
    tid = ticket["id"]
    assert ticket["severity"] == "emergency"
    assert ticket["diagnose_by"] is not None  # 001: initial diagnosis within 1 h
    path = f"/api/v1/tickets/{tid}"
    clock = world.api.get(f"{path}/sla", headers=tech).json()["diagnose"]
    assert (clock["status"], clock["deadline"]) == ("ok", ticket["diagnose_by"])
    plan = {"steps": ["swap disk 3"], "tools": [], "parts": ["hdd"], "estimated_minutes": 60}
    assert post(world, "tech", f"{path}/plan", plan).status_code == 409  # diagnose first
    diagnosis = {"path": "complex", "diagnosis": "array degraded"}
    assert post(world, "desk", f"{path}/diagnosis", diagnosis).status_code == 403
    assert post(world, "tech", f"{path}/diagnosis", diagnosis).json()["path"] == "complex"
    assert world.api.get(f"{path}/sla", headers=tech).json()["diagnose"]["status"] == "met"
    assert post(world, "tech", f"{path}/plan", {**plan, "steps": []}).status_code == 422
    assert post(world, "tech", f"{path}/plan", plan).json()["approved_at"] is None
    eta = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    dispatch = {"to": "dispatched", "eta": eta}
    refused = post(world, "tech", f"{path}/transitions", dispatch)
    assert refused.status_code == 409
    assert "approved" in refused.json()["detail"]
    assert post(world, "tech", f"{path}/plan/approve").status_code == 403
    assert post(world, "boss", f"{path}/plan/approve").json()["approved_by"] == "boss"
    assert post(world, "tech", f"{path}/transitions", dispatch).status_code == 200
    detail = world.api.get(path, headers=tech).json()
    assert detail["plan"]["steps"] == ["swap disk 3"]
    assert detail["plan"]["approved_by"] == "boss"
