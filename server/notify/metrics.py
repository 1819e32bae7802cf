"""Notification metrics: delivery outcomes of this process, queue depth read at scrape time."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from server.notify.models import Notification, NotificationStatus


class NotificationQueueCollector(Collector):
    """`secmon_notifications{status}` from the table, so every replica reports the same."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "secmon_notifications", "Queued notifications by status", labels=["status"]
        )
        counts = dict.fromkeys((s.value for s in NotificationStatus), 0)
        try:
            with self._engine.connect() as conn:
                query = select(Notification.status, func.count()).group_by(Notification.status)
                for status, count in conn.execute(query):
                    counts[status] = int(count)
        except SQLAlchemyError:
            return  # no gauge rather than a wrong one
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry, engine: Engine | None = None) -> None:
        self.deliveries = Counter(
            "secmon_notification_deliveries",
            "Delivery attempts by this process, by result (sent, retry, failed)",
            ["result"],
            registry=registry,
        )
        if engine is not None:
            registry.register(NotificationQueueCollector(engine))
