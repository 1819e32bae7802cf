"""Logins: one limiter for console and API that answers 429 before any hashing and holds back
the guessing address, not the account's owner; a bound on concurrent Argon2 work; logout, a
new password or a new role revoke tokens and console sessions at once."""

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from peers.server import TEST_SECRET_KEY, add_user
from server import migrate, users
from server.app import create_app
from server.credentials import HashingGate, LoginLimiter
from server.db import make_engine, write_session
from server.errors import UnauthorizedError, UnavailableError
from server.models import User
from server.settings import Settings
from server.users import change_password, change_role, issue_access_token, principal_of
from server.users import user_from_access_token as from_token
from wire.enums import Role

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_a_guessing_address_waits_while_the_owner_elsewhere_logs_in() -> None:
    limiter = LoginLimiter(per_account_address=5, per_address=20, window=timedelta(minutes=5))
    for i in range(5):
        assert (
            limiter.retry_after(username="boss", address="10.0.0.1", now=NOW + i * M / 10) is None
        )
        limiter.failed(username="boss", address="10.0.0.1", now=NOW + i * M / 10)
    wait = limiter.retry_after(username="BOSS", address="10.0.0.1", now=NOW + M)
    assert wait is not None
    assert timedelta(0) < wait <= timedelta(minutes=5)
    # The owner, from their own address, is not locked out.
    assert limiter.retry_after(username="boss", address="10.0.0.2", now=NOW + M) is None
    # After the window the address may try again.
    assert limiter.retry_after(username="boss", address="10.0.0.1", now=NOW + 6 * M) is None


def test_one_address_spraying_many_accounts_is_held_back() -> None:
    limiter = LoginLimiter(per_account_address=5, per_address=20, window=timedelta(minutes=5))
    for i in range(20):
        limiter.failed(username=f"user{i}", address="10.0.0.1", now=NOW)
    assert limiter.retry_after(username="user99", address="10.0.0.1", now=NOW + M) is not None
    assert limiter.retry_after(username="user99", address="10.0.0.2", now=NOW + M) is None


def test_hashing_beyond_the_bound_is_refused_not_queued() -> None:
    gate = HashingGate(max_hashing=2, wait_s=0.05)
    inside = threading.Barrier(3)
    leave = threading.Event()

    def hold() -> None:
        with gate.slot():
            inside.wait()
            leave.wait(timeout=10)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for t in holders:
        t.start()
    inside.wait(timeout=10)
    try:
        with pytest.raises(UnavailableError), gate.slot():
            pass
    finally:
        leave.set()
        for t in holders:
            t.join()
    with gate.slot():  # free again
        pass


@dataclass
class Live:
    app: FastAPI
    database_url: str


@pytest.fixture(scope="module")
def live(module_database_url: str) -> Iterator[Live]:
    migrate.upgrade(database_url=module_database_url)
    for name, role in (("boss", Role.MANAGER), ("desk", Role.DESK), ("tech", Role.TECHNICIAN)):
        add_user(module_database_url, username=name, password=PASSWORD, role=role)
    app = create_app(
        Settings(
            database_url=module_database_url,
            secret_key=SecretStr(TEST_SECRET_KEY),
            fault_sweep_seconds=3600,
            notify_worker=False,
        )
    )
    with TestClient(app):
        yield Live(app, module_database_url)


def _client(live: Live, address: str) -> TestClient:
    return TestClient(live.app, client=(address, 40000), follow_redirects=False)


def _token(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _console_login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    form = client.get("/console/login")
    token = CSRF.search(form.text)
    assert token is not None
    data = {"username": username, "password": password, "csrf": token[1]}
    return client.post("/console/login", data=data)


def test_failed_logins_are_answered_429_before_hashing_on_api_and_console(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            hashed.append(str(password))
            return super().verify(hash, password)

    monkeypatch.setattr(users, "_hasher", Counting())
    attacker = _client(live, "192.0.2.66")
    for _ in range(5):
        assert _token(attacker, "desk", "guess").status_code == 401
    assert len(hashed) == 5
    refused = _token(attacker, "desk", "guess")
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    # The console shares the limiter: the same address waits there too, and nothing is hashed.
    assert _console_login(attacker, "desk", "guess").status_code == 429
    assert len(hashed) == 5
    # The account's owner, from their own address, logs in on both.
    owner = _client(live, "198.51.100.7")
    assert _token(owner, "desk").status_code == 200
    assert _console_login(owner, "desk").status_code == 303


def test_logout_revokes_the_api_token_and_the_console_session_at_once(live: Live) -> None:
    api = _client(live, "198.51.100.8")
    token = _token(api, "boss").json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    browser = _client(live, "198.51.100.8")
    assert _console_login(browser, "boss").status_code == 303
    assert browser.get("/console").status_code == 200
    assert api.get("/api/v1/sites", headers=bearer).status_code == 200

    assert api.post("/api/v1/auth/logout", headers=bearer).status_code == 204
    assert api.get("/api/v1/sites", headers=bearer).status_code == 401
    # The cookie replayed after logout no longer opens the console.
    assert browser.get("/console").status_code == 303


def test_console_logout_revokes_a_copied_cookie(live: Live) -> None:
    browser = _client(live, "198.51.100.9")
    assert _console_login(browser, "tech").status_code == 303
    page = browser.get("/console")
    cookie = browser.cookies.get("secmon_session")
    token = CSRF.search(page.text)
    assert cookie is not None
    assert token is not None
    assert browser.post("/console/logout", data={"csrf": token[1]}).status_code == 303
    replay = _client(live, "203.0.113.5")
    replay.cookies.set("secmon_session", cookie)
    assert replay.get("/console").status_code == 303


def test_a_new_password_or_role_revokes_issued_tokens(live: Live) -> None:
    engine = make_engine(live.database_url)
    try:
        for change in ("password", "role"):
            name = f"changed-{change}"
            add_user(live.database_url, username=name, password=PASSWORD, role=Role.DESK)
            with write_session(engine) as session:
                user = session.query(User).filter_by(username=name).one()
                now = datetime.now(UTC)
                token = issue_access_token(
                    principal=principal_of(user), secret_key=TEST_SECRET_KEY, ttl=M, now=now
                )
                assert from_token(session=session, token=token, secret_key=TEST_SECRET_KEY)
                if change == "password":
                    change_password(session=session, user=user, password="a new long password")
                else:
                    change_role(session=session, user=user, role=Role.MANAGER, client_id=None)
                with pytest.raises(UnauthorizedError):
                    from_token(session=session, token=token, secret_key=TEST_SECRET_KEY)
    finally:
        engine.dispose()
