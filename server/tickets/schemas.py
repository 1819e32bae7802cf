"""What the ticket, fault and KPI endpoints take and answer (pydantic; no FastAPI here)."""

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from server.models import FaultEpisode
from server.sla import ClockState, TicketClocks
from server.tenancy import Scope
from server.tickets.kpis import Kpis, Ratio
from server.tickets.repair import CauseClass, PartIn, Ratings, RepairIn
from server.tickets.repair_plan import ConsentScope, PlanIn
from server.tickets.states import Channel, RepairPath, TicketState
from wire.validation import Bool, Line, RowId, Timestamp, check_text
from wire.validation import Text as FreeText


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _RowOut(BaseModel):
    """An answer whose fields all have the same names on the ORM row it is read from."""

    @classmethod
    def of(cls, row: object) -> Self:
        return cls.model_validate({name: getattr(row, name) for name in cls.model_fields})


class CallBody(_In):
    """A client's call as the desk logs it (seed §3.2): who, how to reach them, what, when."""

    symptom: FreeText = Field(min_length=1, max_length=2000)
    reporter: Line = Field(min_length=1, max_length=200)
    reporter_contact: Line | None = Field(default=None, max_length=200)
    channel: Channel = Channel.PHONE
    device_id: RowId | None = None
    site_id: RowId | None = None
    severity: str | None = Field(default=None, pattern="^(emergency|general)$")
    # Within the server's time window (checked where the call is logged, against its clock).
    occurred_at: Timestamp | None = None


class TransitionBody(_In):
    to: TicketState
    note: FreeText | None = Field(default=None, max_length=2000)
    eta: Timestamp | None = None
    assignee_id: RowId | None = None


class PauseBody(_In):
    reason: FreeText = Field(min_length=1, max_length=2000)


class PartBody(_In):
    name: Line = Field(min_length=1, max_length=200)
    device_id: RowId | None = None
    old_serial: Line | None = Field(default=None, max_length=128)
    new_serial: Line | None = Field(default=None, max_length=128)


# Constraints and the control check side by side: nested in another Annotated, pydantic drops
# the outer string constraints.
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    AfterValidator(check_text),
]


class ResolveBody(_In):
    """The repair record (seed §3.3): filed and signed by the technician who resolves. The one
    validation of a record, for the API and the console's form alike. `fault_override` says
    why it is resolved while monitoring still sees its fault."""

    diagnosis: Text
    cause_class: CauseClass
    actions: Text
    time_on_site_minutes: int = Field(ge=0, le=100_000)
    parts: list[PartBody] = Field(default_factory=list, max_length=100)
    note: FreeText | None = Field(default=None, max_length=2000)
    fault_override: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
            AfterValidator(check_text),
        ]
        | None
    ) = None

    def record(self) -> RepairIn:
        return RepairIn(
            diagnosis=self.diagnosis,
            cause_class=self.cause_class,
            actions=self.actions,
            time_on_site_minutes=self.time_on_site_minutes,
            parts=tuple(
                PartIn(
                    name=p.name,
                    device_id=p.device_id,
                    old_serial=p.old_serial,
                    new_serial=p.new_serial,
                )
                for p in self.parts
            ),
        )


class SignOffBody(_In):
    name: Line = Field(min_length=1, max_length=200)
    satisfied: Bool
    # Required when not satisfied: what is still wrong.
    comment: FreeText | None = Field(default=None, max_length=2000)


class OverrideBody(_In):
    """A manager closes a resolved ticket without the client's signature, saying why."""

    reason: FreeText = Field(min_length=1, max_length=2000)


class SurveyAnswer(_In):
    """000's four dimensions, each 1 (poor) to 5 (very good), and a free comment."""

    response_time: int = Field(ge=1, le=5)
    repair_quality: int = Field(ge=1, le=5)
    attitude: int = Field(ge=1, le=5)
    problem_solving: int = Field(ge=1, le=5)
    comment: FreeText | None = Field(default=None, max_length=2000)

    def ratings(self) -> Ratings:
        return Ratings(
            response_time=self.response_time,
            repair_quality=self.repair_quality,
            attitude=self.attitude,
            problem_solving=self.problem_solving,
        )


