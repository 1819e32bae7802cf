"""Notification metrics: delivery outcomes of this process, queue depth read at scrape time."""

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine

from server.metrics import StatusCountCollector
from server.notify.models import Notification, NotificationStatus


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry, engine: Engine | None = None) -> None:
        self.deliveries = Counter(
            "secmon_notification_deliveries",
            "Delivery attempts by this process, by result (sent, retry, failed)",
            ["result"],
            registry=registry,
        )
        if engine is not None:
            registry.register(
                StatusCountCollector(
                    engine,
                    name="secmon_notifications",
                    documentation="Queued notifications by status",
                    column=Notification.status,
                    statuses=(s.value for s in NotificationStatus),
                )
            )
