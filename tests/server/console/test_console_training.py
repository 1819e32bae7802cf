"""The console's Training page over a migrated database: only a manager or admin sees and fires
the simulator's cues, a fired cue is the file the simulator watches, an unknown cue or an expired
form writes nothing, and a server without SECMON_TRAINING_DIR has no such page. The page reads
no table of its own, so SQLite alone covers it; the demo's end-to-end test fires a cue through
it and sees the fault's ticket."""

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from peers.server import TEST_SECRET_KEY, add_user
from server import migrate
from server.app import create_app
from server.settings import Settings
from simulate.cues import CUES_DIR, announce
from simulate.scenario import load_scenario
from wire.enums import Role

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _browser(app: FastAPI, username: str) -> TestClient:
    browser = TestClient(app, follow_redirects=False)
    token = CSRF.search(browser.get("/console/login").text)
    assert token is not None
    done = browser.post(
        "/console/login", data={"username": username, "password": PASSWORD, "csrf": token[1]}
    )
    assert done.status_code == 303, done.text
    return browser


def _app(database_url: str, training_dir: Path | None) -> FastAPI:
    settings = Settings(
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        fault_sweep_seconds=3600,
        notify_worker=False,
        training_dir=training_dir,
    )
    return create_app(settings)


def _queued(folder: Path) -> list[str]:
    return [p.read_text() for p in sorted((folder / CUES_DIR).glob("*.cue"))]


def test_a_manager_fires_a_known_cue_and_nobody_else_fires_anything(
    sqlite_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(database_url=sqlite_url)
    for name, role in [("boss", Role.MANAGER), ("tech", Role.TECHNICIAN), ("desk", Role.DESK)]:
        add_user(sqlite_url, username=name, password=PASSWORD, role=role)
    sim = tmp_path / "sim"
    sim.mkdir()
    app = _app(sqlite_url, sim)

    boss = _browser(app, "boss")
    waiting = boss.get("/console/training")
    assert waiting.status_code == 200
    assert "no simulator has started" in waiting.text

    announce(sim, load_scenario("training").cues)
    page = boss.get("/console/training")
    assert page.status_code == 200
    assert 'data-cue="smoke"' in page.text
    assert "smoke in the server room" in page.text
    csrf = CSRF.findall(page.text)[-1]

    for name in ("tech", "desk"):
        other = _browser(app, name)
        assert other.get("/console/training").status_code == 403
        token = CSRF.search(other.get("/console").text)
        assert token is not None
        refused = other.post("/console/training", data={"csrf": token[1], "cue": "smoke"})
        assert refused.status_code == 403
    unknown = boss.post("/console/training", data={"csrf": csrf, "cue": "fire"})
    assert unknown.status_code == 404
    assert "unknown cue" in unknown.text
    expired = boss.post("/console/training", data={"csrf": "stale", "cue": "smoke"})
    assert expired.status_code == 400
    assert _queued(sim) == []

    fired = boss.post("/console/training", data={"csrf": csrf, "cue": "smoke"})
    assert fired.status_code == 303
    assert fired.headers["location"] == "/console/training?said=smoke"
    assert _queued(sim) == ["smoke\n"]
    assert "Cue <strong>smoke</strong> sent" in boss.get(fired.headers["location"]).text

    without = _browser(_app(sqlite_url, None), "boss")
    assert without.get("/console/training").status_code == 404


def test_the_training_dir_must_exist_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="training_dir"):
        Settings(training_dir=tmp_path / "missing")
