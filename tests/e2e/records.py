"""What the server stored, read straight from its database: tickets, fault episodes, device
states and the samples behind them, for end-to-end assertions."""

from datetime import datetime

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from server.models import Device, DeviceState, FaultEpisode, SampleRow, Ticket


def tickets(engine: Engine) -> list[Ticket]:
    with Session(engine) as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def episodes(engine: Engine) -> list[FaultEpisode]:
    with Session(engine) as session:
        return list(session.scalars(select(FaultEpisode).order_by(FaultEpisode.id)))


def all_up(engine: Engine, count: int) -> bool:
    """Exactly `count` devices have a state and every one is up."""
    with Session(engine) as session:
        states = list(session.scalars(select(DeviceState)))
    return len(states) == count and all(s.status == "up" for s in states)


def device_status(engine: Engine, ext_id: str) -> str | None:
    """The device's status at the server (up, down, unknown), None before its first sample."""
    with Session(engine) as session:
        return session.scalar(
            select(DeviceState.status)
            .join(Device, Device.id == DeviceState.device_id)
            .where(Device.ext_id == ext_id)
        )


def device_pk(engine: Engine, ext_id: str) -> int:
    """The server's id of the device the agent calls `ext_id`."""
    with Session(engine) as session:
        return int(session.scalars(select(Device.id).where(Device.ext_id == ext_id)).one())


def polls(engine: Engine, device_id: int) -> list[SampleRow]:
    """The device's poll results (trap/event-only rows left out), oldest first."""
    with Session(engine) as session:
        return list(
            session.scalars(
                select(SampleRow)
                .where(SampleRow.device_id == device_id, SampleRow.events_only.is_(False))
                .order_by(SampleRow.ts)
            )
        )


def first_failing_poll(engine: Engine, device_id: int, *, after: datetime) -> SampleRow:
    """The device's first unreachable poll after `after`: where an outage's clock starts."""
    for row in polls(engine, device_id):
        if row.ts > after and not row.reachable:
            return row
    raise AssertionError(f"no failing poll of device {device_id} after {after}")


def bearer(base_url: str, *, username: str, password: str) -> dict[str, str]:
    """Log in through the API; the Authorization header for the user's token."""
    reply = httpx.post(
        f"{base_url}/api/v1/auth/token",
        data={"username": username, "password": password},
        timeout=10,
    )
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}
