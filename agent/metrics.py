"""Prometheus metrics of the agent, on an injected registry (tests get their own)."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.outbox import Outbox


class AgentMetrics:
    """Probe timing and errors, push failures; outbox figures are read live at scrape time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.probe_duration = Histogram(
            "secmon_agent_probe_duration_seconds",
            "Time one poll of one device took, timeouts included.",
            ["probe", "device_class"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.probe_errors = Counter(
            "secmon_agent_probe_errors",
            "Polls that ended with an error, by error code.",
            ["probe", "device_class", "code"],
            registry=registry,
        )
        self.push_failures = Counter(
            "secmon_agent_push_failures",
            "Pushes to the server that did not store the batch, by reason.",
            ["reason"],
            registry=registry,
        )
        self.samples_pushed = Counter(
            "secmon_agent_samples_pushed",
            "Samples the server acknowledged.",
            registry=registry,
        )
        self.unmonitored = Gauge(
            "secmon_agent_devices_unmonitored",
            "Devices that answer but from which nothing beyond reachability is read.",
            ["probe", "device_class"],
            registry=registry,
        )
        self._unmonitored: dict[str, tuple[str, str]] = {}  # device id → its labels

    def observe_coverage(self, device_id: str, labels: tuple[str, str], unmonitored: bool) -> None:
        """Count the device as unmonitored after its latest poll said so, and no longer
        once a poll reads a health check (or it stops answering: then it is down)."""
        before = self._unmonitored.get(device_id)
        if unmonitored and before is None:
            self._unmonitored[device_id] = labels
            self.unmonitored.labels(*labels).inc()
        elif not unmonitored and before is not None:
            del self._unmonitored[device_id]
            self.unmonitored.labels(*before).dec()

    def watch_outbox(self, outbox: Outbox) -> None:
        self.registry.register(OutboxCollector(outbox))


class OutboxCollector(Collector):
    """Reads the outbox on each scrape (it is thread-safe), so the figures are never stale."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def collect(self) -> Iterator[Metric]:
        stats = self._outbox.stats()
        yield GaugeMetricFamily(
            "secmon_agent_outbox_depth", "Samples waiting to be pushed.", value=stats.depth
        )
        yield GaugeMetricFamily(
            "secmon_agent_outbox_bytes", "Bytes of samples waiting to be pushed.", value=stats.bytes
        )
        yield GaugeMetricFamily(
            "secmon_agent_outbox_oldest_age_seconds",
            "Age of the oldest unsent sample (0 when empty).",
            value=stats.oldest_age or 0.0,
        )
        yield CounterMetricFamily(
            "secmon_agent_samples_dropped",
            "Samples dropped because the outbox was full (persistent across restarts).",
            value=stats.dropped_total,
        )
        yield CounterMetricFamily(
            "secmon_agent_samples_rejected",
            "Samples the server refused for good (persistent across restarts).",
            value=stats.rejected_total,
        )
        yield GaugeMetricFamily(
            "secmon_agent_samples_quarantined",
            "Samples set aside after the server failed on them again and again (kept on disk).",
            value=stats.quarantined,
        )


@dataclass
class MetricsServer:
    """The /metrics HTTP endpoint running in its own thread."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(address: tuple[str, int], registry: CollectorRegistry) -> MetricsServer:
    """Serve `/metrics` at host:port (port 0: any free port, see `.port`)."""
    host, port = address
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server=server, thread=thread)
