"""The shipped Prometheus files: promtool accepts them, the alert rules fire on the cases they
are for, and a real Prometheus scrapes a real server and agent with the rules loaded. The Grafana
dashboard and the rules query only metrics the server and agent really export."""

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from peers.server import ServerProcess, provision
from peers.site import AgentProcess, Listener, wait_for, write_agent_yaml
from tests.peers.prometheus import PROMETHEUS, PROMTOOL, PrometheusProcess

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "rules" / "secmon.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "secmon.json"
RULE_TESTS = Path(__file__).with_name("secmon_rules_test.yml")

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (apt prometheus)")
# A metric (secmon_…), a recording rule (secmon:…) or the scrape's own `up`.
METRIC = re.compile(r"\b(secmon[_:][a-z0-9_:]*|up)\b(?!\s*\()")
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def promtool(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def exported_names(exposition: str) -> set[str]:
    """Every series name an exposition can carry, from its TYPE lines (a labelled counter
    with no sample yet is still exported)."""
    names: set[str] = set()
    for family, kind in TYPE_LINE.findall(exposition):
        base = family.removesuffix("_total") if kind == "counter" else family
        names.update(base + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


def queried_names(expressions: list[str]) -> set[str]:
    found: set[str] = set()
    for expr in expressions:
        # Label values and matchers are not metric names: drop quoted strings first.
        found.update(METRIC.findall(re.sub(r'"[^"]*"', '""', expr)))
    return found


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = promtool("check", "rules", RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


@needs_promtool
def test_promtool_accepts_the_config_with_the_rules(tmp_path: Path) -> None:
    shipped = promtool("check", "config", CONFIG)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    # The same config with rule_files pointing at the shipped rules, as the container mounts them.
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    config["rule_files"] = [str(RULES)]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    done = promtool("check", "config", local)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


@needs_promtool
def test_alert_rules_fire_on_their_cases() -> None:
    done = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_severity_and_a_summary() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert {a["alert"] for a in alerts} >= {
        "SecmonAgentDown",
        "SecmonAgentNotReporting",
        "SecmonOutboxBacklogGrowing",
        "SecmonIngestErrors",
        "SecmonNotificationFailures",
    }
    for alert in alerts:
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]


def test_dashboard_loads_and_every_panel_queries_the_provisioned_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    uids = {d["uid"] for d in datasources}
    assert dashboard["uid"] == "secmon-overview"
    assert dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids, panel["title"]


@pytest.fixture
def running_site(
    sqlite_url: str,
    tmp_path: Path,
    server_factory: Callable[..., ServerProcess],
) -> Any:
    """A real server with one site, and a real agent polling one TCP device and pushing to it."""
    server = server_factory(sqlite_url)
    tenant = provision(sqlite_url, site="hq")
    device = Listener()
    config = write_agent_yaml(
        tmp_path / "agent",
        server_url=server.base_url,
        token=tenant.token,
        batch_max_age=1,
        devices=[
            {"id": "cam-01", "name": "Camera 1", "class": "camera", "subsystem": "video",
             "protocol": "tcp", "address": "127.0.0.1", "port": device.port,
             "interval": 5, "timeout": 2},
        ],
    )  # fmt: skip
    agent = AgentProcess(config).start()
    try:
        wait_for(
            "the agent's first push",
            lambda: (agent.metric("secmon_agent_samples_pushed_total") or 0) > 0,
        )
        yield server, agent
    finally:
        agent.stop()
        device.close()


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus missing (apt prometheus)")
def test_real_prometheus_scrapes_server_and_agent_and_loads_the_rules(
    running_site: tuple[ServerProcess, AgentProcess], tmp_path: Path
) -> None:
    server, agent = running_site
    server_metrics = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    agent_metrics = httpx.get(agent.metrics_url, timeout=5).text
    exported = exported_names(server_metrics) | exported_names(agent_metrics) | {"up"}
    recorded = {rule["record"] for rule in rules() if "record" in rule}

    missing = queried_names(dashboard_exprs()) - exported
    assert not missing, f"the dashboard queries metrics nobody exports: {sorted(missing)}"
    missing = queried_names([rule["expr"] for rule in rules()]) - exported - recorded
    assert not missing, f"the rules query metrics nobody exports: {sorted(missing)}"

    shipped = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in shipped["scrape_configs"]}
    agent_address = agent.metrics_url.removeprefix("http://").removesuffix("/metrics")
    targets = {"secmon-server": f"127.0.0.1:{server.port}", "secmon-agent": agent_address}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {**jobs[name], "static_configs": [{"targets": [target], "labels": {"site": "hq"}}]}
            for name, target in targets.items()
        ],
    }
    with PrometheusProcess(config, workdir=tmp_path / "prometheus") as prometheus:

        def series(query: str) -> list[dict[str, Any]]:
            result: list[dict[str, Any]] = prometheus.api("query", query=query)["result"]
            return result

        wait_for("both targets up", lambda: len(series("up == 1")) == 2, timeout=60)
        assert {s["metric"]["job"] for s in series("up")} == set(targets)
        wait_for(
            "the agent's pushes, scraped",
            lambda: bool(series('secmon_agent_samples_pushed_total{site="hq"} > 0')),
        )
        wait_for(
            "the server's accepted samples, scraped",
            lambda: bool(series('secmon_samples_ingested_total{result="accepted"} > 0')),
        )
        wait_for("the device count, recorded", lambda: bool(series("secmon:devices:by_status")))
        # Every ticket state is a series (0 here: nothing failed), read from the database.
        tickets = {s["metric"]["status"]: s["value"][1] for s in series("secmon_tickets")}
        assert tickets["new"] == "0"
        assert "closed" in tickets

        def all_rules_ok() -> bool:
            groups = prometheus.api("rules")["groups"]
            states = [rule["health"] for group in groups for rule in group["rules"]]
            return len(states) == len(rules()) and set(states) == {"ok"}

        wait_for("every rule evaluated without error", all_rules_ok, timeout=60)
        groups = {group["name"] for group in prometheus.api("rules")["groups"]}
        assert groups == {"secmon-recording", "secmon-alerts"}
        firing = {a["labels"]["alertname"] for a in prometheus.api("alerts")["alerts"]}
        assert "SecmonAgentDown" not in firing
        assert "SecmonServerDown" not in firing
