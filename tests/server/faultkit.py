"""A site with devices of several classes and parents, fed samples in process, for the fault
and ticket tests: real database (SQLite or PostgreSQL), real ingest and detection code."""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from peers.server import Tenant, provision
from server.agent_tokens import AgentPrincipal
from server.api.deps import AppContext
from server.db import make_engine, write_session
from server.detector import Outcome, drain, sweep
from server.faults.engine import FaultSettings
from server.ingest import store_batch
from server.models import FaultEpisode, Ticket, TicketEvent
from server.tenancy import register_inventory
from wire.enums import DeviceClass, ProbeKind, Subsystem
from wire.ids import uuid7
from wire.schema import IngestBatch, Inventory, InventoryDevice

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, inside office hours in UTC
SUBSYSTEM = {
    DeviceClass.CAMERA: Subsystem.VIDEO,
    DeviceClass.NVR: Subsystem.VIDEO,
    DeviceClass.SWITCH: Subsystem.NETWORK,
    DeviceClass.ALARM_PANEL: Subsystem.ALARM,
    DeviceClass.ACCESS_CONTROLLER: Subsystem.ACCESS,
    DeviceClass.UPS: Subsystem.POWER,
}


@dataclass
class Kit:
    """One tenant's site; `poll` feeds one round of samples through ingest and drains the
    detection queue at once."""

    engine: Engine
    tenant: Tenant
    settings: FaultSettings = field(default_factory=FaultSettings)
    pks: dict[str, int] = field(default_factory=dict)

    def add_devices(self, devices: Iterable[tuple[str, DeviceClass, str | None]]) -> None:
        inventory = Inventory(
            agent_version="test",
            devices=[
                InventoryDevice(id=ext, name=ext, device_class=cls, subsystem=SUBSYSTEM[cls],
                                protocol=ProbeKind.TCP, parent_id=parent)
                for ext, cls, parent in devices
            ],
        )  # fmt: skip
        with write_session(self.engine) as session:
            register_inventory(session=session, site_id=self.tenant.site_id, inventory=inventory,
                               now=T0)  # fmt: skip
        self.pks.update(self._pks())

    def _pks(self) -> dict[str, int]:
        from server.models import Device

        with Session(self.engine) as session:
            rows = session.execute(
                select(Device.ext_id, Device.id).where(Device.site_id == self.tenant.site_id)
            ).all()
        return {r.ext_id: r.id for r in rows}

    def poll(self, ts: datetime, states: Mapping[str, bool | dict[str, Any]]) -> Outcome:
        """One sample per device at `ts`: True up, False unreachable, or a dict of checks."""
        return self.poll_many([(ts, states)])

    def report(
        self, ts: datetime, ext: str, kind: str, data: dict[str, Any] | None = None
    ) -> Outcome:
        """A device event sent on its own (a trap, an ONVIF or MQTT event: events only)."""
        event = {"ts": ts.isoformat(), "kind": kind, "data": data or {}}
        body = {"id": str(uuid7()), "device_id": ext, "ts": ts.isoformat(), "probe": "snmp",
                "reachable": True, "events": [event], "events_only": True}  # fmt: skip
        return self._ingest([body], now=ts)

    def poll_many(
        self, rounds: list[tuple[datetime, Mapping[str, bool | dict[str, Any]]]]
    ) -> Outcome:
        """Several rounds of polls in one batch (as an agent's outbox backlog arrives)."""
        samples = []
        for ts, ext, state in ((ts, e, st) for ts, states in rounds for e, st in states.items()):
            body: dict[str, Any] = {
                "id": str(uuid7()), "device_id": ext, "ts": ts.isoformat(), "probe": "tcp",
                "reachable": state is not False,
                "checks": state if isinstance(state, dict) else {},
            }  # fmt: skip
            if state is False:
                body["error"] = {"code": "device.unreachable", "message": "refused"}
            samples.append(body)
        return self._ingest(samples, now=max(ts for ts, _ in rounds))

    def _ingest(self, samples: list[dict[str, Any]], *, now: datetime) -> Outcome:
        batch = IngestBatch.model_validate({"samples": samples})
        principal = AgentPrincipal(token_id=0, site_id=self.tenant.site_id, prefix="test")
        store_batch(engine=self.engine, principal=principal, batch=batch, now=now)
        return drain(engine=self.engine, settings=self.settings, now=now)

    def sweep(self, now: datetime) -> Outcome | None:
        return sweep(engine=self.engine, now=now, settings=self.settings)

    def tickets(self) -> list[Ticket]:
        with Session(self.engine) as session:
            return list(session.scalars(select(Ticket).order_by(Ticket.id)))

    def episodes(self) -> list[FaultEpisode]:
        with Session(self.engine) as session:
            return list(session.scalars(select(FaultEpisode).order_by(FaultEpisode.id)))

    def events(self, ticket_id: int) -> list[TicketEvent]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                    .order_by(TicketEvent.id)
                )
            )  # fmt: skip


def wait_detected(api: TestClient, timeout: float = 30.0) -> None:
    """Until the app's detector has drained what ingest queued before this call."""
    assert isinstance(api.app, FastAPI)
    ctx: AppContext = api.app.state.ctx
    assert ctx.faults.wait_drained(timeout), "detection did not drain in time"


def every(start: datetime, seconds: float, count: int) -> Iterator[datetime]:
    for i in range(count):
        yield start + timedelta(seconds=seconds * i)


def make_kit(database_url: str, **settings: Any) -> Kit:
    from server import migrate

    migrate.upgrade(database_url=database_url)
    engine = make_engine(database_url)
    tenant = provision(database_url)
    return Kit(engine=engine, tenant=tenant, settings=FaultSettings(**settings))
