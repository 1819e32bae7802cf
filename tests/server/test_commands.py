"""Admin commands through the real `secmon` CLI entry point (typer), on both databases."""

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from server.db import make_engine
from server.models import AgentToken, ServicePolicy, Site, User

runner = CliRunner()
UTC = ("--timezone", "UTC")


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return database_url


def secmon(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_client_site_token_user_lifecycle(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert secmon("admin", "create-client", "acme")[0] == 0
    code, out = secmon(
        "admin", "create-site", "--client", "acme", "--name", "hq", "--zone", "ring_2",
        "--timezone", "Asia/Shanghai",
    )  # fmt: skip
    assert code == 0, out
    code, out = secmon("admin", "create-agent-token", "--site", "hq")
    assert code == 0, out
    token = next(line for line in out.splitlines() if line.startswith("smt_"))
    prefix = token.split("_")[1]
    monkeypatch.setenv("VIEWER_PW", "s3cret-pass")
    code, out = secmon(
        "admin", "create-user", "--username", "viewer", "--role", "client", "--client", "acme",
        "--password-env", "VIEWER_PW",
    )  # fmt: skip
    assert code == 0, out
    assert secmon("admin", "revoke-agent-token", prefix)[0] == 0

    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            site = conn.execute(select(Site)).one()
            stored = conn.execute(select(AgentToken)).one()
            user = conn.execute(select(User)).one()
    finally:
        engine.dispose()
    assert (site.zone, site.timezone) == ("ring_2", "Asia/Shanghai")
    assert stored.prefix == prefix
    assert stored.revoked_at is not None
    assert token.split("_", 2)[2] not in stored.secret_sha256  # only the hash is kept
    assert user.role == "client"
    assert user.password_hash.startswith("$argon2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("admin", "create-client", "acme"), "already exists"),
        (
            ("admin", "create-site", "--client", "nope", "--name", "x", "--timezone", "UTC"),
            "no client named 'nope'",
        ),
        (
            ("admin", "create-site", "--client", "acme", "--name", "hq", "--timezone", "UTC"),
            "already exists",
        ),
        (
            ("admin", "create-site", "--client", "acme", "--name", "y", "--timezone", "Mars/Base"),
            "unknown time zone",
        ),
        (("admin", "create-agent-token", "--site", "nowhere"), "no site named 'nowhere'"),
        (("admin", "revoke-agent-token", "abcdef"), "no agent token"),
        (
            ("admin", "create-user", "--username", "u", "--role", "client", "--password-env", "PW"),
            "needs a client",
        ),
        (
            (
                "admin",
                "create-user",
                "--username",
                "u",
                "--role",
                "admin",
                "--password-env",
                "NOPE",
            ),
            "NOPE is empty or unset",
        ),
        # Control characters in names (NUL answered 500 on PostgreSQL through other entries).
        (
            (
                "admin",
                "create-user",
                "--username",
                "bo\x1bss",
                "--role",
                "admin",
                "--password-env",
                "PW",
            ),
            "username control character U+001B",
        ),
        (("admin", "create-client", "ac\x07me"), "client name control character U+0007"),
        (
            ("admin", "create-site", "--client", "acme", "--name", "h\x01q", *UTC),
            "site name control character U+0001",
        ),
    ],
)
def test_refusals_exit_1_with_a_clear_reason(
    db: str, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.setenv("PW", "pw")
    monkeypatch.delenv("NOPE", raising=False)
    assert secmon("admin", "create-client", "acme")[0] == 0
    assert secmon("admin", "create-site", "--client", "acme", "--name", "hq", *UTC)[0] == 0
    code, out = secmon(*args)
    assert code == 1
    assert message in out


def _sites(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(Site.name)))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("preset", "zone", "message"),
    [
        ("ring_road", "ring-2", "zones: nearby, ring_1, ring_2, ring_3"),
        ("ring_road", "urban", "zones: nearby, ring_1, ring_2, ring_3"),
        ("distance_bands", "default", "zones: dist_1000km, dist_300km, dist_over_1000km"),
        (None, "ring-2", "lowercase letters, digits and '_'"),
    ],
)
def test_create_site_refuses_a_zone_the_clients_sla_policy_has_no_deadlines_for(
    db: str, preset: str | None, zone: str, message: str
) -> None:
    preset_args = ("--sla-preset", preset) if preset else ()
    assert secmon("admin", "create-client", "acme", *preset_args)[0] == 0
    code, out = secmon(
        "admin", "create-site", "--client", "acme", "--name", "hq", "--zone", zone, *UTC
    )
    assert code == 1
    assert f"zone {zone!r}" in out
    assert message in out
    assert _sites(db) == []


