"""The README tells the truth: features not built yet say "planned", and the "Running it for
real" commands (and docker-compose.yml's set-up comments) run as written against a temporary
SQLite file.

Every line of every command block there is either run (and must succeed) or skipped for a reason
listed in `SKIPPED`; a line the test does not know fails it, so the README cannot grow a command
nobody ran. Skipped, and why:

- `pip install …`: installs from the package index; tests/test_packaging.py installs the wheel.
- `export DATABASE_URL=…`: names a production PostgreSQL; the test points DATABASE_URL at a
  temporary SQLite file instead (the README's stated default database kind).
- `secmon server run …`: serves until stopped; tests/test_packaging.py runs it from the wheel.
- `cp configs/agent.example.yaml /etc/…`: writes into /etc; the test checks the source exists.
- `secmon agent discover|check|relearn|run …`: talk to a real site's cameras and devices (the
  example config's addresses are not on this machine); the agent's own tests run them against peers.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import make_engine
from server.models import Site
from server.tenancy import client_sla_policy

ROOT = Path(__file__).resolve().parents[1]
SECMON = Path(sys.executable).with_name("secmon")
SECTION = "## Running it for real"
# Line prefixes (after comments are stripped) that are not run here; see the module docstring.
SKIPPED = (
    "pip install ",
    "export DATABASE_URL=",
    "secmon server run",
    "cp configs/agent.example.yaml ",
    "secmon agent discover",
    "secmon agent check",
    "secmon agent relearn",
    "secmon agent run",
)
RUN = ("secmon db ", "secmon admin ")
# Features the README may name only as "planned" until the package that delivers each exists.
PLANNED = {
    "predictive maintenance": "server/predict",
    "inspection": "server/inspections",
    "forecast": "server/predict",
}
PASSWORD = "readme-test-password"


@pytest.mark.parametrize(("feature", "package"), sorted(PLANNED.items()))
def test_readme_calls_features_not_built_yet_planned(feature: str, package: str) -> None:
    if (ROOT / package).is_dir():
        pytest.skip(f"{package} exists: the README may describe {feature} as built")
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split()).lower()
    for found in re.finditer(re.escape(feature), text):
        after = text[found.start() : found.start() + 60]
        assert "(planned)" in after, f"README names {feature!r} without '(planned)': {after!r}"


def readme_commands() -> list[list[str]]:
    """Each command line of the section's ```sh blocks, split as a shell would (no comments)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, f"no ```sh block under {SECTION!r}"
    lines = [line for block in blocks for line in block.splitlines()]
    return [words for line in lines if (words := shlex.split(line, comments=True))]


def compose_commands() -> list[list[str]]:
    """The `docker compose run --rm migrate secmon …` lines in docker-compose.yml's comments."""
    prefix = "docker compose run --rm migrate "
    lines = (ROOT / "docker-compose.yml").read_text(encoding="utf-8").splitlines()
    found = [line.lstrip("# ").removeprefix(prefix) for line in lines if prefix in line]
    return [shlex.split(line) for line in found]


def run_admin_lines(commands: list[list[str]], workdir: Path) -> list[str]:
    """Run each non-skipped line as written on a fresh SQLite file; every one must succeed."""
    database_url = f"sqlite:///{workdir / 'secmon.db'}"
    env = {**os.environ, "DATABASE_URL": database_url}
    ran: list[str] = []
    for words in commands:
        line = shlex.join(words)
        if line.startswith(SKIPPED):
            if words[0] == "cp":
                assert (ROOT / words[1]).is_file(), line
            continue
        assert line.startswith(RUN), f"the test does not know how to run: {line}"
        # No controlling terminal: create-user's password prompt reads standard input.
        done = subprocess.run(
            [str(SECMON), *words[1:]],
            input=f"{PASSWORD}\n{PASSWORD}\n",
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            start_new_session=True,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        if words[1:3] == ["admin", "status-link"]:
            assert re.fullmatch(r"/status/\S+", done.stdout.strip()), done.stdout
        ran.append(line)
    assert ran[0] == "secmon db upgrade", ran
    assert any(line.startswith("secmon admin create-site") for line in ran), ran

    # Every site made gets SLA deadlines: its zone is one of its client's policy.
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            sites = session.scalars(select(Site)).all()
            assert sites
            for site in sites:
                client_sla_policy(session=session, client_id=site.client_id).check_zone(site.zone)
    finally:
        engine.dispose()
    return ran


def test_readme_running_it_for_real_commands_succeed(tmp_path: Path) -> None:
    ran = run_admin_lines(readme_commands(), tmp_path)
    assert any(line.startswith("secmon admin create-user") for line in ran)


def test_docker_compose_setup_commands_succeed(tmp_path: Path) -> None:
    ran = run_admin_lines(compose_commands(), tmp_path)
    assert any(line.startswith("secmon admin create-agent-token") for line in ran)


@pytest.mark.parametrize("prefix", SKIPPED)
def test_every_skip_rule_matches_a_readme_line(prefix: str) -> None:
    assert any(shlex.join(words).startswith(prefix) for words in readme_commands())
