"""Clients, sites and devices: creation, agent inventory, and reads scoped to what a user sees."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import add_unique
from server.errors import ConflictError, NotFoundError
from server.models import Client, Device, DeviceState, SampleRow, Site
from server.state import DeviceStatus
from wire.schema import Inventory, InventoryResult


def create_client(*, session: Session, name: str, now: datetime) -> Client:
    client = Client(name=name, created_at=now)
    return add_unique(session=session, row=client, conflict=f"client {name!r} already exists")


def client_by_name(*, session: Session, name: str) -> Client:
    client = session.scalars(select(Client).where(Client.name == name)).one_or_none()
    if client is None:
        raise NotFoundError(f"no client named {name!r}")
    return client


def create_site(
    *, session: Session, client_id: int, name: str, zone: str, timezone: str, now: datetime
) -> Site:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConflictError(f"unknown time zone {timezone!r}") from err
    site = Site(client_id=client_id, name=name, zone=zone, timezone=timezone, created_at=now)
    return add_unique(
        session=session, row=site, conflict=f"site {name!r} already exists for this client"
    )


def site_by_name(*, session: Session, name: str, client_name: str | None) -> Site:
    query = select(Site).where(Site.name == name)
    if client_name is not None:
        query = query.join(Client).where(Client.name == client_name)
    found = session.scalars(query).all()
    if not found:
        owner = f" for client {client_name!r}" if client_name else ""
        raise NotFoundError(f"no site named {name!r}{owner}")
    if len(found) > 1:
        raise ConflictError(f"several clients have a site named {name!r}; give the client")
    return found[0]


def register_inventory(
    *, session: Session, site_id: int, inventory: Inventory, now: datetime
) -> InventoryResult:
    """Upsert the agent's devices under its site; new devices start in state unknown."""
    existing = {
        d.ext_id: d for d in session.scalars(select(Device).where(Device.site_id == site_id))
    }
    registered = updated = 0
    for item in inventory.devices:
        fields: dict[str, Any] = {
            "name": item.name,
            "device_class": item.device_class.value,
            "subsystem": item.subsystem.value,
            "protocol": item.protocol.value,
            "parent_ext_id": item.parent_id,
            "vendor": item.identity.vendor,
            "model": item.identity.model,
            "serial": item.identity.serial,
            "firmware": item.identity.firmware,
            "last_registered_at": now,
        }
        device = existing.get(item.id)
        if device is None:
            device = Device(site_id=site_id, ext_id=item.id, first_registered_at=now, **fields)
            session.add(device)
            session.flush()
            session.add(
                DeviceState(
                    device_id=device.id,
                    status=DeviceStatus.UNKNOWN.value,
                    checks={},
                    updated_at=now,
                )
            )
            existing[item.id] = device
            registered += 1
        else:
            for key, value in fields.items():
                setattr(device, key, value)
            updated += 1
    session.flush()
    return InventoryResult(registered=registered, updated=updated)


# Reads for the API. `client_id` is the caller's scope: None sees every client.


def list_sites(*, session: Session, client_id: int | None) -> Sequence[Site]:
    query = select(Site).order_by(Site.id)
    if client_id is not None:
        query = query.where(Site.client_id == client_id)
    return session.scalars(query).all()


def get_site(*, session: Session, site_id: int, client_id: int | None) -> Site:
    site = session.get(Site, site_id)
    if site is None or (client_id is not None and site.client_id != client_id):
        raise NotFoundError(f"no site {site_id}")
    return site


@dataclass(frozen=True, slots=True)
class DeviceWithState:
    device: Device
    state: DeviceState | None


def list_devices(*, session: Session, site_id: int, client_id: int | None) -> list[DeviceWithState]:
    get_site(session=session, site_id=site_id, client_id=client_id)
    rows = session.execute(
        select(Device, DeviceState)
        .outerjoin(DeviceState, DeviceState.device_id == Device.id)
        .where(Device.site_id == site_id)
        .order_by(Device.ext_id)
    ).all()
    return [DeviceWithState(device=d, state=s) for d, s in rows]


def get_device(*, session: Session, device_id: int, client_id: int | None) -> DeviceWithState:
    row = session.execute(
        select(Device, DeviceState, Site.client_id)
        .join(Site, Site.id == Device.site_id)
        .outerjoin(DeviceState, DeviceState.device_id == Device.id)
        .where(Device.id == device_id)
    ).one_or_none()
    if row is None or (client_id is not None and row[2] != client_id):
        raise NotFoundError(f"no device {device_id}")
    return DeviceWithState(device=row[0], state=row[1])


def recent_samples(
    *,
    session: Session,
    device_id: int,
    client_id: int | None,
    limit: int,
    before: datetime | None,
) -> Sequence[SampleRow]:
    """Newest first, served by the (device_id, ts) index."""
    get_device(session=session, device_id=device_id, client_id=client_id)
    query = select(SampleRow).where(SampleRow.device_id == device_id)
    if before is not None:
        query = query.where(SampleRow.ts < before)
    return session.scalars(query.order_by(SampleRow.ts.desc()).limit(limit)).all()


def count_samples(*, session: Session, device_ids: Sequence[int] | None = None) -> int:
    query = select(func.count()).select_from(SampleRow)
    if device_ids is not None:
        query = query.where(SampleRow.device_id.in_(device_ids))
    return int(session.scalar(query) or 0)


def sample_by_id(*, session: Session, sample_id: UUID) -> SampleRow | None:
    return session.get(SampleRow, sample_id)
