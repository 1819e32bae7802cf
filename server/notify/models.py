"""The `notifications` table: a durable outbox of messages to one contact's channel each.

A row names the contact and channel (keys in the notify config), not the Apprise URL, so
channel secrets stay in the config file or the environment and never land in the database.
`dedupe_key` is unique: enqueueing the same decision twice (a retried transaction, a second
replica, the next sweep) inserts nothing.
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for next_attempt_at
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"
    FAILED = "failed"  # gave up after max attempts, or the channel is unknown


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    # No FK: tickets live in their own migration; a notification outlives nothing it points to.
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    event: Mapped[str] = mapped_column(String(32))
    contact: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(250))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


notifications: Table = Notification.__table__  # type: ignore[assignment]  # a Table at runtime
