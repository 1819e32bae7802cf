"""Server metrics on an injected registry; device counts by status are read at scrape time."""

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute

from server.models import DeviceState, Ticket
from server.state import DeviceStatus
from server.tickets.states import TicketState


class StatusCountCollector(Collector):
    """`<name>{status}`: a table's rows by their status column, counted at scrape time so every
    replica reports the same; each known status is present, at 0 when no row has it."""

    def __init__(
        self,
        engine: Engine,
        *,
        name: str,
        documentation: str,
        column: InstrumentedAttribute[str],
        statuses: Iterable[str],
    ) -> None:
        self._engine = engine
        self._name = name
        self._documentation = documentation
        self._column = column
        self._statuses = tuple(statuses)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=["status"])
        counts = dict.fromkeys(self._statuses, 0)
        try:
            with self._engine.connect() as conn:
                query = select(self._column, func.count()).group_by(self._column)
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
        registry.register(
            StatusCountCollector(
                engine,
                name="secmon_devices",
                documentation="Devices by current status",
                column=DeviceState.status,
                statuses=(s.value for s in DeviceStatus),
            )
        )
        registry.register(
            StatusCountCollector(
                engine,
                name="secmon_tickets",
                documentation="Tickets by state",
                column=Ticket.state,
                statuses=(s.value for s in TicketState),
            )
        )
