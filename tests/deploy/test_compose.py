"""docker-compose.yml, checked without a Docker engine (none runs here): Debian's docker-compose
validates it against the Compose schema, every reference resolves, every `service_healthy`
dependency has a health check, every bind mount exists in the repository, and Prometheus and
the proxy point at the services the file defines."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKER_COMPOSE = shutil.which("docker-compose")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec["condition"] for name, spec in deps.items()}


def test_the_production_shape_is_there(compose: dict[str, Any]) -> None:
    assert set(services(compose)) >= {
        "db", "migrate", "server-1", "server-2", "proxy", "mosquitto", "agent", "prometheus",
        "grafana",
    }  # fmt: skip
    for name, service in services(compose).items():
        assert "image" in service or "build" in service, name


def test_dependencies_resolve_and_healthy_ones_have_health_checks(compose: dict[str, Any]) -> None:
    defined = services(compose)
    for name, service in defined.items():
        for dep, condition in depends(service).items():
            assert dep in defined, f"{name} depends on undefined {dep}"
            assert condition in CONDITIONS, f"{name}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in defined[dep], f"{name} waits for {dep}'s health check"
    # The replicas start only after the one-shot migration succeeded, on a healthy database.
    for replica in ("server-1", "server-2"):
        assert depends(defined[replica]) == {
            "db": "service_healthy",
            "migrate": "service_completed_successfully",
        }
    assert defined["migrate"]["command"] == ["secmon", "db", "upgrade"]


def test_volumes_and_secrets_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes") or {})
    secrets = set(compose.get("secrets") or {})
    used: set[str] = set()
    for name, service in services(compose).items():
        for secret in service.get("secrets", []):
            assert secret in secrets, f"{name}: undeclared secret {secret}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                # secrets/ is the operator's to create; everything else ships in the repository.
                if not source.startswith("./secrets/"):
                    assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in named, f"{name}: undeclared volume {source}"
                used.add(source)
    assert used == named, f"declared but unused: {sorted(named - used)}"


def test_variables_that_must_be_set_fail_loudly(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    # Not the agent token: it is made with `docker compose run … create-agent-token` first.
    assert "${SECMON_AGENT_TOKEN:-}" in text
    for variable in ("SECMON_DB_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert re.search(r"\$\{" + variable + r":\?", text), variable
    assert "SECMON_ENVIRONMENT" in str(services(compose)["server-1"]["environment"])


def test_prometheus_scrapes_the_replicas_and_the_agent(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text("utf-8"))
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets == {
        "secmon-server": ["server-1:8000", "server-2:8000"],
        "secmon-agent": ["agent:9108"],
    }
    agent = yaml.safe_load((ROOT / "deploy/agent/agent.yaml").read_text("utf-8"))
    assert agent["agent"]["metrics_listen"].endswith(":9108")
    assert agent["server"]["url"] == "http://proxy:8080"
    for target in targets["secmon-server"]:
        host = target.split(":")[0]
        assert host in services(compose)
        assert "--port" in services(compose)[host]["command"]
        assert services(compose)[host]["command"][-1] == target.split(":")[1]


def test_the_agent_config_shipped_for_compose_validates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECMON_AGENT_TOKEN", "compose-test-token-1")
    config = load_config(ROOT / "deploy/agent/agent.yaml", private_secrets=True)
    assert config.agent.outbox_path == Path("/var/lib/secmon/outbox.sqlite")


@pytest.mark.skipif(DOCKER_COMPOSE is None, reason="docker-compose missing (apt docker-compose)")
def test_docker_compose_validates_and_resolves_the_file(tmp_path: Path) -> None:
    assert DOCKER_COMPOSE is not None
    env = {**os.environ, "SECMON_DB_PASSWORD": "pw-db", "GRAFANA_ADMIN_PASSWORD": "pw-graf"}
    env.pop("SECMON_AGENT_TOKEN", None)

    def config(*extra: str, environ: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER_COMPOSE, "--project-directory", str(ROOT), "-f", str(COMPOSE), "config",
             *extra],
            env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    done = config()
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    one, two = resolved["server-1"]["environment"], resolved["server-2"]["environment"]
    assert one["DATABASE_URL"] == "postgresql+psycopg://secmon:pw-db@db:5432/secmon"
    assert (one["SECMON_INSTANCE"], two["SECMON_INSTANCE"]) == ("server-1", "server-2")
    assert two["SECMON_NOTIFY_WORKER"] == "false"
    assert resolved["server-1"]["healthcheck"] == resolved["server-2"]["healthcheck"]
    # A required variable left out stops the file from loading, naming it.
    missing = config("-q", environ={k: v for k, v in env.items() if k != "SECMON_DB_PASSWORD"})
    assert missing.returncode != 0
    assert "set SECMON_DB_PASSWORD in .env" in missing.stderr


def test_dockerfile_builds_in_one_stage_and_runs_unprivileged_from_another() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2
    assert stages[0].split()[2:3] == ["build"], "first stage: FROM … AS build"
    runtime = stages[1]
    assert "COPY --from=build /opt/secmon /opt/secmon" in runtime
    assert "pip install" not in runtime  # compilers and caches stay in the build stage
    users = re.findall(r"^USER (\S+)$", runtime, flags=re.MULTILINE)
    assert users == ["secmon"]
    # The agent's named volume starts as a copy of this directory, so it must be the user's.
    assert "install -d -o secmon -g secmon -m 0750 /var/lib/secmon" in runtime


def test_the_simulated_site_is_opt_in_and_its_agent_shares_its_loopback(
    compose: dict[str, Any],
) -> None:
    defined = services(compose)
    site, agent = defined["simulated-site"], defined["simulated-agent"]
    assert site["profiles"] == agent["profiles"] == ["demo"]  # not in a plain `up -d`
    assert site["build"]["args"]["EXTRAS"] == "sim"
    assert "snmpsim>=1.2" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # The simulator's devices listen on 127.0.0.1: only an agent in its namespace reaches them.
    assert agent["network_mode"] == "service:simulated-site"
    assert depends(agent) == {"simulated-site": "service_healthy", "proxy": "service_healthy"}
    # The agent runs the config the simulator writes into their shared volume, and the
    # simulator points that config at the proxy the compose agent uses too.
    script = " ".join(site["command"])
    data_dir = re.search(r"--data-dir (\S+)", script)
    assert data_dir is not None, script
    assert "--server http://proxy:8080" in script
    assert agent["command"][-1] == f"{data_dir[1]}/agent.yaml"
    assert site["healthcheck"]["test"][-1] == f"{data_dir[1]}/agent.yaml"
    assert site["volumes"] == agent["volumes"] == [f"simdata:{data_dir[1]}"]
