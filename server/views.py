"""What the read API answers: pydantic models built from the ORM rows (no internal fields)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from server.models import Device, DeviceState, SampleRow, Site
from server.state import DeviceStatus
from server.tenancy import DeviceWithState, Scope
from wire.schema import CheckValue


class SiteOut(BaseModel):
    id: int
    client_id: int
    name: str
    zone: str
    timezone: str

    @classmethod
    def of(cls, site: Site) -> "SiteOut":
        return cls(
            id=site.id,
            client_id=site.client_id,
            name=site.name,
            zone=site.zone,
            timezone=site.timezone,
        )


class CheckOut(BaseModel):
    value: CheckValue
    changed_at: datetime
    updated_at: datetime


class StateOut(BaseModel):
    """A device's current state; the defaults are a device never heard from."""

    status: DeviceStatus = DeviceStatus.UNKNOWN
    status_changed_at: datetime | None = None
    reachable: bool | None = None
    last_sample_at: datetime | None = None
    last_seen_at: datetime | None = None
    latency_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    checks: dict[str, CheckOut] = Field(default_factory=dict)
    updated_at: datetime | None = None

    @classmethod
    def of(cls, state: DeviceState | None) -> "StateOut":
        if state is None:
            return cls()
        return cls(
            status=DeviceStatus(state.status),
            status_changed_at=state.status_changed_at,
            reachable=state.reachable,
            last_sample_at=state.last_sample_at,
            last_seen_at=state.last_seen_at,
            latency_ms=state.latency_ms,
            error_code=state.error_code,
            error_message=state.error_message,
            checks={name: CheckOut.model_validate(c) for name, c in state.checks.items()},
            updated_at=state.updated_at,
        )


class DeviceOut(BaseModel):
    id: int
    site_id: int
    ext_id: str
    name: str
    device_class: str
    subsystem: str
    protocol: str
    parent_ext_id: str | None
    vendor: str | None
    model: str | None
    serial: str | None
    firmware: str | None
    first_registered_at: datetime
    last_registered_at: datetime
    state: StateOut

    @classmethod
    def of(cls, item: DeviceWithState) -> "DeviceOut":
        d: Device = item.device
        return cls(
            id=d.id,
            site_id=d.site_id,
            ext_id=d.ext_id,
            name=d.name,
            device_class=d.device_class,
            subsystem=d.subsystem,
            protocol=d.protocol,
            parent_ext_id=d.parent_ext_id,
            vendor=d.vendor,
            model=d.model,
            serial=d.serial,
            firmware=d.firmware,
            first_registered_at=d.first_registered_at,
            last_registered_at=d.last_registered_at,
            state=StateOut.of(item.state),
        )

    def seen_by(self, scope: Scope) -> "DeviceOut":
        """Without the hardware serial for a viewer who may not see it."""
        return self if scope.sees_internals else self.model_copy(update={"serial": None})


class SampleOut(BaseModel):
    id: UUID
    ts: datetime
    received_at: datetime
    probe: str
    reachable: bool
    latency_ms: float | None
    error_code: str | None
    error_message: str | None
    checks: dict[str, CheckValue]
    events: list[dict[str, Any]]
    events_only: bool

    @classmethod
    def of(cls, row: SampleRow) -> "SampleOut":
        return cls(
            id=row.id,
            ts=row.ts,
            received_at=row.received_at,
            probe=row.probe,
            reachable=row.reachable,
            latency_ms=row.latency_ms,
            error_code=row.error_code,
            error_message=row.error_message,
            checks=row.checks,
            events=row.events or [],
            events_only=row.events_only,
        )


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
