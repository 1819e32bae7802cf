"""Tables: tenancy (client → site → device), agent tokens, users, raw samples, current state.

Raw samples are history (pruned after the retention); `device_states` holds the current state,
so reads never scan history.
"""

from datetime import UTC, date, datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine


def sqlite_text(value: datetime) -> str:
    """How a UTC instant is stored on SQLite (SQLAlchemy's DATETIME layout, naive UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on PostgreSQL (timestamptz) and SQLite (text) alike.

    On SQLite the text is written and parsed here with isoformat/fromisoformat (C code), in
    SQLAlchemy's own layout (`2026-11-23 12:00:00.000000`, naive UTC), so values sort as text
    and ingest does not pay for the generic regex-based parser.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteUtcText())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return sqlite_text(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _SqliteUtcText(String):
    """DATETIME column on SQLite whose values UtcDateTime already turned into text."""

    __visit_name__ = "DATETIME"


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        UUID: Uuid(),
    }


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("client_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    zone: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Device(Base):
    """A device as the site's agent registered it; `ext_id` is the agent's id for it."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("site_id", "ext_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    ext_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    device_class: Mapped[str] = mapped_column(String(32))
    subsystem: Mapped[str] = mapped_column(String(32))
    protocol: Mapped[str] = mapped_column(String(16))
    parent_ext_id: Mapped[str | None] = mapped_column(String(64))
    vendor: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    serial: Mapped[str | None] = mapped_column(String(128))
    firmware: Mapped[str | None] = mapped_column(String(128))
    first_registered_at: Mapped[datetime]
    last_registered_at: Mapped[datetime]


