"""An open preventive ticket is proposed on its site's inspection: in the API answer when the
inspection is generated and when it is read, and in the record (HTML); never on another site's
inspection, and no longer once the ticket is done."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from peers.server import TEST_SECRET_KEY, add_user, provision
from server.app import create_app
from server.db import make_engine, session_factory, write_session
from server.models import SampleRow, Ticket
from server.predict.job import forecast_site
from server.predict.store import rollup_all_checks
from server.settings import Settings
from tests.server.predict.series import sample
from wire.enums import Role

PASSWORD = "correct horse battery staple"
TEMP = "host.disk.sda.celsius"
BASE = "/api/v1/inspections"


@dataclass
class World:
    api: TestClient
    database_url: str
    headers: dict[str, str]
    site_id: int
    other_site_id: int


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    from server import migrate

    migrate.upgrade(database_url=database_url)
    mine = provision(database_url, client="acme-p", devices=["nvr-1", "cam-1"])
    other = provision(database_url, client="other-p", site="plant", devices=["nvr-9"])
    add_user(database_url, username="boss", password=PASSWORD, role=Role.MANAGER)
    now = datetime.now(UTC)
    rows = [
        sample(
            mine.device_pks["nvr-1"], now - timedelta(days=39 - i, minutes=5), {TEMP: 40 + 0.6 * i}
        )
        for i in range(40)
    ]
    engine = make_engine(database_url)
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
    settings = Settings(
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        fault_sweep_seconds=3600,
        notify_worker=False,
        inspection_seconds=3600,
    )
    with TestClient(create_app(settings)) as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": "boss", "password": PASSWORD}
        ).json()["access_token"]
        yield World(
            api, database_url, {"Authorization": f"Bearer {token}"}, mine.site_id, other.site_id
        )


def test_open_preventive_tickets_are_proposed_on_the_sites_inspection(world: World) -> None:
    generated = world.api.post(BASE, json={"site_id": world.site_id}, headers=world.headers)
    assert generated.status_code == 200, generated.text
    inspection = generated.json()
    [proposed] = inspection["proposed"]
    assert proposed["device_name"] == "nvr-1"
    assert proposed["signal"] == "temperature"
    assert proposed["check"] == TEMP
    assert proposed["projected"] is not None
    assert proposed["resolve_by"] is not None
    assert "65" in proposed["en"]
    assert proposed["zh"]

    read = world.api.get(f"{BASE}/{inspection['id']}", headers=world.headers).json()
    assert read["proposed"] == inspection["proposed"]
    html = world.api.get(
        f"/api/v1/reports/inspections/{inspection['id']}.html", headers=world.headers
    )
    assert html.status_code == 200
    assert "Proposed preventive work" in html.text
    assert f"#{proposed['ticket_id']}" in html.text
    assert proposed["projected"] in html.text

    other = world.api.post(BASE, json={"site_id": world.other_site_id}, headers=world.headers)
    assert other.json()["proposed"] == []
    other_html = world.api.get(
        f"/api/v1/reports/inspections/{other.json()['id']}.html", headers=world.headers
    )
    assert "Proposed preventive work" not in other_html.text

    # Done (resolved by the technician): no longer proposed.
    engine = make_engine(world.database_url)
    try:
        with Session(engine) as session:
            ticket = session.scalars(select(Ticket).where(Ticket.id == proposed["ticket_id"])).one()
            ticket.state = "resolved"
            session.commit()
    finally:
        engine.dispose()
    again = world.api.get(f"{BASE}/{inspection['id']}", headers=world.headers).json()
    assert again["proposed"] == []