class SurveyLink(BaseModel):
    token: str
    path: str


class ServicePolicyBody(_In):
    severity: dict[str, str] = Field(default_factory=dict)
    sla: dict[str, Any] = Field(default_factory=dict)
    recovered_quiet_minutes: int | None = Field(default=None, ge=1, le=100_000)


class TicketOut(_RowOut):
    id: int
    kind: str
    state: str
    severity: str
    client_id: int
    site_id: int
    device_id: int | None
    code: str | None
    system: str | None
    title: str
    symptom: str
    channel: str
    reporter: str
    reporter_contact: str | None
    first_failure_at: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    dispatched_at: datetime | None
    eta: datetime | None
    on_site_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    recovered_at: datetime | None
    reopened_count: int
    occurrences: int
    assignee_id: int | None
    respond_by: datetime | None
    on_site_by: datetime | None
    resolve_by: datetime | None
    sla_policy: str | None
    diagnose_by: datetime | None
    repeat_of_id: int | None


class DiagnosisBody(_In):
    """The tech-support engineer's diagnosis and the path it sets (000 stage 2)."""

    path: RepairPath
    diagnosis: Text


Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class PlanBody(_In):
    """A complex fault's repair plan: steps, tools, parts, estimated time (000 stage 2)."""

    steps: list[Item] = Field(min_length=1, max_length=100)
    tools: list[Item] = Field(default_factory=list, max_length=100)
    parts: list[Item] = Field(default_factory=list, max_length=100)
    estimated_minutes: int = Field(ge=1, le=100_000)

    def plan(self) -> PlanIn:
        return PlanIn(
            steps=tuple(self.steps),
            tools=tuple(self.tools),
            parts=tuple(self.parts),
            estimated_minutes=self.estimated_minutes,
        )


class ConsentBody(_In):
    """The client agreed to parts or extra work: who, how, what was said."""

    scope: ConsentScope
    given_by: str = Field(min_length=1, max_length=200)
    channel: Channel = Channel.PHONE
    note: str | None = Field(default=None, max_length=2000)


class RepairPlanOut(_RowOut):
    path: str
    diagnosis: str
    diagnosed_by: str
    diagnosed_at: datetime
    steps: list[str]
    tools: list[str]
    parts: list[str]
    estimated_minutes: int | None
    planned_by: str | None
    planned_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None


class ConsentOut(_RowOut):
    id: int
    scope: str
    given_by: str
    channel: str
    note: str | None
    recorded_by: str
    at: datetime


class TicketEventOut(_RowOut):
    id: int
    at: datetime
    actor: str
    actor_id: int | None
    kind: str
    from_state: str | None
    to_state: str | None
    note: str | None
    data: dict[str, Any] | None

    def seen_by(self, scope: Scope) -> Self:
        """Without the staff's note and audit data for a viewer who may not see them."""
        return (
            self if scope.sees_internals else self.model_copy(update={"note": None, "data": None})
        )


class RepairRecordOut(_RowOut):
    """One version of the repair record; `superseded_at` is set once a later resolution
    replaced it (the version and its signature stay on file)."""

    version: int
    superseded_at: datetime | None
    diagnosis: str
    cause_class: str
    actions: str
    parts: list[dict[str, Any]]
    time_on_site_minutes: int
    technician_id: int | None
    technician_name: str
    technician_signed_at: datetime
    client_signed_name: str | None
    client_signed_at: datetime | None
    client_satisfied: bool | None
    client_comment: str | None
    override_reason: str | None
    override_by: str | None
    override_at: datetime | None

    def seen_by(self, scope: Scope) -> Self:
        """Parts without their serials for a viewer who may not see them."""
        if scope.sees_internals:
            return self
        parts = [{k: v for k, v in p.items() if not k.endswith("serial")} for p in self.parts]
        return self.model_copy(update={"parts": parts})


class SurveyOut(_RowOut):
    rating: int | None
    response_time: int | None
    repair_quality: int | None
    attitude: int | None
    problem_solving: int | None
    comment: str | None
    submitted_at: datetime | None


