"""Metrics are served over HTTP on 127.0.0.1 and read the outbox live."""

from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from agent.metrics import AgentMetrics, serve_metrics
from agent.outbox import Outbox
from wire.enums import ProbeKind
from wire.ids import uuid7
from wire.schema import Sample


def test_scrape_shows_probe_push_and_outbox_figures(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=1_000_000)
    metrics = AgentMetrics(CollectorRegistry())
    metrics.watch_outbox(outbox)
    metrics.probe_duration.labels("tcp", "camera").observe(0.02)
    metrics.probe_errors.labels("tcp", "camera", "device.unreachable").inc()
    metrics.push_failures.labels("http_503").inc(2)
    sample = Sample(
        id=uuid7(), device_id="cam-01", ts=datetime.now(UTC), probe=ProbeKind.TCP, reachable=True
    )
    outbox.put([sample, sample.model_copy(update={"id": uuid7()})])
    outbox.reject([outbox.peek(1)[0].seq], "test")

    server = serve_metrics(("127.0.0.1", 0), metrics.registry)
    try:
        body = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    finally:
        server.close()
        outbox.close()
    assert (
        'secmon_agent_probe_duration_seconds_count{device_class="camera",probe="tcp"} 1.0' in body
    )
    labels = 'code="device.unreachable",device_class="camera",probe="tcp"'
    assert f"secmon_agent_probe_errors_total{{{labels}}} 1.0" in body
    assert 'secmon_agent_push_failures_total{reason="http_503"} 2.0' in body
    assert "secmon_agent_outbox_depth 1.0" in body
    assert "secmon_agent_samples_rejected_total 1.0" in body
    assert "secmon_agent_samples_dropped_total 0.0" in body
    assert "secmon_agent_outbox_bytes " in body
    assert "secmon_agent_outbox_oldest_age_seconds " in body


def test_unmonitored_devices_are_counted_until_a_poll_reads_their_health() -> None:
    metrics = AgentMetrics(CollectorRegistry())

    def count(device_class: str) -> float | None:
        return metrics.registry.get_sample_value(
            "secmon_agent_devices_unmonitored", {"probe": "snmp", "device_class": device_class}
        )

    metrics.observe_coverage("ups-1", ("snmp", "ups"), True)
    metrics.observe_coverage("ups-1", ("snmp", "ups"), True)  # the next poll: still one
    metrics.observe_coverage("ups-2", ("snmp", "ups"), True)
    metrics.observe_coverage("gate", ("snmp", "access_controller"), False)
    assert (count("ups"), count("access_controller")) == (2.0, None)
    metrics.observe_coverage("ups-1", ("snmp", "ups"), False)
    assert count("ups") == 1.0
