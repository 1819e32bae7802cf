"""Every entry answers bad input with 4xx and a JSON reason and stores nothing; a ticket dated
centuries back costs its SLA read about what a fresh one costs. In process (TestClient) over
both databases; each case was a 500 (or a 16 s request) before the shared input rules."""

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from peers.server import TEST_SECRET_KEY, Tenant, add_user, provision
from server import migrate
from server.app import create_app
from server.db import make_engine
from server.models import Ticket
from server.settings import Settings
from server.sla import calendar as sla_calendar
from wire.enums import Role

PASSWORD = "correct horse battery staple"
HUGE = 2**70


@dataclass
class Api:
    client: TestClient
    tenant: Tenant
    database_url: str
    headers: dict[str, str]
    ticket_id: int = 0  # an open ticket on cam-2

    def ticket_count(self) -> int:
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return int(conn.scalar(select(func.count()).select_from(Ticket)) or 0)
        finally:
            engine.dispose()

    def call(self, **fields: Any) -> httpx.Response:
        body = {"symptom": "camera dark", "reporter": "guard", **fields}
        body.setdefault("device_id", self.tenant.device_pks["cam-1"])
        response: httpx.Response = self.client.post(
            "/api/v1/tickets", json=body, headers=self.headers
        )
        return response


def _app(database_url: str, **settings: Any) -> Generator[Api]:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, client="acme", devices=["cam-1", "cam-2", "cam-3"])
    add_user(database_url, username="boss", password=PASSWORD, role=Role.MANAGER)
    app = create_app(
        Settings(
            database_url=database_url,
            secret_key=SecretStr(TEST_SECRET_KEY),
            fault_sweep_seconds=3600,
            notify_worker=False,
            **settings,
        )
    )
    with TestClient(app) as client:
        login = client.post("/api/v1/auth/token", data={"username": "boss", "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        api = Api(client, tenant, database_url, headers)
        opened = api.call(device_id=tenant.device_pks["cam-2"])
        assert opened.status_code == 201, opened.text
        api.ticket_id = int(opened.json()["id"])
        yield api


@pytest.fixture(scope="module")
def api(module_database_url: str) -> Iterator[Api]:
    yield from _app(module_database_url)


Case = Callable[[Api], httpx.Response]
BAD: dict[str, tuple[Case, int]] = {
    "nul_in_login_username": (
        lambda a: a.client.post(
            "/api/v1/auth/token", data={"username": "bo\x00ss", "password": "x"}
        ),
        422,
    ),
    "id_beyond_64_bits_in_path": (
        lambda a: a.client.get(f"/api/v1/tickets/{HUGE}", headers=a.headers),
        422,
    ),
    "id_beyond_64_bits_in_query": (
        lambda a: a.client.get(f"/api/v1/tickets?site_id={HUGE}", headers=a.headers),
        422,
    ),
    "id_beyond_64_bits_in_body": (lambda a: a.call(device_id=HUGE), 422),
    "nul_in_symptom": (lambda a: a.call(symptom="dark\x00"), 422),
    "control_character_in_reporter": (lambda a: a.call(reporter="guard\x1b[31m"), 422),
    "utc_overflow": (lambda a: a.call(occurred_at="0001-01-01T00:00:00+01:00"), 422),
    "epoch_number_as_timestamp": (lambda a: a.call(occurred_at=1_700_000_000), 422),
    "occurred_in_1526": (lambda a: a.call(occurred_at="1526-03-01T02:00:00+00:00"), 422),
    "occurred_next_year": (
        lambda a: a.call(occurred_at=(datetime.now(UTC) + timedelta(days=365)).isoformat()),
        422,
    ),
    "symptom_too_long": (lambda a: a.call(symptom="x" * 2001), 422),
    "unknown_assignee": (
        lambda a: a.client.post(
            f"/api/v1/tickets/{a.ticket_id}/transitions",
            json={"to": "acknowledged", "assignee_id": 987_654},
            headers=a.headers,
        ),
        422,
    ),
    "assignee_beyond_64_bits": (
        lambda a: a.client.post(
            f"/api/v1/tickets/{a.ticket_id}/transitions",
            json={"to": "acknowledged", "assignee_id": HUGE},
            headers=a.headers,
        ),
        422,
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_answers_4xx_json_and_stores_no_ticket_of_its_own(api: Api, case: str) -> None:
    send, status = BAD[case]
    before = api.ticket_count()
    response = send(api)
    assert response.status_code == status, response.text
    assert response.json()["error"] == "invalid"
    assert api.ticket_count() == before


def test_a_desk_call_from_1526_costs_its_sla_read_what_a_fresh_one_costs(
    database_url: str,
) -> None:
    # A window wide enough to let the old date in: the arithmetic itself must be bounded.
    wide = _app(database_url, timestamp_max_age_days=600 * 366)
    api = next(wide)
    try:

        def sla_steps(occurred_at: datetime, device: str) -> int:
            device_id = api.tenant.device_pks[device]
            response = api.call(occurred_at=occurred_at.isoformat(), device_id=device_id)
            assert response.status_code == 201, response.text
            sla_calendar._day_intervals.cache_clear()
            sla_calendar._working_time.cache_clear()
            read = api.client.get(
                f"/api/v1/tickets/{response.json()['id']}/sla", headers=api.headers
            )
            assert read.status_code == 200, read.text
            info = sla_calendar._day_intervals.cache_info()
            return info.hits + info.misses

        fresh = sla_steps(datetime.now(UTC) - timedelta(hours=1), "cam-1")
        ancient = sla_steps(datetime(1526, 3, 1, 2, 0, tzinfo=UTC), "cam-3")
        # Walking day by day, five centuries are about 180,000 local days per clock.
        assert ancient <= fresh + 400, (fresh, ancient)
    finally:
        wide.close()
