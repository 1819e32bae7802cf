"""Server metrics on an injected registry; device counts by status are read at scrape time."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from server.models import DeviceState
from server.state import DeviceStatus


class DeviceStatusCollector(Collector):
    """`secmon_devices{status}` from the state table, so it is right on every replica."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("secmon_devices", "Devices by current status", labels=["status"])
        counts = dict.fromkeys((s.value for s in DeviceStatus), 0)
        try:
            with self._engine.connect() as conn:
                query = select(DeviceState.status, func.count()).group_by(DeviceState.status)
                for status, count in conn.execute(query):
                    counts[status] = int(count)
        except SQLAlchemyError:
            return  # no gauge rather than a wrong one; /healthz reports the database
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family


class ServerMetrics:
    def __init__(self, registry: CollectorRegistry, engine: Engine) -> None:
        self.registry = registry
        self.samples_ingested = Counter(
            "secmon_samples_ingested",
            "Samples received in ingest batches, by result",
            ["result"],
            registry=registry,
        )
        self.batches_rejected = Counter(
            "secmon_ingest_batches_rejected",
            "Ingest batches refused, by error code",
            ["error"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "secmon_ingest_batch_seconds",
            "Time to decode, validate and store one ingest batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
        registry.register(DeviceStatusCollector(engine))