class AgentToken(Base):
    """One agent credential, scoped to one site; only a SHA-256 of the secret is kept."""

    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    # In every access token and console session; bumped by logout, a new password or a new
    # role, which revokes all of them at once.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SampleRow(Base):
    """One raw probe result (~300 bytes), keyed by the agent's time-ordered UUIDv7."""

    __tablename__ = "samples"
    __table_args__ = (Index("ix_samples_device_id_ts", "device_id", "ts"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    # No FK constraint: checking it on every row costs insert speed, and ingest already
    # rejects samples for devices the token's site does not have.
    device_id: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime]
    received_at: Mapped[datetime]
    probe: Mapped[str] = mapped_column(String(16))
    reachable: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    checks: Mapped[dict[str, Any]]
    events: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    # A trap's sample: events only, no poll; its `reachable` says nothing about the device.
    events_only: Mapped[bool] = mapped_column(Boolean)


class DeviceState(Base):
    """The current state of one device, moved forward by ingest (latest sample wins).

    `checks` maps each check name to {"value", "changed_at", "updated_at"} (ISO 8601 UTC); one
    row per device keeps a 500-sample batch at one state write per device.
    """

    __tablename__ = "device_states"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    status_changed_at: Mapped[datetime | None]
    reachable: Mapped[bool | None] = mapped_column(Boolean)
    last_sample_at: Mapped[datetime | None]
    last_sample_id: Mapped[UUID | None]
    last_seen_at: Mapped[datetime | None]
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    checks: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


samples: Table = SampleRow.__table__  # type: ignore[assignment]  # declarative gives FromClause
device_states: Table = DeviceState.__table__  # type: ignore[assignment]  # same


# -- faults and tickets -----------------------------------------------------------------------


class FaultTrack(Base):
    """Where one device's one fault code stands between observations (`faults.episodes.Track`).

    Only tracks that are not idle are kept, so a healthy device costs no row.
    """

    __tablename__ = "fault_tracks"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class DetectWork(Base):
    """One committed ingest batch waiting for fault detection (the durable work queue).

    Written in the batch's own transaction, so a crash between commit and detection loses
    nothing; the detector merges a site's rows, reads their samples back by device, time
    range and `received_at`, and deletes the rows in the transaction that records the result.
    """

    __tablename__ = "detect_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime]
    ts_from: Mapped[datetime]
    ts_to: Mapped[datetime]
    devices: Mapped[list[int]] = mapped_column(JSON)


detect_queue: Table = DetectWork.__table__  # type: ignore[assignment]  # declarative gives FromClause


class FaultEpisode(Base):
    """One confirmed fault, from its first failing observation to its confirmed recovery.

    `open_key` equals `key` while the episode is open and is NULL once it closes: the unique
    constraint on it is what stops two replicas from opening the same fault twice.
    """

    __tablename__ = "fault_episodes"
    __table_args__ = (Index("ix_fault_episodes_site_id_code", "site_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(96))
    open_key: Mapped[str | None] = mapped_column(String(96), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    confirmed_at: Mapped[datetime]
    recovered_at: Mapped[datetime | None]
    last_failing_at: Mapped[datetime]
    occurrences: Mapped[int] = mapped_column(Integer)
    flapping: Mapped[bool] = mapped_column(Boolean)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    # Suppression: the parent's (or the incident's) episode this one is a consequence of.
    parent_episode_id: Mapped[int | None] = mapped_column(
        ForeignKey("fault_episodes.id", ondelete="SET NULL")
    )
    # Held without a ticket while this device's parent is failing but not yet confirmed.
    held_for_device_id: Mapped[int | None] = mapped_column(Integer)


class Ticket(Base):
    """One fault episode (or incident, or client call) from intake to close; see tickets/."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_state", "state"),
        Index("ix_tickets_client_id_created_at", "client_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Set while the ticket is not closed or cancelled: one open ticket per device and code.
    open_key: Mapped[str | None] = mapped_column(String(96), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    code: Mapped[str | None] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    symptom: Mapped[str] = mapped_column(String(2000))
    channel: Mapped[str] = mapped_column(String(16))
    reporter: Mapped[str] = mapped_column(String(200))
    reporter_contact: Mapped[str | None] = mapped_column(String(200))
    first_failure_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    eta: Mapped[datetime | None]
    on_site_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    recovered_at: Mapped[datetime | None]
    reopened_count: Mapped[int] = mapped_column(Integer)
    last_reopened_at: Mapped[datetime | None]
    occurrences: Mapped[int] = mapped_column(Integer)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    respond_by: Mapped[datetime | None]
    on_site_by: Mapped[datetime | None]
    resolve_by: Mapped[datetime | None]
    sla_policy: Mapped[str | None] = mapped_column(String(64))
    # An emergency's initial diagnosis is due (001 「1小时内完成初步诊断」).
    diagnose_by: Mapped[datetime | None]
    # The closed ticket of the same device and fault this one repeats (within 30 days).
    repeat_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )


class TicketEvent(Base):
    """The audit trail: every transition, merge and note (who, when, from, to, note)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(150))
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(2000))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class TicketPause(Base):
    """The SLA clock stopped while waiting for the client (only where the policy allows)."""

    __tablename__ = "ticket_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(2000))


class RepairRecord(Base):
    """What the technician did (seed §3.3 stage 3), and who signed it.

    One row per resolution: resolving again after a reopen adds a version and marks the earlier
    one superseded, so no record or signature is ever overwritten (002 「檔案修改、補充應作說明及
    版號」). A manager may close without the client's signature only with a reason, kept here.
    """

    __tablename__ = "repair_records"
    __table_args__ = (UniqueConstraint("ticket_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    superseded_at: Mapped[datetime | None]
    diagnosis: Mapped[str] = mapped_column(String(4000))
    cause_class: Mapped[str] = mapped_column(String(16))
    actions: Mapped[str] = mapped_column(String(4000))
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON())
    time_on_site_minutes: Mapped[int] = mapped_column(Integer)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    technician_name: Mapped[str] = mapped_column(String(150))
    technician_signed_at: Mapped[datetime]
    client_signed_name: Mapped[str | None] = mapped_column(String(200))
    client_signed_at: Mapped[datetime | None]
    client_satisfied: Mapped[bool | None] = mapped_column(Boolean)
    client_comment: Mapped[str | None] = mapped_column(String(2000))
    override_reason: Mapped[str | None] = mapped_column(String(2000))
    override_by: Mapped[str | None] = mapped_column(String(150))
    override_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class RepairPlan(Base):
    """The tech-support engineer's diagnosis and, for a complex fault, the repair plan (seed
    §3.3 stage 2: steps, tools and parts, estimated time), with the manager's approval."""

    __tablename__ = "repair_plans"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(16))  # simple | complex
    diagnosis: Mapped[str] = mapped_column(String(4000))
    diagnosed_by: Mapped[str] = mapped_column(String(150))
    diagnosed_at: Mapped[datetime]
    steps: Mapped[list[str]] = mapped_column(JSON())
    tools: Mapped[list[str]] = mapped_column(JSON())
    parts: Mapped[list[str]] = mapped_column(JSON())
    estimated_minutes: Mapped[int | None] = mapped_column(Integer)
    planned_by: Mapped[str | None] = mapped_column(String(150))
    planned_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(150))
    approved_at: Mapped[datetime | None]


class ClientConsent(Base):
    """The client agreed to parts being replaced or extra work being done (003 「需提前與客戶溝通并
    獲得同意」); recorded before the work, never edited."""

    __tablename__ = "client_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # parts | extra_work
    given_by: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(2000))
    recorded_by: Mapped[str] = mapped_column(String(150))
    at: Mapped[datetime]