class EpisodeOut(BaseModel):
    id: int
    site_id: int
    device_id: int | None
    code: str
    severity: str
    open: bool
    started_at: datetime
    confirmed_at: datetime
    recovered_at: datetime | None
    occurrences: int
    flapping: bool
    ticket_id: int | None
    parent_episode_id: int | None

    @classmethod
    def of(cls, e: FaultEpisode) -> "EpisodeOut":
        fields = {name: getattr(e, name) for name in cls.model_fields if name != "open"}
        return cls.model_validate({**fields, "open": e.open_key is not None})


class ClockOut(BaseModel):
    status: str
    deadline: datetime
    remaining_seconds: float
    elapsed_fraction: float
    paused: bool

    @classmethod
    def of(cls, c: ClockState) -> "ClockOut":
        return cls(
            status=c.status.value,
            deadline=c.deadline,
            remaining_seconds=c.remaining.total_seconds(),
            elapsed_fraction=c.elapsed_fraction,
            paused=c.paused,
        )


class SlaOut(BaseModel):
    policy: str | None
    zone: str
    started_at: datetime
    respond: ClockOut | None = None
    on_site: ClockOut | None = None
    resolve: ClockOut | None = None
    # An emergency's initial diagnosis (001: within 1 h); None for other tickets.
    diagnose: ClockOut | None = None
    problem: str | None = None

    @classmethod
    def of(
        cls,
        *,
        policy: str,
        zone: str,
        started_at: datetime,
        clocks: TicketClocks,
        diagnose: ClockOut | None,
    ) -> "SlaOut":
        return cls(
            policy=policy,
            zone=zone,
            started_at=started_at,
            respond=ClockOut.of(clocks.respond),
            on_site=ClockOut.of(clocks.on_site),
            resolve=ClockOut.of(clocks.resolve),
            diagnose=diagnose,
        )


class EvidenceOut(BaseModel):
    """One reason of an abnormal picture with the measures behind it."""

    reason: str
    measures: dict[str, float]
    text: str


class TicketDetail(TicketOut):
    repair: RepairRecordOut | None = Field(default=None, description="The current version.")
    repair_versions: list[RepairRecordOut] = Field(
        default_factory=list, description="Every version of the record, oldest first."
    )
    episodes: list[EpisodeOut] = Field(default_factory=list)
    survey_rating: int | None = None
    plan: RepairPlanOut | None = None
    consents: list[ConsentOut] = Field(default_factory=list)
    repeated_by: list[int] = Field(default_factory=list)  # later tickets repeating this fault
    survey: SurveyOut | None = None
    # A picture fault's reasons and measures, from the first snapshot judged abnormal.
    evidence: list[EvidenceOut] = Field(default_factory=list)
    evidence_at: datetime | None = None


class RatioOut(BaseModel):
    value: float | None
    numerator: int
    denominator: int

    @classmethod
    def of(cls, r: Ratio) -> "RatioOut":
        return cls(value=r.value, numerator=r.numerator, denominator=r.denominator)


class KpiOut(BaseModel):
    group: str
    key: int | None
    month: str
    tickets: int
    response_timeliness: RatioOut
    on_site_timeliness: RatioOut
    repair_success: RatioOut
    mtta_minutes: float | None
    mttr_minutes: float | None
    record_completeness: RatioOut
    closed_without_signature: int
    satisfaction_mean: float | None
    satisfaction_share: RatioOut
    response_pending: int
    without_deadline: int
    recovered_unattended: int

    @classmethod
    def of(cls, *, group: str, key: int | None, month: str, k: Kpis) -> "KpiOut":
        return cls(
            group=group,
            key=key,
            month=month,
            tickets=k.tickets,
            response_timeliness=RatioOut.of(k.response_timeliness),
            on_site_timeliness=RatioOut.of(k.on_site_timeliness),
            repair_success=RatioOut.of(k.repair_success),
            mtta_minutes=k.mtta_minutes,
            mttr_minutes=k.mttr_minutes,
            record_completeness=RatioOut.of(k.record_completeness),
            closed_without_signature=k.closed_without_signature,
            satisfaction_mean=k.satisfaction_mean,
            satisfaction_share=RatioOut.of(k.satisfaction_share),
            response_pending=k.response_pending,
            without_deadline=k.without_deadline,
            recovered_unattended=k.recovered_unattended,
        )
