"""Tables of inspections: one inspection per site and cycle period, its rows, its amendments.

`(site_id, cycle, period_start)` is unique: two replicas generating the same period insert one
inspection. Rows keep the item text and device name as generated, so a signed record reads the
same after the template or the inventory changes. After sign-off rows never change; a
correction is an amendment row beside the original.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base


class Inspection(Base):
    __tablename__ = "inspections"
    __table_args__ = (UniqueConstraint("site_id", "cycle", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    cycle: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date] = mapped_column(Date)  # local to the site, inclusive
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    prefilled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    tech_name: Mapped[str | None] = mapped_column(String(200))
    tech_role: Mapped[str | None] = mapped_column(String(100))
    tech_signed_at: Mapped[datetime | None]
    client_name: Mapped[str | None] = mapped_column(String(200))
    client_role: Mapped[str | None] = mapped_column(String(100))
    client_signed_at: Mapped[datetime | None]
    seal_sha256: Mapped[str | None] = mapped_column(String(64))
    overdue_notified_at: Mapped[datetime | None]


class InspectionRow(Base):
    """One item for one device (`subject` `d<device id>`) or for the site (`subject` `site`)."""

    __tablename__ = "inspection_rows"
    __table_args__ = (UniqueConstraint("inspection_id", "item_id", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    device_name: Mapped[str | None] = mapped_column(String(200))
    area: Mapped[str] = mapped_column(String(16))
    text_zh: Mapped[str] = mapped_column(String(500))
    text_en: Mapped[str] = mapped_column(String(500))
    rule: Mapped[dict[str, Any] | None]  # the item's evidence rule as generated
    prefill: Mapped[str | None] = mapped_column(String(16))
    evidence: Mapped[dict[str, Any] | None]
    sentence: Mapped[str | None] = mapped_column(String(1000))
    ticket_ids: Mapped[dict[str, Any] | None]  # {"linked": [...], "opened": id or null}
    result: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    disposition: Mapped[str | None] = mapped_column(String(16))  # a found fault: cleared/ticket
    updated_at: Mapped[datetime | None]
    updated_by: Mapped[str | None] = mapped_column(String(200))


class InspectionAmendment(Base):
    """A correction made after sign-off: shown beside the original row, which stays as signed."""

    __tablename__ = "inspection_amendments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), index=True
    )
    row_id: Mapped[int] = mapped_column(ForeignKey("inspection_rows.id", ondelete="CASCADE"))
    result: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class InspectionAttachment(Base):
    """A photo of a row, kept in the database (backed up and replicated with the record, no
    shared disk between replicas); its SHA-256 is part of the sealed content."""

    __tablename__ = "inspection_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), index=True
    )
    row_id: Mapped[int] = mapped_column(ForeignKey("inspection_rows.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class InspectionSignLink(Base):
    """A one-time link for the client's signature: only the token's SHA-256 is kept, and a new
    link replaces an unused one."""

    __tablename__ = "inspection_sign_links"

    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspections.id", ondelete="CASCADE"), primary_key=True
    )
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None]
