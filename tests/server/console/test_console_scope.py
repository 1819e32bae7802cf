"""Role and team scoping of the console over a real server: a technician sees the sites of the
teams the notify config puts them in, and nothing else, whatever id they type."""

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from peers.server import ServerProcess, Tenant, add_user, provision
from wire.enums import Role

PASSWORD = "correct horse battery staple"


def _login(base: str, username: str) -> httpx.Client:
    browser = httpx.Client(base_url=base)
    form = browser.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = browser.post(
        "/console/login", data={"username": username, "password": PASSWORD, "csrf": token[1]}
    )
    assert done.status_code == 303, done.text
    return browser


@pytest.fixture(scope="module")
def world(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Tenant, Tenant]]:
    workdir = tmp_path_factory.mktemp("scope")
    url = module_database_url
    config = Path(workdir / "notify.yaml")
    server = ServerProcess(  # migrates the database; the notify config is read at start
        url,
        workdir=workdir / "server",
        env={"SECMON_NOTIFY_CONFIG": str(config), "SECMON_NOTIFY_WORKER": "false"},
    )
    mine = provision(url, client="North Mall", site="north-hq", devices=["cam-n"])
    other = provision(url, client="South Bank", site="south-vault", devices=["cam-s"])
    notify = {
        "contacts": {"tina": {"channels": {"hook": "json://127.0.0.1:9/never-used"}}},
        "teams": {"north": {"members": ["tina"], "sites": [mine.site_id]}},
    }
    config.write_text(yaml.safe_dump(notify))
    add_user(url, username="tina", password=PASSWORD, role=Role.TECHNICIAN)
    server.start()
    try:
        yield server, mine, other
    finally:
        server.stop()


def test_technician_sees_only_the_sites_of_their_team(
    world: tuple[ServerProcess, Tenant, Tenant],
) -> None:
    server, mine, other = world
    tina = _login(server.base_url, "tina")
    try:
        sites = tina.get("/console/sites")
        assert sites.status_code == 200
        assert "north-hq" in sites.text
        assert "south-vault" not in sites.text
        assert tina.get(f"/console/sites/{mine.site_id}").status_code == 200
        assert tina.get(f"/console/sites/{other.site_id}").status_code == 404
        assert tina.get(f"/console/devices/{other.device_pks['cam-s']}").status_code == 404
        assert tina.get(f"/console/devices/{mine.device_pks['cam-n']}").status_code == 200
        assert tina.get("/console/kpis").status_code == 403
    finally:
        tina.close()


def test_technician_inspection_pages_and_reports_stay_in_scope(
    world: tuple[ServerProcess, Tenant, Tenant],
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from server.db import make_engine
    from server.inspections.store import generate
    from server.inspections.template import shipped_template
    from server.models import Site

    server, mine, other = world
    engine = make_engine(server.database_url)
    try:
        with Session(engine) as session:
            ids = {}
            for tenant in (mine, other):
                site = session.get(Site, tenant.site_id)
                assert site is not None
                found = generate(
                    session=session, site=site, template=shipped_template(), now=datetime.now(UTC)
                )
                assert found is not None
                ids[tenant.site_id] = found.id
            session.commit()
    finally:
        engine.dispose()
    tina = _login(server.base_url, "tina")
    try:
        listed = tina.get("/console/inspections")
        assert "north-hq" in listed.text
        assert "south-vault" not in listed.text
        assert tina.get(f"/console/inspections?site={other.site_id}").status_code == 404
        theirs = ids[other.site_id]
        for path in (f"/console/inspections/{theirs}", f"/console/inspections/{theirs}/record.pdf"):
            assert tina.get(path).status_code == 404, path
        assert tina.get(f"/console/inspections/{ids[mine.site_id]}").status_code == 200
        quarterly = "/console/clients/{}/quarterly.html?year=2026&quarter=4"
        assert tina.get(quarterly.format(other.client_id)).status_code == 404
        assert "季度维护工作报告" in tina.get(quarterly.format(mine.client_id)).text
        page = tina.get(f"/console/inspections?site={mine.site_id}").text
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        start = tina.post(
            "/console/inspections/generate", data={"site_id": mine.site_id, "csrf": token[1]}
        )
        assert start.status_code == 403  # a technician answers inspections, a manager starts them
        assert tina.get("/console/sign/sis_never-issued").status_code == 404
    finally:
        tina.close()