def test_create_site_takes_a_zone_of_the_clients_preset(db: str) -> None:
    assert secmon("admin", "create-client", "acme", "--sla-preset", "ring_road")[0] == 0
    code, out = secmon(
        "admin", "create-site", "--client", "acme", "--name", "hq", "--zone", "ring_2", *UTC
    )
    assert code == 0, out
    assert _sites(db) == ["hq"]


def test_create_client_refuses_an_unknown_sla_preset(db: str) -> None:
    code, out = secmon("admin", "create-client", "acme", "--sla-preset", "ringroad")
    assert code == 1
    assert "unknown SLA preset 'ringroad'" in out
    assert secmon("admin", "create-site", "--client", "acme", "--name", "hq", *UTC)[1].startswith(
        "secmon: no client named 'acme'"
    )


def test_db_prune_reports_what_it_deleted(db: str) -> None:
    code, out = secmon("db", "prune")
    assert code == 0
    assert "deleted 0 samples older than 30 days" in out


def test_create_site_asks_for_the_time_zone_instead_of_assuming_utc(db: str) -> None:
    assert secmon("admin", "create-client", "acme")[0] == 0
    code, out = secmon("admin", "create-site", "--client", "acme", "--name", "hq")
    assert code == 2
    assert "--timezone" in out
    assert _sites(db) == []


def _sla(database_url: str) -> dict[str, object] | None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(ServicePolicy.sla))
    finally:
        engine.dispose()


def test_set_policy_chooses_the_clients_preset_without_the_api(db: str) -> None:
    assert secmon("admin", "create-client", "acme")[0] == 0
    code, out = secmon("admin", "set-policy", "--client", "acme", "--preset", "ring_road")
    assert code == 0, out
    assert "general 24x7" in out
    assert _sla(db) == {"preset": "ring_road"}
    code, out = secmon(
        "admin", "set-policy", "--client", "acme", "--preset", "ring_road",
        "--general-hours", "business",
    )  # fmt: skip
    assert code == 0, out
    assert "general business" in out
    assert _sla(db) == {"preset": "ring_road", "general_calendar": "business"}
    code, out = secmon("admin", "set-policy", "--client", "acme", "--preset", "ring_road")
    assert "general 24x7" in out
    assert _sla(db) == {"preset": "ring_road"}  # left out: the preset's own rule again
    code, out = secmon(
        "admin", "create-site", "--client", "acme", "--name", "hq", "--zone", "ring_2", *UTC
    )
    assert code == 0, out


def test_set_policy_refuses_a_preset_without_the_zones_of_the_clients_sites(db: str) -> None:
    assert secmon("admin", "create-client", "acme", "--sla-preset", "ring_road")[0] == 0
    assert (
        secmon(
            "admin", "create-site", "--client", "acme", "--name", "hq", "--zone", "ring_2", *UTC
        )[0]
        == 0
    )
    code, out = secmon("admin", "set-policy", "--client", "acme", "--preset", "city_county")
    assert code == 1
    assert "hq (ring_2)" in out
    assert _sla(db) == {"preset": "ring_road"}
    code, out = secmon("admin", "set-policy", "--client", "acme", "--preset", "ringroad")
    assert code == 1
    assert "unknown SLA preset 'ringroad'" in out
    code, out = secmon("admin", "set-policy", "--client", "nope", "--preset", "ring_road")
    assert code == 1
    assert "no client named 'nope'" in out


def test_holidays_flags_missing_years_and_load_holidays_fills_one(db: str, tmp_path: Path) -> None:
    code, out = secmon("admin", "holidays")
    assert code == 0, out
    assert "cn (sites in Asia/Chongqing" in out
    assert "2025, 2026" in out
    assert "MISSING 2027, 2028" in out
    notice = tmp_path / "cn-2027.txt"
    notice.write_text("2027-01-01 holiday New Year's Day\n2027-02-06..2027-02-13 holiday test\n")
    code, out = secmon("admin", "load-holidays", str(notice), "--country", "cn")
    assert code == 0, out
    assert "cn 2027: 9 holidays and 0 make-up working days loaded" in out
    code, out = secmon("admin", "holidays")
    assert "2025, 2026, 2027" in out
    assert "MISSING 2028" in out
    bad = tmp_path / "bad.txt"
    bad.write_text("2027-01-01 holiday\n2028-01-01 holiday\n")
    code, out = secmon("admin", "load-holidays", str(bad))
    assert code == 1
    assert "must all fall in one year (found: 2027, 2028)" in out
