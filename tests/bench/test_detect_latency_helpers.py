"""The pure helpers of bench/detect_latency.py: percentile math and the peers' config files.

The bench itself is not run here (it takes minutes and measures speed; tests never do)."""

import importlib.util
import random
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agent.config import load_config
from server.faults.defaults import default_rules
from server.faults.rules import load_rules

BENCH = Path(__file__).resolve().parents[2] / "bench" / "detect_latency.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_detect_latency", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench: Any = _load()


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert bench.percentile(values, 0) == 1.0
    assert bench.percentile(values, 100) == 4.0
    assert bench.percentile(values, 50) == 2.5
    assert bench.percentile(values, 90) == pytest.approx(3.7)
    assert bench.percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_or_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        bench.percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        bench.percentile([1.0], 101)


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=60), st.floats(0, 100))
def test_percentile_matches_statistics_inclusive_quantiles(values: list[float], q: float) -> None:
    """Python's `statistics.quantiles(method="inclusive")` uses the same definition."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    whole = round(q)
    expected = min(values) if whole == 0 else max(values) if whole == 100 else cuts[whole - 1]
    assert bench.percentile(values, whole) == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert min(values) <= bench.percentile(values, q) <= max(values)


def test_summary_rounds_and_orders() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench.summary(values) == {"p50": 50.5, "p90": 90.1, "p99": 99.0, "max": 100.0}


def test_goal_reads_the_shipped_confirmation_count() -> None:
    rule = next(r for r in default_rules().rules if r.code.value == "device.unreachable")
    confirmations = bench.unreachable_confirmations(default_rules(), bench.DEVICE_CLASS)
    assert confirmations == rule.confirm_after
    assert bench.goal_bound(10.0, confirmations) == 10.0 + (rule.confirm_after - 1) * 2.5 + 1.0
    assert bench.goal_bound(10.0, 2) == 13.5


def test_confirmations_follow_a_changed_rule_and_refuse_a_class_without_one() -> None:
    rules = load_rules(
        [
            {
                "code": "device.unreachable",
                "except_classes": ["alarm_panel"],
                "condition": {"kind": "unreachable"},
                "confirm_after": 4,
            }
        ]
    )
    assert bench.unreachable_confirmations(rules, "switch") == 4
    with pytest.raises(ValueError, match="alarm_panel"):
        bench.unreachable_confirmations(rules, "alarm_panel")


def test_takedown_schedule_stays_inside_the_spread_and_is_seeded() -> None:
    first = bench.takedown_schedule(50, 60.0, random.Random(7))
    assert len(first) == 50
    assert all(0.0 <= t <= 60.0 for t in first)
    assert first == bench.takedown_schedule(50, 60.0, random.Random(7))
    with pytest.raises(ValueError, match="at least one trial"):
        bench.takedown_schedule(0, 60.0, random.Random(7))


def test_prometheus_config_probes_every_target_through_the_exporter() -> None:
    config = bench.prometheus_config(
        targets=["127.0.0.1:4001", "127.0.0.1:4002"],
        blackbox="127.0.0.1:9115",
        alertmanager="127.0.0.1:9093",
        rules_file="/tmp/rules.yml",
    )
    parsed = yaml.safe_load(yaml.safe_dump(config))  # what the bench writes is plain YAML
    assert parsed["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    (job,) = parsed["scrape_configs"]
    assert job["metrics_path"] == "/probe"
    assert job["params"] == {"module": ["tcp_connect"]}
    assert job["static_configs"] == [{"targets": ["127.0.0.1:4001", "127.0.0.1:4002"]}]
    relabel = job["relabel_configs"]
    assert relabel[0] == {"source_labels": ["__address__"], "target_label": "__param_target"}
    assert relabel[1]["target_label"] == "instance"
    assert relabel[2] == {"target_label": "__address__", "replacement": "127.0.0.1:9115"}
    assert parsed["alerting"]["alertmanagers"][0]["static_configs"] == [
        {"targets": ["127.0.0.1:9093"]}
    ]
    assert parsed["rule_files"] == ["/tmp/rules.yml"]
    assert bench.blackbox_config()["modules"]["tcp_connect"]["prober"] == "tcp"


def test_alert_rule_and_alertmanager_route_have_the_issue_settings() -> None:
    (rule,) = bench.alert_rules()["groups"][0]["rules"]
    assert rule["expr"] == 'probe_success{job="blackbox"} == 0'
    assert rule["for"] == "0s"
    route = bench.alertmanager_config("http://127.0.0.1:5000/alerts")
    assert route["route"]["group_wait"] == "30s"
    assert route["route"]["group_by"] == ["instance"]
    (receiver,) = route["receivers"]
    assert receiver["name"] == route["route"]["receiver"]
    assert receiver["webhook_configs"] == [
        {"url": "http://127.0.0.1:5000/alerts", "send_resolved": False}
    ]


def test_firing_instances_from_a_webhook_body() -> None:
    body = {
        "status": "firing",
        "alerts": [
            {"status": "firing", "labels": {"instance": "127.0.0.1:4001"}},
            {"status": "resolved", "labels": {"instance": "127.0.0.1:4002"}},
            {"status": "firing", "labels": {}},
        ],
    }
    assert bench.firing_instances(body) == ["127.0.0.1:4001"]
    with pytest.raises(ValueError, match="alerts"):
        bench.firing_instances({"status": "firing"})


def test_agent_config_is_valid_for_the_agent(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x" * 40 + "\n")
    data = bench.agent_config(
        ports={"sw-000": 4001, "sw-001": 4002},
        server_url="http://127.0.0.1:8000",
        token_file=str(token),
        workdir=str(tmp_path),
        metrics_port=9100,
    )
    assert "batch_max_age" not in data["agent"]  # the shipped default unless asked
    parsed = load_config(Path(bench.write_yaml(tmp_path / "agent.yaml", data)))
    assert [d.port for d in parsed.devices] == [4001, 4002]
    assert {d.interval for d in parsed.devices} == {bench.INTERVAL_S}
    assert {d.device_class.value for d in parsed.devices} == {bench.DEVICE_CLASS}
    with_age = bench.agent_config(
        ports={"sw-000": 4001},
        server_url="http://127.0.0.1:8000",
        token_file=str(token),
        workdir=str(tmp_path),
        metrics_port=9100,
        batch_max_age=1.0,
    )
    loaded = load_config(Path(bench.write_yaml(tmp_path / "aged.yaml", with_age)))
    assert loaded.agent.batch_max_age == 1.0


def test_result_line_has_the_readme_keys() -> None:
    line = bench.result_line(
        {"p50": 10.0, "p90": 12.0, "p99": 15.0, "max": 16.0},
        {"p50": 40.0, "p90": 50.0, "p99": 60.0, "max": 61.0},
        {"trials": 50},
    )
    assert list(line)[:8] == [
        "bench", "metric", "unit", "ours", "peer", "peer_value", "ratio", "better"
    ]  # fmt: skip
    assert line["ours"] == 15.0
    assert line["peer_value"] == 60.0
    assert line["ratio"] == 0.25
    assert line["better"] == "lower"
    assert line["trials"] == 50
