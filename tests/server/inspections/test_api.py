"""The inspection API in process over a real database: scoping by tenancy, completion, both
signatures, verification, amendments, and refusals that store nothing."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from peers.server import TEST_SECRET_KEY, add_user, provision, register_devices
from server.app import create_app
from server.db import make_engine
from server.inspections.models import InspectionAmendment, InspectionRow
from server.settings import Settings
from wire.enums import Role

PASSWORD = "correct horse battery staple"
BASE = "/api/v1/inspections"


@dataclass
class World:
    api: TestClient
    database_url: str
    site_id: int
    other_site_id: int
    client_id: int
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def h(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            response = self.api.post(
                "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            self.tokens[username] = {"Authorization": f"Bearer {token}"}
        return self.tokens[username]

    def count(self, model: type[Any]) -> int:
        engine = make_engine(self.database_url)
        try:
            with Session(engine) as session:
                return int(session.scalar(select(func.count()).select_from(model)) or 0)
        finally:
            engine.dispose()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    from server import migrate

    migrate.upgrade(database_url=database_url)
    mine = provision(database_url, client="acme", devices=["cam-1"], timezone="Asia/Shanghai")
    other = provision(database_url, client="other", site="plant", devices=["cam-9"])
    register_devices(database_url, mine.site_id, ["cam-2"])
    for name, role, client in [
        ("boss", Role.MANAGER, None),
        ("tech", Role.TECHNICIAN, None),
        ("acme", Role.CLIENT, mine.client_id),
        ("stranger", Role.CLIENT, other.client_id),
    ]:
        add_user(database_url, username=name, password=PASSWORD, role=role, client_id=client)
    notify = tmp_path / "notify.yaml"
    notify.write_text(
        yaml.safe_dump(
            {
                "contacts": {"tech": {"channels": {"hook": "json://127.0.0.1:9/never-used"}}},
                "teams": {"field": {"members": ["tech"], "sites": [mine.site_id]}},
            }
        )
    )
    settings = Settings(
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        fault_sweep_seconds=3600,
        notify_config=notify,
        notify_worker=False,
        inspection_seconds=3600,
    )
    with TestClient(create_app(settings)) as api:
        yield World(api, database_url, mine.site_id, other.site_id, mine.client_id)


def _generate(world: World, site_id: int) -> dict[str, Any]:
    response = world.api.post(BASE, json={"site_id": site_id}, headers=world.h("boss"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_scope_a_client_and_a_technician_see_only_their_sites(world: World) -> None:
    mine = _generate(world, world.site_id)
    theirs = _generate(world, world.other_site_id)
    assert {r["device_name"] for r in mine["rows"] if r["device_name"]} == {"cam-1", "cam-2"}
    for user in ("acme", "tech"):
        listed = world.api.get(BASE, headers=world.h(user)).json()
        assert [i["id"] for i in listed] == [mine["id"]]
        assert world.api.get(f"{BASE}/{theirs['id']}", headers=world.h(user)).status_code == 404
    stranger = world.api.get(BASE, headers=world.h("stranger")).json()
    assert [i["id"] for i in stranger] == [theirs["id"]]
    # A client cannot answer rows or generate; a technician cannot generate.
    refused = world.api.post(BASE, json={"site_id": world.site_id}, headers=world.h("tech"))
    assert refused.status_code == 403
    assert "may not generate" in refused.json()["detail"]
    row = mine["rows"][0]
    patch = {"rows": [{"row_id": row["id"], "result": "pass"}]}
    assert (
        world.api.patch(
            f"{BASE}/{mine['id']}/rows", json=patch, headers=world.h("acme")
        ).status_code
        == 403
    )
    # The same period generated twice is the same inspection.
    assert _generate(world, world.site_id)["id"] == mine["id"]


def test_bad_answers_are_refused_with_a_reason_and_store_nothing(world: World) -> None:
    inspection = _generate(world, world.site_id)
    url = f"{BASE}/{inspection['id']}/rows"
    first = next(r for r in inspection["rows"] if r["item_id"] == "cabling.earthing")
    cases = [
        (
            {"item_id": "cabling.gold_plating", "result": "pass"},
            "unknown item id cabling.gold_plating",
        ),
        ({"row_id": first["id"], "result": "excellent"}, "not one of fail, not_applicable, pass"),
        ({"row_id": first["id"], "result": "unknown"}, "not one of"),
        ({"row_id": first["id"], "result": "fail"}, "needs a note"),
    ]
    for bad, reason in cases:
        # A good answer beside the bad one is not stored either.
        body = {"rows": [{"item_id": "cabling.conduits", "result": "pass"}, bad]}
        response = world.api.patch(url, json=body, headers=world.h("tech"))
        assert response.status_code == 422, response.text
        assert reason in response.json()["detail"]
    after = world.api.get(f"{BASE}/{inspection['id']}", headers=world.h("tech")).json()
    assert all(r["result"] is None for r in after["rows"])


def test_complete_sign_verify_tamper_and_amend_through_the_api(world: World) -> None:
    inspection = _generate(world, world.site_id)
    iid = inspection["id"]
    refused = world.api.post(f"{BASE}/{iid}/complete", headers=world.h("tech"))
    assert refused.status_code == 422
    assert "not answered" in refused.json()["detail"]
    assert "cabling.earthing" in refused.json()["detail"]
    # Progress saved in two goes: first the site items, then the camera rows.
    site_rows = [r for r in inspection["rows"] if r["device_id"] is None]
    device_rows = [r for r in inspection["rows"] if r["device_id"] is not None]
    body = {"rows": [{"item_id": r["item_id"], "result": "pass"} for r in site_rows]}
    saved = world.api.patch(f"{BASE}/{iid}/rows", json=body, headers=world.h("tech"))
    assert saved.status_code == 200, saved.text
    body = {
        "rows": [
            {"item_id": r["item_id"], "device_id": r["device_id"], "result": "not_applicable"}
            for r in device_rows
        ]
    }
    assert (
        world.api.patch(f"{BASE}/{iid}/rows", json=body, headers=world.h("tech")).status_code == 200
    )
    assert world.api.post(f"{BASE}/{iid}/complete", headers=world.h("tech")).status_code == 200
    client_first = world.api.post(
        f"{BASE}/{iid}/sign", json={"name": "王经理", "role": "物业经理"}, headers=world.h("acme")
    )
    assert client_first.status_code == 409
    assert "technician signs first" in client_first.json()["detail"]
    signed = world.api.post(
        f"{BASE}/{iid}/sign", json={"name": "李工", "role": "技术员"}, headers=world.h("tech")
    )
    assert signed.json()["state"] == "tech_signed"
    done = world.api.post(
        f"{BASE}/{iid}/sign", json={"name": "王经理", "role": "物业经理"}, headers=world.h("acme")
    ).json()
    assert done["state"] == "signed"
    assert len(done["seal_sha256"]) == 64
    twice = world.api.post(
        f"{BASE}/{iid}/sign", json={"name": "王经理", "role": "物业经理"}, headers=world.h("acme")
    )
    assert twice.status_code == 409
    assert "already signed" in twice.json()["detail"]
    late = world.api.patch(f"{BASE}/{iid}/rows", json=body, headers=world.h("tech"))
    assert late.status_code == 409
    check = world.api.get(f"{BASE}/{iid}/verify", headers=world.h("acme")).json()
    assert check["intact"] is True
    assert check["computed_sha256"] == done["seal_sha256"]
    row_id = site_rows[0]["id"]
    no_reason = {"row_id": row_id, "result": "fail", "note": "rust", "reason": ""}
    response = world.api.post(f"{BASE}/{iid}/amendments", json=no_reason, headers=world.h("tech"))
    assert response.status_code == 422
    assert "needs a reason" in response.json()["detail"]
    assert world.count(InspectionAmendment) == 0
    amended = world.api.post(
        f"{BASE}/{iid}/amendments",
        json={**no_reason, "reason": "rust found later"},
        headers=world.h("tech"),
    ).json()
    assert [a["row_id"] for a in amended["amendments"]] == [row_id]
    assert next(r for r in amended["rows"] if r["id"] == row_id)["result"] == "pass"
    assert world.api.get(f"{BASE}/{iid}/verify", headers=world.h("acme")).json()["intact"] is True
    # A row changed behind the API's back fails verification.
    engine = make_engine(world.database_url)
    try:
        with Session(engine) as session:
            session.execute(
                update(InspectionRow).where(InspectionRow.id == row_id).values(note="edited")
            )
            session.commit()
    finally:
        engine.dispose()
    check = world.api.get(f"{BASE}/{iid}/verify", headers=world.h("acme")).json()
    assert check["intact"] is False
    assert check["stored_sha256"] == done["seal_sha256"]


def test_record_html_and_pdf_in_the_callers_scope(world: World) -> None:
    inspection = _generate(world, world.site_id)
    url = f"/api/v1/reports/inspections/{inspection['id']}"
    html = world.api.get(f"{url}.html", headers=world.h("acme"))
    assert html.status_code == 200
    assert "防雷接地情况" in html.text
    assert world.api.get(f"{url}.html", headers=world.h("stranger")).status_code == 404
    pdf = world.api.get(f"{url}.pdf", headers=world.h("acme"))
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert world.api.get(f"{url}.pdf", headers=world.h("stranger")).status_code == 404


def test_row_photos_limits_and_seal(world: World) -> None:
    from server.inspections.models import InspectionAttachment
    from server.inspections.photo import MAX_BYTES

    inspection = _generate(world, world.site_id)
    iid = inspection["id"]
    row = next(r for r in inspection["rows"] if r["item_id"] == "cabling.earthing")
    url = f"{BASE}/{iid}/rows/{row['id']}/photos"
    jpeg = b"\xff\xd8\xff\xe0" + b"\x01" * 2000
    ok = world.api.post(
        url, files={"file": ("earth.jpg", jpeg, "image/jpeg")}, headers=world.h("tech")
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["content_type"] == "image/jpeg"
    assert ok.json()["size"] == len(jpeg)
    # Declared as a JPEG, but a PDF: refused by content.
    pdf = world.api.post(
        url, files={"file": ("x.jpg", b"%PDF-1.7 x", "image/jpeg")}, headers=world.h("tech")
    )
    assert pdf.status_code == 415
    assert "only JPEG, PNG or WebP" in pdf.json()["detail"]
    big = world.api.post(
        url,
        files={"file": ("big.jpg", jpeg[:4] + b"\x00" * MAX_BYTES, "image/jpeg")},
        headers=world.h("tech"),
    )
    assert big.status_code == 413
    other = world.api.post(
        f"{BASE}/{iid}/rows/999999/photos",
        files={"file": ("a.jpg", jpeg, "image/jpeg")},
        headers=world.h("tech"),
    )
    assert other.status_code == 422
    assert world.count(InspectionAttachment) == 1
    listed = world.api.get(f"{BASE}/{iid}/photos", headers=world.h("acme")).json()
    assert [p["filename"] for p in listed] == ["earth.jpg"]
    got = world.api.get(f"{BASE}/{iid}/photos/{listed[0]['id']}", headers=world.h("acme"))
    assert got.content == jpeg
    assert world.api.get(f"{BASE}/{iid}/photos", headers=world.h("stranger")).status_code == 404


def test_quarterly_report_in_the_callers_scope(world: World) -> None:
    _generate(world, world.site_id)
    url = f"/api/v1/reports/clients/{world.client_id}/quarterly"
    now = datetime.now(UTC)
    query = {"year": now.year, "quarter": (now.month - 1) // 3 + 1}
    html = world.api.get(f"{url}.html", params=query, headers=world.h("acme"))
    assert html.status_code == 200, html.text
    assert "季度维护工作报告" in html.text
    assert (
        world.api.get(f"{url}.html", params=query, headers=world.h("stranger")).status_code == 404
    )
    bad = world.api.get(f"{url}.html", params={**query, "quarter": 5}, headers=world.h("acme"))
    assert bad.status_code == 422
    assert "quarter 5" in bad.json()["detail"]
    pdf = world.api.get(f"{url}.pdf", params=query, headers=world.h("boss"))
    assert pdf.content.startswith(b"%PDF")


def _answer_all(world: World, iid: int, rows: list[dict[str, Any]]) -> None:
    body = {
        "rows": [
            {"item_id": r["item_id"], "device_id": r["device_id"], "result": "not_applicable"}
            for r in rows
        ]
    }
    response = world.api.patch(f"{BASE}/{iid}/rows", json=body, headers=world.h("tech"))
    assert response.status_code == 200, response.text


def test_dispositions_and_bad_ones_store_nothing(world: World) -> None:
    from server.models import Ticket

    inspection = _generate(world, world.site_id)
    url = f"{BASE}/{inspection['id']}/rows"
    tickets_before = world.count(Ticket)
    for bad, reason in [
        ({"item_id": "cabling.earthing", "result": "fail", "note": "x", "disposition": "prayed"},
         "disposition 'prayed' is not one of cleared, ticket"),
        ({"item_id": "cabling.earthing", "result": "pass", "disposition": "ticket"},
         "only a failed row is cleared or ticketed"),
    ]:  # fmt: skip
        response = world.api.patch(url, json={"rows": [bad]}, headers=world.h("tech"))
        assert response.status_code == 422, response.text
        assert reason in response.json()["detail"]
    assert world.count(Ticket) == tickets_before
    body = {
        "rows": [
            {"item_id": "cabling.earthing", "result": "fail", "note": "strap loose, tightened",
             "disposition": "cleared"},
            {"item_id": "cabling.conduits", "result": "fail", "note": "conduit cracked",
             "disposition": "ticket"},
        ]
    }  # fmt: skip
    rows = world.api.patch(url, json=body, headers=world.h("tech")).json()["rows"]
    earthing = next(r for r in rows if r["item_id"] == "cabling.earthing")
    conduits = next(r for r in rows if r["item_id"] == "cabling.conduits")
    assert earthing["disposition"] == "cleared"
    assert conduits["disposition"] == "ticket"
    assert conduits["ticket_ids"]["opened"] is not None
    assert world.count(Ticket) == tickets_before + 1
    # Saving the same answer again reuses the open ticket.
    world.api.patch(url, json=body, headers=world.h("tech"))
    assert world.count(Ticket) == tickets_before + 1


def test_client_signs_through_the_one_time_link(world: World) -> None:
    from server.inspections.models import InspectionSignLink

    inspection = _generate(world, world.site_id)
    iid = inspection["id"]
    early = world.api.post(f"{BASE}/{iid}/sign-link", headers=world.h("tech"))
    assert early.status_code == 409
    assert "technician signs before" in early.json()["detail"]
    assert world.api.post(f"{BASE}/{iid}/sign-link", headers=world.h("acme")).status_code == 403
    assert world.count(InspectionSignLink) == 0
    _answer_all(world, iid, inspection["rows"])
    world.api.post(f"{BASE}/{iid}/complete", headers=world.h("tech"))
    world.api.post(f"{BASE}/{iid}/sign", json={"name": "李工", "role": "技术员"},
                   headers=world.h("tech"))  # fmt: skip
    made = world.api.post(f"{BASE}/{iid}/sign-link", headers=world.h("tech")).json()
    token = made["token"]
    assert made["path"] == f"/console/sign/{token}"
    link = f"/api/v1/inspection-links/{token}"
    assert world.api.get("/api/v1/inspection-links/sis_nope").status_code == 404
    assert world.api.get(link).json()["state"] == "tech_signed"  # no login needed
    for bad in ({"name": "", "role": "物业经理"}, {"name": "王经理"}, {"name": "王", "x": 1}):
        assert world.api.post(link, json=bad).status_code == 422
    assert world.api.get(link).json()["state"] == "tech_signed"
    done = world.api.post(link, json={"name": "王经理", "role": "物业经理"}).json()
    assert done["state"] == "signed"
    assert done["client_name"] == "王经理"
    assert world.api.get(f"{BASE}/{iid}/verify", headers=world.h("acme")).json()["intact"]
    spent = world.api.post(link, json={"name": "王经理", "role": "物业经理"})
    assert spent.status_code == 409
    assert "already used" in spent.json()["detail"]


def test_incident_report_is_for_emergency_tickets_in_scope(world: World) -> None:
    inspection = _generate(world, world.site_id)
    body = {
        "rows": [
            {"item_id": "cabling.conduits", "result": "fail", "note": "cracked",
             "disposition": "ticket"}
        ]
    }  # fmt: skip
    rows = world.api.patch(
        f"{BASE}/{inspection['id']}/rows", json=body, headers=world.h("tech")
    ).json()["rows"]
    ticket_id = next(r for r in rows if r["item_id"] == "cabling.conduits")["ticket_ids"]["opened"]
    url = f"/api/v1/reports/tickets/{ticket_id}/incident.html"
    general = world.api.get(url, headers=world.h("acme"))
    assert general.status_code == 422
    assert "for emergency tickets" in general.json()["detail"]
    assert world.api.get(url, headers=world.h("stranger")).status_code == 404
    missing = world.api.get("/api/v1/reports/tickets/999999/incident.pdf", headers=world.h("boss"))
    assert missing.status_code == 404
