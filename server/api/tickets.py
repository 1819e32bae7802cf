"""Tickets: list, detail with history and SLA clocks, desk calls, transitions, the repair
record, the client's sign-off, and the satisfaction survey link."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.deps import Ctx, CurrentUser, DbSession, UserScope
from server.db import write_session
from server.errors import ForbiddenError, InvalidInputError
from server.faults.engine import KNOWN_CODES
from server.faults.picture import ticket_evidence
from server.models import (
    FaultEpisode,
    RepairPlan,
    Site,
    Ticket,
    TicketEvent,
    TicketSurvey,
)
from server.sla import SlaConfigError, ticket_clocks
from server.tenancy import Scope
from server.tickets import intake, repair, repair_plan, service
from server.tickets.intake import CallIn
from server.tickets.notify_link import diagnosis_clock
from server.tickets.policy import service_settings
from server.tickets.schemas import (
    CallBody,
    ClockOut,
    ConsentBody,
    ConsentOut,
    DiagnosisBody,
    EpisodeOut,
    EvidenceOut,
    OverrideBody,
    PauseBody,
    PlanBody,
    RepairPlanOut,
    RepairRecordOut,
    ResolveBody,
    SignOffBody,
    SlaOut,
    SurveyAnswer,
    SurveyLink,
    SurveyOut,
    TicketDetail,
    TicketEventOut,
    TicketOut,
    TransitionBody,
)
from server.tickets.service import Actor, SettingsLookup
from server.tickets.states import OPEN_STATES, TicketState, ticket_clock_start
from server.users import UserPrincipal
from wire.enums import Role
from wire.schema import ErrorBody
from wire.validation import RowId

router = APIRouter(prefix="/api/v1", tags=["tickets"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)
}
STAFF = (Role.ADMIN, Role.MANAGER, Role.TECHNICIAN, Role.DESK)


def _require(user: UserPrincipal, *roles: Role) -> Actor:
    if user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise ForbiddenError(f"role {user.role.value} may not do this (allowed: {allowed})")
    return Actor(user.username, user.user_id)


@router.get("/tickets", response_model=list[TicketOut], responses=ERRORS)
def list_tickets(
    scope: UserScope,
    session: DbSession,
    state: Annotated[list[TicketState] | None, Query()] = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    site_id: RowId | None = None,
    device_id: RowId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[TicketOut]:
    """Newest first; `open=true` for tickets not closed or cancelled."""
    query = scope.where_ticket(select(Ticket), Ticket.site_id, Ticket.assignee_id)
    if state:
        query = query.where(Ticket.state.in_([s.value for s in state]))
    if open_only:
        query = query.where(Ticket.state.in_([s.value for s in OPEN_STATES]))
    if site_id is not None:
        query = query.where(Ticket.site_id == site_id)
    if device_id is not None:
        query = query.where(Ticket.device_id == device_id)
    rows = session.scalars(query.order_by(Ticket.id.desc()).limit(limit))
    return [TicketOut.of(t) for t in rows]


@router.get("/tickets/{ticket_id}", response_model=TicketDetail, responses=ERRORS)
def get_ticket(ticket_id: RowId, scope: UserScope, session: DbSession) -> TicketDetail:
    ticket = service.get_ticket(session=session, ticket_id=ticket_id, scope=scope)
    return _detail(session, ticket, scope)


def _detail(session: Session, ticket: Ticket, scope: Scope) -> TicketDetail:
    """The ticket with every version of its repair record, its faults and its survey."""
    versions = repair.records_of(session=session, ticket_id=ticket.id)
    current = [r for r in versions if r.superseded_at is None]
    survey = session.get(TicketSurvey, ticket.id)
    episodes = session.scalars(
        select(FaultEpisode).where(FaultEpisode.ticket_id == ticket.id).order_by(FaultEpisode.id)
    )
    evidence_at, evidence = ticket_evidence(session=session, ticket=ticket)
    return TicketDetail(
        **TicketOut.of(ticket).model_dump(),
        repair=RepairRecordOut.of(current[-1]).seen_by(scope) if current else None,
        repair_versions=[RepairRecordOut.of(r).seen_by(scope) for r in versions],
        episodes=[EpisodeOut.of(e) for e in episodes],
        survey_rating=survey.rating if survey else None,
        **_path_of(session=session, ticket=ticket),
        survey=SurveyOut.of(survey) if survey and survey.submitted_at else None,
        evidence=[EvidenceOut(reason=e.reason, measures=e.measures, text=e.text) for e in evidence],
        evidence_at=evidence_at,
    )


def _path_of(*, session: Session, ticket: Ticket) -> dict[str, Any]:
    """The ticket's diagnosis and plan, the client's consents, and the tickets repeating it."""
    plan = session.get(RepairPlan, ticket.id)
    return {
        "plan": RepairPlanOut.of(plan) if plan else None,
        "consents": [
            ConsentOut.of(c) for c in repair_plan.consents_of(session=session, ticket_id=ticket.id)
        ],
        "repeated_by": list(
            session.scalars(
                select(Ticket.id).where(Ticket.repeat_of_id == ticket.id).order_by(Ticket.id)
            )
        ),
    }


@router.get("/tickets/{ticket_id}/events", response_model=list[TicketEventOut], responses=ERRORS)
def get_ticket_events(
    ticket_id: RowId, scope: UserScope, session: DbSession
) -> list[TicketEventOut]:
    """The audit trail, oldest first: who, when, from, to, note."""
    service.get_ticket(session=session, ticket_id=ticket_id, scope=scope)
    rows = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    )
    return [TicketEventOut.of(e).seen_by(scope) for e in rows]


@router.get("/tickets/{ticket_id}/sla", response_model=SlaOut, responses=ERRORS)
def get_ticket_sla(ticket_id: RowId, scope: UserScope, session: DbSession) -> SlaOut:
    """The clocks now: respond, on site, resolve, and an emergency's diagnosis (status,
    deadline, time remaining)."""
    ticket = service.get_ticket(session=session, ticket_id=ticket_id, scope=scope)
    site = session.get(Site, ticket.site_id)
    assert site is not None
    now = datetime.now(UTC)
    clock = diagnosis_clock(session=session, ticket=ticket, now=now)
    diagnose = ClockOut.of(clock) if clock is not None else None
    settings = service_settings(
        session=session, client_id=ticket.client_id, known_codes=KNOWN_CODES
    )
    try:
        clocks = ticket_clocks(
            settings.sla_policy,
            ticket.severity,
            site.zone,
            ticket_clock_start(ticket),
            settings.calendar(site.timezone),
            now,
            acknowledged_at=ticket.acknowledged_at,
            on_site_at=ticket.on_site_at,
            resolved_at=ticket.resolved_at,
            pauses=service.pauses_of(session=session, ticket_id=ticket.id),
        )
    except SlaConfigError as err:
        return SlaOut(
            policy=settings.sla_policy.name,
            zone=site.zone,
            started_at=ticket_clock_start(ticket),
            diagnose=diagnose,
            problem=str(err),
        )
    return SlaOut.of(
        policy=settings.sla_policy.name,
        zone=site.zone,
        started_at=ticket_clock_start(ticket),
        clocks=clocks,
        diagnose=diagnose,
    )


@router.post("/tickets", response_model=TicketOut, status_code=201, responses=ERRORS)
def log_call(body: CallBody, user: CurrentUser, scope: UserScope, ctx: Ctx) -> TicketOut:
    """The desk logs a client's call; about a device with an open ticket, it joins that one."""
    actor = _require(user, Role.ADMIN, Role.MANAGER, Role.DESK)
    now = datetime.now(UTC)
    if body.occurred_at is not None:
        problem = ctx.settings.time_window.problem(body.occurred_at, now)
        if problem is not None:
            raise InvalidInputError(problem, [{"field": "occurred_at", "message": problem}])
    call = CallIn(
        symptom=body.symptom,
        reporter=body.reporter,
        reporter_contact=body.reporter_contact,
        channel=body.channel,
        device_id=body.device_id,
        site_id=body.site_id,
        severity=body.severity,
        occurred_at=body.occurred_at,
    )
    with write_session(ctx.engine) as session:
        result = intake.log_call(
            session=session,
            call=call,
            settings_of=SettingsLookup(session, KNOWN_CODES),
            actor=actor,
            now=now,
            scope=scope,
        )
        return TicketOut.of(result.ticket)


