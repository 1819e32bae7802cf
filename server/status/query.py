"""Loads one client's status page from the database: a handful of indexed queries whose cost
grows with sites, subsystems and days and open faults, never with raw samples."""

import hashlib
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.faults.rules import FaultCode
from server.models import (
    Client,
    Device,
    DeviceState,
    FaultEpisode,
    MaintenanceWindow,
    Site,
    StatusPage,
    SubsystemDay,
    Ticket,
)
from server.state import DeviceStatus
from server.status.rollup import SERVICE_AFFECTING, site_zone
from server.status.uptime import DayFigures
from server.status.view import (
    OPEN_TICKET_STATES,
    Contact,
    DeviceRecord,
    FaultRecord,
    SiteRecord,
    StatusView,
    TicketRecord,
    WindowRecord,
    build_view,
)
from server.status.words import Words

LINK_BYTES = 24


def link_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_for_link(*, session: Session, token: str) -> int | None:
    """The client whose current share link this is; a rotated-away link finds nobody."""
    if not token or len(token) > 128:
        return None
    return session.scalar(
        select(StatusPage.client_id).where(StatusPage.link_sha256 == link_digest(token))
    )


def rotate_link(*, session: Session, client_id: int, now: datetime) -> str:
    """A new share link for the client; the previous one stops working at once."""
    token = secrets.token_urlsafe(LINK_BYTES)
    page = session.get(StatusPage, client_id)
    if page is None:
        page = StatusPage(client_id=client_id, contact={}, updated_at=now)
        session.add(page)
    page.link_sha256 = link_digest(token)
    page.link_created_at = now
    page.updated_at = now
    session.flush()
    return token


def set_contact(
    *, session: Session, client_id: int, contact: dict[str, Any], now: datetime
) -> None:
    page = session.get(StatusPage, client_id)
    if page is None:
        page = StatusPage(client_id=client_id, contact=contact, updated_at=now)
        session.add(page)
    page.contact = contact
    page.updated_at = now
    session.flush()


def status_view(
    *, session: Session, client_id: int, words: Words, now: datetime, history_days: int = 90
) -> StatusView:
    # Bulk reads go through the Core connection: ORM row processing would double the page time.
    conn = session.connection()
    client = session.get(Client, client_id)
    if client is None:
        raise LookupError(client_id)
    site_rows = session.scalars(select(Site).where(Site.client_id == client_id).order_by(Site.name))
    sites = list(site_rows)
    site_ids = [s.id for s in sites]
    offline = dict(
        session.execute(
            select(FaultEpisode.site_id, FaultEpisode.started_at).where(
                FaultEpisode.site_id.in_(site_ids),
                FaultEpisode.code == FaultCode.SITE_AGENT_OFFLINE,
                FaultEpisode.recovered_at.is_(None),
            )
        ).all()
    )
    site_records = [
        SiteRecord(id=s.id, name=s.name, zone=site_zone(s), agent_offline_since=offline.get(s.id))
        for s in sites
    ]
    devices = [
        DeviceRecord(
            id=row.id,
            site_id=row.site_id,
            name=row.name,
            device_class=row.device_class,
            subsystem=row.subsystem,
            unmonitored=row.status == DeviceStatus.UNMONITORED,
        )
        for row in conn.execute(
            select(
                Device.id,
                Device.site_id,
                Device.name,
                Device.device_class,
                Device.subsystem,
                DeviceState.status,
            )
            .outerjoin(DeviceState, DeviceState.device_id == Device.id)
            .where(Device.site_id.in_(site_ids))
        )
    ]
    open_episodes = conn.execute(
        select(
            FaultEpisode.id,
            FaultEpisode.device_id,
            FaultEpisode.code,
            FaultEpisode.started_at,
            FaultEpisode.ticket_id,
            FaultEpisode.parent_episode_id,
        ).where(
            FaultEpisode.site_id.in_(site_ids),
            FaultEpisode.recovered_at.is_(None),
            FaultEpisode.device_id.is_not(None),
            FaultEpisode.code.in_(list(SERVICE_AFFECTING)),
        )
    ).all()
    parent_ids = {e.parent_episode_id for e in open_episodes if e.parent_episode_id is not None}
    parent_tickets = (
        dict(
            session.execute(
                select(FaultEpisode.id, FaultEpisode.ticket_id).where(
                    FaultEpisode.id.in_(parent_ids)
                )
            ).all()
        )
        if parent_ids
        else {}
    )
    faults = [
        FaultRecord(
            device_id=e.device_id,
            code=e.code,
            started_at=e.started_at,
            ticket_id=e.ticket_id or parent_tickets.get(e.parent_episode_id),
        )
        for e in open_episodes
    ]
    horizon = now - timedelta(days=history_days + 1)
    tickets = [
        TicketRecord(**row._mapping)
        for row in conn.execute(
            select(
                Ticket.id,
                Ticket.site_id,
                Ticket.device_id,
                Ticket.system.label("subsystem"),
                Ticket.code,
                Ticket.state,
                Ticket.created_at,
                Ticket.first_failure_at,
                Ticket.acknowledged_at,
                Ticket.respond_by,
                Ticket.eta,
                Ticket.resolved_at,
                Ticket.closed_at,
            ).where(
                Ticket.client_id == client_id,
                or_(Ticket.created_at >= horizon, Ticket.state.in_(list(OPEN_TICKET_STATES))),
            )
        )
    ]
    first_day: date = (now - timedelta(days=history_days + 1)).date()
    days: dict[tuple[int, str], dict[date, DayFigures]] = {}
    # Plain rows, not ORM objects: a 20-site page reads ~9,000 of them.
    for site_id, subsystem, day, up, down, unknown, maintenance, nodata in conn.execute(
        select(
            SubsystemDay.site_id,
            SubsystemDay.subsystem,
            SubsystemDay.day,
            SubsystemDay.up_s,
            SubsystemDay.down_s,
            SubsystemDay.unknown_s,
            SubsystemDay.maintenance_s,
            SubsystemDay.nodata_s,
        ).where(SubsystemDay.site_id.in_(site_ids), SubsystemDay.day >= first_day)
    ).all():
        days.setdefault((site_id, subsystem), {})[day] = DayFigures(
            up=up, down=down, unknown=unknown, maintenance=maintenance, nodata=nodata
        )
    windows = [
        WindowRecord(site_id=w.site_id, starts_at=w.starts_at, ends_at=w.ends_at, title=w.title)
        for w in session.scalars(
            select(MaintenanceWindow).where(
                MaintenanceWindow.site_id.in_(site_ids), MaintenanceWindow.ends_at > now
            )
        )
    ]
    page = session.get(StatusPage, client_id)
    return build_view(
        client=client.name,
        sites=site_records,
        devices=devices,
        faults=faults,
        tickets=tickets,
        days=days,
        windows=windows,
        contact=Contact.of(page.contact if page is not None else {}),
        words=words,
        now=now,
        history_days=history_days,
    )
