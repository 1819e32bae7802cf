"""The console's device page shows each forecast signal's chart and evidence, and a preventive
ticket's page links to it; a client login gets neither."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from peers.server import TEST_SECRET_KEY, add_user, provision
from server import migrate
from server.app import create_app
from server.db import make_engine, session_factory, write_session
from server.models import SampleRow, Ticket
from server.predict.job import forecast_site
from server.predict.store import rollup_all_checks
from server.settings import Settings
from tests.server.console.test_console_pages import PASSWORD, Console
from tests.server.predict.series import sample
from wire.enums import Role

TEMP = "host.disk.sda.celsius"
FILL = "host.fs.root.used_percent"


@dataclass
class World:
    app: FastAPI
    device_id: int
    ticket_id: int
    shot_dir: Path


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    migrate.upgrade(database_url=database_url)
    acme = provision(database_url, client="acme-c", devices=["nvr-1"])
    add_user(database_url, username="boss", password=PASSWORD, role=Role.MANAGER)
    globex = provision(database_url, client="globex-d", devices=["nvr-8"])
    add_user(
        database_url,
        username="stranger",
        password=PASSWORD,
        role=Role.CLIENT,
        client_id=globex.client_id,
    )
    now = datetime.now(UTC)
    device = acme.device_pks["nvr-1"]
    # The disk heats 0.6 °C a day towards 65 °C; the filesystem stays flat at 40 %.
    rows = [
        sample(device, now - timedelta(days=39 - i, minutes=5), {TEMP: 40 + 0.6 * i, FILL: 40.0})
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
        with Session(engine) as session:
            ticket_id = session.scalars(
                select(Ticket.id).where(Ticket.device_id == device, Ticket.kind == "preventive")
            ).one()
    finally:
        engine.dispose()
    notify = tmp_path / "notify.yaml"
    notify.write_text("contacts: {}\n")
    settings = Settings(
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        fault_sweep_seconds=3600,
        notify_config=notify,
        notify_worker=False,
    )
    app = create_app(settings)
    yield World(app, device, ticket_id, tmp_path)
    app.state.ctx.engine.dispose()


def _section(html: str, signal: str) -> str:
    found = re.search(
        rf'<section class="card forecast" id="signal-{signal}">(.*?)</section>', html, re.S
    )
    assert found is not None, html
    return found[1]


def test_device_page_shows_each_signal_chart_and_evidence(world: World) -> None:
    page = Console(world.app, "boss").get(f"/console/devices/{world.device_id}")
    assert page.status_code == 200, page.text
    heat = _section(page.text, "temperature")
    assert f'id="forecast-{TEMP}" data-verdict="trend_to_threshold"' in heat
    # The chart is inline SVG (not escaped text) with the series, fit, threshold and date.
    svg = re.search(r"<svg .*?</svg>", heat, re.S)
    assert svg is not None, heat
    for part in ('class="series"', 'class="fit"', 'class="threshold"', 'class="projected"'):
        assert part in svg[0], part
    assert "&lt;svg" not in page.text
    # Both sentences of the evidence.
    assert re.search(r'<p class="evidence">[^<]*65[^<]*</p>', heat), heat
    assert re.search(r'<p class="evidence muted" lang="zh-CN">[^<]+</p>', heat)
    # The flat filesystem is judged too, without an alarm, after the alarming signal.
    fill = _section(page.text, "storage_fill")
    assert 'class="late">alarm' not in fill
    assert f'id="forecast-{FILL}" data-verdict="stable"' in fill
    assert page.text.index('id="signal-temperature"') < page.text.index('id="signal-storage_fill"')


def test_preventive_ticket_page_links_to_its_signal_chart(world: World) -> None:
    boss = Console(world.app, "boss")
    page = boss.get(f"/console/tickets/{world.ticket_id}")
    assert page.status_code == 200, page.text
    link = re.search(r'<a id="forecast-link" href="([^"]+)">', page.text)
    assert link is not None, page.text
    assert link[1] == f"/console/devices/{world.device_id}#signal-temperature"
    assert re.search(r'<h1>.*<span class="muted">preventive</span></h1>', page.text)
    target = boss.get(link[1].split("#")[0])
    assert 'id="signal-temperature"' in target.text


def test_a_client_login_gets_no_console_device_page_or_chart(world: World) -> None:
    # Clients see their status page, never the service console (nor another tenant's device).
    page = Console(world.app, "stranger").get(f"/console/devices/{world.device_id}")
    assert page.status_code == 403
    assert "<svg" not in page.text