@router.post("/tickets/{ticket_id}/transitions", response_model=TicketOut, responses=ERRORS)
def move_ticket(
    ticket_id: RowId, body: TransitionBody, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> TicketOut:
    """acknowledge, dispatch (with eta), on_site, cancel, close, reopen …; resolve has its own
    endpoint (it files the repair record)."""
    actor = _require(user, *STAFF)
    if body.to is TicketState.RESOLVED:
        raise ForbiddenError("resolve through POST /tickets/{id}/resolve with the repair record")
    with write_session(ctx.engine) as session:
        ticket = service.transition(
            session=session,
            ticket_id=ticket_id,
            target=body.to,
            actor=actor,
            now=datetime.now(UTC),
            note=body.note,
            eta=body.eta,
            assignee_id=body.assignee_id,
            scope=scope,
            team_sites=ctx.team_sites,
        )
        return TicketOut.of(ticket)


@router.post("/tickets/{ticket_id}/pause", response_model=TicketOut, responses=ERRORS)
def pause_ticket_clock(
    ticket_id: RowId, body: PauseBody, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> TicketOut:
    """Stop the SLA clock while waiting for the client (refused where the policy does not)."""
    actor = _require(user, *STAFF)
    with write_session(ctx.engine) as session:
        ticket = service.pause_clock(
            session=session,
            ticket_id=ticket_id,
            reason=body.reason,
            actor=actor,
            now=datetime.now(UTC),
            scope=scope,
        )
        return TicketOut.of(ticket)


@router.post("/tickets/{ticket_id}/resume", response_model=TicketOut, responses=ERRORS)
def resume_ticket_clock(
    ticket_id: RowId, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> TicketOut:
    actor = _require(user, *STAFF)
    with write_session(ctx.engine) as session:
        ticket = service.resume_clock(
            session=session, ticket_id=ticket_id, actor=actor, now=datetime.now(UTC), scope=scope
        )
        return TicketOut.of(ticket)


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketDetail, responses=ERRORS)
def resolve_ticket(
    ticket_id: RowId, body: ResolveBody, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> TicketDetail:
    actor = _require(user, Role.ADMIN, Role.MANAGER, Role.TECHNICIAN)
    with write_session(ctx.engine) as session:
        ticket = repair.resolve_with_record(
            session=session,
            ticket_id=ticket_id,
            record=body.record(),
            actor=actor,
            now=datetime.now(UTC),
            note=body.note,
            scope=scope,
            fault_override=body.fault_override,
        )
        session.flush()
        return _detail(session, ticket, scope)


@router.post("/tickets/{ticket_id}/diagnosis", response_model=RepairPlanOut, responses=ERRORS)
def diagnose(
    ticket_id: RowId, body: DiagnosisBody, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> RepairPlanOut:
    """Tech support's diagnosis: simple (fixed remotely) or complex (a plan, then a visit)."""
    actor = _require(user, Role.ADMIN, Role.MANAGER, Role.TECHNICIAN)
    with write_session(ctx.engine) as session:
        plan = repair_plan.diagnose(
            session=session, ticket_id=ticket_id, path=body.path, diagnosis=body.diagnosis,
            actor=actor, now=datetime.now(UTC), scope=scope,
        )  # fmt: skip
        return RepairPlanOut.of(plan)


@router.post("/tickets/{ticket_id}/plan", response_model=RepairPlanOut, responses=ERRORS)
def submit_plan(
    ticket_id: RowId, body: PlanBody, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> RepairPlanOut:
    """A complex fault's repair plan (a revision waits for approval again)."""
    actor = _require(user, Role.ADMIN, Role.MANAGER, Role.TECHNICIAN)
    with write_session(ctx.engine) as session:
        plan = repair_plan.submit_plan(
            session=session, ticket_id=ticket_id, plan_in=body.plan(), actor=actor,
            now=datetime.now(UTC), scope=scope,
        )  # fmt: skip
        return RepairPlanOut.of(plan)


@router.post("/tickets/{ticket_id}/plan/approve", response_model=RepairPlanOut, responses=ERRORS)
def approve_plan(ticket_id: RowId, user: CurrentUser, scope: UserScope, ctx: Ctx) -> RepairPlanOut:
    """A manager approves the plan; a complex fault is dispatched only after this."""
    actor = _require(user, Role.ADMIN, Role.MANAGER)
    with write_session(ctx.engine) as session:
        plan = repair_plan.approve_plan(
            session=session, ticket_id=ticket_id, actor=actor, now=datetime.now(UTC), scope=scope
        )
        return RepairPlanOut.of(plan)


@router.post(
    "/tickets/{ticket_id}/consents", response_model=ConsentOut, status_code=201, responses=ERRORS
)
def record_consent(
    ticket_id: RowId, body: ConsentBody, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> ConsentOut:
    """The client's consent to parts or extra work, recorded before the work is filed."""
    actor = _require(user, *STAFF)
    with write_session(ctx.engine) as session:
        consent = repair_plan.record_consent(
            session=session, ticket_id=ticket_id, scope_of_consent=body.scope,
            given_by=body.given_by, channel=body.channel, note=body.note, actor=actor,
            now=datetime.now(UTC), scope=scope,
        )  # fmt: skip
        session.flush()
        return ConsentOut.of(consent)


@router.post("/tickets/{ticket_id}/sign-off", response_model=TicketOut, responses=ERRORS)
def sign_off(
    ticket_id: RowId, body: SignOffBody, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> TicketOut:
    """The client signs the repair record: satisfied closes, not satisfied reopens. Staff may
    record a paper signature; a client user signs only its own tickets."""
    actor = _require(user, Role.CLIENT, Role.ADMIN, Role.MANAGER, Role.DESK)
    with write_session(ctx.engine) as session:
        ticket = repair.client_sign_off(
            session=session,
            ticket_id=ticket_id,
            name=body.name,
            satisfied=body.satisfied,
            comment=body.comment,
            actor=actor,
            now=datetime.now(UTC),
            scope=scope,
        )
        return TicketOut.of(ticket)


@router.post(
    "/tickets/{ticket_id}/close-without-signature", response_model=TicketDetail, responses=ERRORS
)
def close_without_signature(
    ticket_id: RowId, body: OverrideBody, user: CurrentUser, scope: UserScope, ctx: Ctx
) -> TicketDetail:
    """A manager closes a resolved ticket the client has not signed; the reason stays on the
    repair record, and the record counts as incomplete in the KPIs."""
    actor = _require(user, Role.ADMIN, Role.MANAGER)
    with write_session(ctx.engine) as session:
        ticket = repair.close_without_signature(
            session=session,
            ticket_id=ticket_id,
            reason=body.reason,
            actor=actor,
            now=datetime.now(UTC),
            scope=scope,
        )
        session.flush()
        return _detail(session, ticket, scope)


@router.post("/tickets/{ticket_id}/survey", response_model=SurveyLink, responses=ERRORS)
def send_survey(ticket_id: RowId, user: CurrentUser, scope: UserScope, ctx: Ctx) -> SurveyLink:
    """A new one-time survey link (one is sent to the client at closing); only its hash is
    stored, so it is shown once; the previous unanswered link stops working."""
    actor = _require(user, Role.ADMIN, Role.MANAGER, Role.DESK)
    with write_session(ctx.engine) as session:
        token = repair.create_survey(
            session=session, ticket_id=ticket_id, actor=actor, now=datetime.now(UTC), scope=scope
        )
    return SurveyLink(token=token, path=f"{repair.SURVEY_PATH}{token}")


@router.post("/surveys/{token}", status_code=204, responses=ERRORS)
def answer_survey(token: str, body: SurveyAnswer, ctx: Ctx) -> None:
    """No login: the token in the link is the credential, good for one answer until it
    expires (the same answer as the survey page's form)."""
    with write_session(ctx.engine) as session:
        repair.answer_survey(
            session=session,
            token=token,
            ratings=body.ratings(),
            comment=body.comment,
            now=datetime.now(UTC),
        )
