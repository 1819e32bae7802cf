"""JSON bodies of the agent → server API (`/api/v1/ingest`, `/api/v1/inventory`).

A sample's `id` is a UUIDv7 assigned once on the agent, so a retried batch is stored once and
ids sort by time (cheap appends to the server's index).
"""

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from wire.enums import CommandKind, DeviceClass, ProbeErrorCode, ProbeKind, Subsystem
from wire.validation import Bool, DeviceText, Line, Text, Timestamp

DeviceId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
CheckName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]
# NaN and ±Infinity are refused: JSON has no such numbers and PostgreSQL's JSON refuses them.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# Up to the 64-bit range, signed or not (SNMP Counter64 included).
CheckInt = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]
MAX_CHECK_TEXT = 1000
CheckText = Annotated[Text, Field(max_length=MAX_CHECK_TEXT)]
CheckValue = bool | CheckInt | FiniteFloat | CheckText | None
UtcDatetime = Timestamp

MAX_CHECKS_PER_SAMPLE = 256
MAX_EVENTS_PER_SAMPLE = 100
MAX_SAMPLES_PER_BATCH = 5000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbeError(Strict):
    code: ProbeErrorCode
    message: Text = Field(default="", max_length=1000)


class Event(Strict):
    """Something the device said on its own (trap, ONVIF event, MQTT message)."""

    ts: UtcDatetime
    kind: DeviceText = Field(min_length=1, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)


class Sample(Strict):
    """One probe result for one device, or (`events_only`) what a device said on its own.

    `events_only` marks a sample that is no poll: the events of a trap, sent the moment it
    arrives. It says nothing about whether the device answers polls, so the server stores its
    events but does not let it move the device's state (status, error, checks). An explicit
    flag rather than guessing from an empty sample: a future probe may well poll with no checks.
    """

    id: UUID
    device_id: DeviceId
    ts: UtcDatetime
    probe: ProbeKind
    reachable: Bool
    latency_ms: FiniteFloat | None = Field(default=None, ge=0)
    error: ProbeError | None = None
    checks: dict[CheckName, CheckValue] = Field(
        default_factory=dict, max_length=MAX_CHECKS_PER_SAMPLE
    )
    events: list[Event] = Field(default_factory=list, max_length=MAX_EVENTS_PER_SAMPLE)
    # Not cross-checked against checks/error (a model validator costs ingest ~7 % per sample);
    # the agent builds these in one place, and the server ignores all but their events.
    # Left out of the JSON when false, so poll samples still suit a server without the field
    # (`exclude_if`: pydantic ≥ 2.11).
    events_only: Bool = Field(default=False, exclude_if=lambda flag: not flag)
    # Set when the device answered but nothing beyond reachability could be read from it:
    # why (no profile matched what it answers; its sysObjectID). The server shows such a
    # device as `unmonitored`, not up. Left out of the JSON when unset, like `events_only`.
    unmonitored: DeviceText | None = Field(
        default=None, min_length=1, max_length=300, exclude_if=lambda reason: reason is None
    )


class IngestBatch(Strict):
    samples: list[Sample] = Field(min_length=1, max_length=MAX_SAMPLES_PER_BATCH)


MAX_COMMANDS_PER_ANSWER = 100


class AgentCommand(Strict):
    """An operator's request for the agent, e.g. re-learn a camera's picture. The agent runs
    it and acknowledges its id (`CommandAcks`); until then every ingest answer repeats it, so
    running one twice must be harmless."""

    id: UUID
    kind: CommandKind
    device: DeviceId


class RefusedSample(Strict):
    """A sample a stored batch left out, and why (its time is too far from the server's)."""

    id: UUID
    reason: str


class IngestResult(Strict):
    accepted: int
    duplicates: int
    # Left out when empty: the answer stays what agents that predate commands expect.
    commands: list[AgentCommand] = Field(
        default_factory=list, max_length=MAX_COMMANDS_PER_ANSWER, exclude_if=lambda v: not v
    )
    # Left out of the JSON when empty, so an agent that predates it still reads the answer.
    refused: list[RefusedSample] = Field(default_factory=list, exclude_if=lambda items: not items)


class CommandAcks(Strict):
    """The ids of commands the agent has run (acknowledging one twice is harmless)."""

    ids: list[UUID] = Field(min_length=1, max_length=MAX_COMMANDS_PER_ANSWER)


class AcksResult(Strict):
    acknowledged: int  # commands newly marked done by this call


class DeviceIdentity(Strict):
    """What a probe learned about the device itself."""

    vendor: DeviceText | None = Field(default=None, max_length=128)
    model: DeviceText | None = Field(default=None, max_length=128)
    serial: DeviceText | None = Field(default=None, max_length=128)
    firmware: DeviceText | None = Field(default=None, max_length=128)
    # Which profiles read the device and why they were chosen (SNMP: "generic+ups+ups_cyberpower",
    # "UPS-MIB answered; CyberPower enterprise 3808"). Left out when unset: a server that
    # predates them still takes the inventory.
    profiles: DeviceText | None = Field(
        default=None, max_length=200, exclude_if=lambda value: value is None
    )
    profile_reason: DeviceText | None = Field(
        default=None, max_length=500, exclude_if=lambda value: value is None
    )


class InventoryDevice(Strict):
    id: DeviceId
    name: Line = Field(min_length=1, max_length=200)
    device_class: DeviceClass
    subsystem: Subsystem
    protocol: ProbeKind
    parent_id: DeviceId | None = None
    identity: DeviceIdentity = Field(default_factory=DeviceIdentity)


class Inventory(Strict):
    agent_version: Line = Field(max_length=64)
    devices: list[InventoryDevice] = Field(max_length=MAX_SAMPLES_PER_BATCH)


class InventoryResult(Strict):
    registered: int
    updated: int


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API: a machine-readable code and a human reason."""

    error: str
    detail: Any = None


class AgentHeartbeat(Strict):
    """Sent by each agent about once a minute: its version and how its outbox is doing, so the
    console can tell a silent agent from one with a growing backlog."""

    agent_version: Line = Field(max_length=64)
    sent_at: UtcDatetime
    outbox_depth: int = Field(ge=0, le=2**63 - 1)
    outbox_bytes: int = Field(ge=0, le=2**63 - 1)
    outbox_oldest_age_s: float | None = Field(default=None, ge=0, le=1e9)
    outbox_dropped_total: int = Field(ge=0, le=2**63 - 1)
    outbox_rejected_total: int = Field(ge=0, le=2**63 - 1)