class SignOffLink(Base):
    """A one-time link for the client to sign one version of the repair record; only the
    token's SHA-256 is kept, and it stops working once used or past `expires_at`."""

    __tablename__ = "signoff_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("repair_records.id", ondelete="CASCADE"), index=True
    )
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TicketSurvey(Base):
    """A satisfaction survey behind a one-time link; only the token's SHA-256 is kept.

    The four dimensions are 000's questionnaire (response time, repair quality, attitude,
    problem solving), each 1 to 5; `rating` is their mean, rounded half up."""

    __tablename__ = "ticket_surveys"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    response_time: Mapped[int | None] = mapped_column(Integer)
    repair_quality: Mapped[int | None] = mapped_column(Integer)
    attitude: Mapped[int | None] = mapped_column(Integer)
    problem_solving: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(2000))
    submitted_at: Mapped[datetime | None]


class ServicePolicy(Base):
    """A client's own service settings; absent fields fall back to the shipped defaults.

    `severity`: fault severity overrides (`code` or `code@class` → severity). `sla`: which SLA
    policy and calendar (`{"preset": name}` or `{"policy": {...}}`, plus optional `hours`,
    `weekdays`, `holidays`). `recovered_quiet_minutes`: how long a recovered ticket waits.
    """

    __tablename__ = "service_policies"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    severity: Mapped[dict[str, Any]]
    sla: Mapped[dict[str, Any]]
    recovered_quiet_minutes: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class HolidayYearRow(Base):
    """A country's statutory holiday list for one year, loaded by an admin (`load-holidays`);
    it adds to (or corrects) the lists shipped in `server/sla/holidays/`."""

    __tablename__ = "holiday_years"

    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(300))
    loaded_at: Mapped[datetime]


# -- status page -------------------------------------------------------------------------------


class UptimeDay(Base):
    """One device's seconds of up/down/unknown/maintenance/no data in one local day of its site."""

    __tablename__ = "uptime_days"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    up_s: Mapped[int] = mapped_column(Integer)
    down_s: Mapped[int] = mapped_column(Integer)
    unknown_s: Mapped[int] = mapped_column(Integer)
    maintenance_s: Mapped[int] = mapped_column(Integer)
    nodata_s: Mapped[int] = mapped_column(Integer)


class CheckDay(Base):
    """One device's numeric check over one UTC day (server/predict/rollup.py): what forecasts
    read instead of raw samples, kept `predict_history_days`. `part` is the device's serial
    when rolled up ('' when unknown); a new serial starts a new row."""

    __tablename__ = "check_days"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    check: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    part: Mapped[str] = mapped_column(String(128), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    mean: Mapped[float] = mapped_column(Float)
    last: Mapped[float] = mapped_column(Float)
    last_ts: Mapped[datetime]
    delta: Mapped[float] = mapped_column(Float)
    resets: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)


class SubsystemDay(Base):
    """The same sums per site, subsystem and day: what a 90-day status page reads (O(days))."""

    __tablename__ = "subsystem_days"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    subsystem: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    devices: Mapped[int] = mapped_column(Integer)
    up_s: Mapped[int] = mapped_column(Integer)
    down_s: Mapped[int] = mapped_column(Integer)
    unknown_s: Mapped[int] = mapped_column(Integer)
    maintenance_s: Mapped[int] = mapped_column(Integer)
    nodata_s: Mapped[int] = mapped_column(Integer)


class MaintenanceWindow(Base):
    """Planned work on a site: excluded from uptime and announced on the status page."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (Index("ix_maintenance_windows_site_id_starts_at", "site_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class StatusPage(Base):
    """A client's status page settings: the share link (only its SHA-256) and the contact card."""

    __tablename__ = "status_pages"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    link_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_created_at: Mapped[datetime | None]
    # {"name", "phone", "email", "hours", "show_phone": bool}; the phone is shown only if asked.
    contact: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class AgentHeartbeatRow(Base):
    """The latest heartbeat of each agent token: version and outbox health, for the console."""

    __tablename__ = "agent_heartbeats"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("agent_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    agent_version: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime]
    received_at: Mapped[datetime]
    outbox_depth: Mapped[int] = mapped_column(BigInteger)
    outbox_bytes: Mapped[int] = mapped_column(BigInteger)
    outbox_oldest_age_s: Mapped[float | None] = mapped_column(Float)
    outbox_dropped_total: Mapped[int] = mapped_column(BigInteger)
    outbox_rejected_total: Mapped[int] = mapped_column(BigInteger)


class AgentCommandRow(Base):
    """An operator's request for a site's agent (`wire.enums.CommandKind`), kept after it ran:
    who asked, when, and when the agent acknowledged it (the audit trail of the action)."""

    __tablename__ = "agent_commands"
    __table_args__ = (Index("ix_agent_commands_site_id_acked_at", "site_id", "acked_at"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]


# Tables of domain packages, registered on Base.metadata (imported last: they import Base).
# The inspection tables are not imported here: inspections build on tickets, and importing them
# would make every room that reads a model reach ticket intake. Whoever needs the whole schema
# imports `server.schema`.
from server.notify import models as _notify_models  # noqa: E402, F401
