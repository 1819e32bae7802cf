"""The service team's console and the client's logged-in status page: server-rendered HTML
with cookie sessions, CSRF-checked forms and role checks on every route."""

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Cookie, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.deps import AppContext, Ctx, DbSession
from server.api.kpis import _month_start, _next_month
from server.console.pages import (
    Filters,
    device_rows,
    queue,
    recent_samples,
    site_rows,
    ticket_page,
)
from server.console.session import (
    COOKIE,
    ConsoleSession,
    LoginLimiter,
    csrf_ok,
    issue_session,
    read_session,
)
from server.db import write_session
from server.errors import (
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
)
from server.models import Client, Device, FaultEpisode, Site, User
from server.predict.chart import render_svg
from server.predict.job import device_forecasts, params_of
from server.predict.kpis import preventive_counts
from server.predict.store import day_number
from server.status.query import status_view
from server.status.render import render_status
from server.status.words import Words, pick_language
from server.tenancy import Scope, scope_of
from server.tickets import repair, repair_plan, service
from server.tickets.kpi_query import ticket_facts
from server.tickets.kpis import KpiGroup, grouped, kpi_targets, standing
from server.tickets.repair import CauseClass
from server.tickets.repair_plan import ConsentScope
from server.tickets.schemas import ConsentBody, DiagnosisBody, PlanBody, ResolveBody
from server.tickets.states import TRANSITIONS, WORK_STATES, Channel, RepairPath, TicketState
from server.users import UserPrincipal, authenticate_user
from wire.enums import Role

router = APIRouter(prefix="/console", include_in_schema=False)
STAFF = frozenset({Role.ADMIN, Role.MANAGER, Role.DESK, Role.TECHNICIAN})
SESSION_TTL = timedelta(hours=12)
LOGIN_CSRF = "secmon_login_csrf"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
        " img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
}
ACTIONS: dict[str, TicketState] = {
    "acknowledge": TicketState.ACKNOWLEDGED,
    "dispatch": TicketState.DISPATCHED,
    "on_site": TicketState.ON_SITE,
    "cancel": TicketState.CANCELLED,
    "close": TicketState.CLOSED,
    "reopen": TicketState.REOPENED,
}
# The ticket page's forms that move a ticket, resolve included (it files the record too).
MOVES: dict[str, TicketState] = {**ACTIONS, "resolve": TicketState.RESOLVED}
LIMITER_KEY = "console_login_limiter"
STATES = frozenset(s.value for s in TicketState)


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("server.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda at: at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else ""
    env.filters["iso"] = lambda at: at.astimezone(UTC).isoformat() if at else ""
    env.filters["pct"] = lambda v: "-" if v is None else f"{int(v * 10000) / 100:.2f} %"
    return env


def _page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env().get_template(name).render(**values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _limiter(request: Request) -> LoginLimiter:
    limiter: LoginLimiter | None = getattr(request.app.state, LIMITER_KEY, None)
    if limiter is None:
        limiter = LoginLimiter()
        setattr(request.app.state, LIMITER_KEY, limiter)
    return limiter


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _safe_next(target: str | None, default: str) -> str:
    """Only our own pages: an open redirect after login is a phishing tool."""
    if target and target.startswith(("/console", "/status")) and "//" not in target:
        return target
    return default


def _user(session: Session, username: str) -> UserPrincipal | None:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        return None
    return UserPrincipal(
        user_id=user.id, username=user.username, role=Role(user.role), client_id=user.client_id
    )


class Viewer:
    """The logged-in person on a console page, with what they may see."""

    def __init__(self, principal: UserPrincipal, session: ConsoleSession, scope: Scope) -> None:
        self.principal = principal
        self.session = session
        self.scope = scope

    @property
    def is_staff(self) -> bool:
        return self.principal.role in STAFF


def _viewer(request: Request, ctx: AppContext, session: Session) -> Viewer | None:
    cookie = request.cookies.get(COOKIE)
    console_session = read_session(cookie, secret_key=ctx.secret_key)
    if console_session is None:
        return None
    principal = _user(session, console_session.username)
    if principal is None:
        return None
    scope = scope_of(session=session, user=principal, team_sites=ctx.team_sites)
    return Viewer(principal, console_session, scope)


def _login_redirect(request: Request) -> RedirectResponse:
    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return RedirectResponse(f"/console/login?next={target}", status_code=303)


def _forbidden(viewer: Viewer) -> HTMLResponse:
    return _page("message.html", 403, viewer=viewer, title="Not allowed",
                 message="Your role cannot open this page.")  # fmt: skip


def _not_found(viewer: Viewer) -> HTMLResponse:
    return _page("message.html", 404, viewer=viewer, title="Not found",
                 message="There is no such page, or it is not yours to see.")  # fmt: skip


StaffPage = Callable[[Viewer], Response]


def _staff(request: Request, ctx: AppContext, session: Session, render: StaffPage) -> Response:
    viewer = _viewer(request, ctx, session)
    if viewer is None:
        return _login_redirect(request)
    if not viewer.is_staff:
        return _forbidden(viewer)
    return render(viewer)


# -- login ---------------------------------------------------------------------------------


@cache
def _script() -> bytes:
    return (Path(__file__).resolve().parents[1] / "console" / "static" / "console.js").read_bytes()


@router.get("/static/console.js")
def console_script() -> Response:
    return Response(
        _script(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(next_: Annotated[str | None, Query(alias="next")] = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = _page("login.html", csrf=token, next=_safe_next(next_, ""), error=None)
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.post("/login")
def login(
    request: Request,
    ctx: Ctx,
    session: DbSession,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=100)],
    next_: Annotated[str, Form(alias="next", max_length=500)] = "",
    login_csrf: Annotated[str | None, Cookie(alias=LOGIN_CSRF)] = None,
) -> Response:
    now = datetime.now(UTC)
    address = request.client.host if request.client else "?"
    limiter = _limiter(request)

    def again(error: str, status: int) -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        response = _page("login.html", status, csrf=token, next=next_, error=error)
        response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", max_age=3600)
        return response

    if login_csrf is None or not secrets.compare_digest(login_csrf, csrf):
        return again("The form expired. Please try again.", 400)
    wait = limiter.retry_after(username=username, address=address, now=now)
    if wait is not None:
        response = again("Too many failed logins. Please wait a few minutes.", 429)
        response.headers["Retry-After"] = str(int(wait.total_seconds()) + 1)
        return response
    try:
        principal = authenticate_user(session=session, username=username, password=password)
    except UnauthorizedError:
        limiter.failed(username=username, address=address, now=now)
        return again("Wrong username or password.", 401)
    limiter.succeeded(username=username)
    default = "/console" if principal.role in STAFF else "/console/status"
    redirect = RedirectResponse(_safe_next(next_, default), status_code=303)
    cookie = issue_session(
        username=principal.username, secret_key=ctx.secret_key, ttl=SESSION_TTL, now=now
    )
    redirect.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
    )
    redirect.delete_cookie(LOGIN_CSRF)
    return redirect


@router.post("/logout")
def logout(
    request: Request, ctx: Ctx, session: DbSession, csrf: Annotated[str, Form()] = ""
) -> Response:
    viewer = _viewer(request, ctx, session)
    if viewer is not None and not csrf_ok(viewer.session, csrf):
        return _page("message.html", 400, viewer=viewer, title="Form expired",
                     message="Please reload the page and try again.")  # fmt: skip
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- the client's own status page ---------------------------------------------------------


@router.get("/status", response_class=HTMLResponse)
def own_status(
    request: Request,
    ctx: Ctx,
    session: DbSession,
    lang: Annotated[str | None, Query()] = None,
    cookie_lang: Annotated[str | None, Cookie(alias="secmon_lang")] = None,
    accept_language: Annotated[str | None, Header()] = None,
    client_id: int | None = None,
) -> Response:
    viewer = _viewer(request, ctx, session)
    if viewer is None:
        return _login_redirect(request)
    if viewer.principal.role is Role.CLIENT:
        target = viewer.principal.client_id
    elif viewer.principal.role in {Role.ADMIN, Role.MANAGER, Role.DESK} and client_id:
        target = client_id
    else:
        return _forbidden(viewer)
    if target is None:
        return _not_found(viewer)
    words = Words(pick_language(query=lang, cookie=cookie_lang, accept_language=accept_language))
    try:
        view = status_view(session=session, client_id=target, words=words, now=datetime.now(UTC))
    except LookupError:
        return _not_found(viewer)
    response = HTMLResponse(render_status(view, words, shared=False), headers=HEADERS)
    if lang == words.language:
        response.set_cookie("secmon_lang", lang, max_age=365 * 86400, samesite="lax")
    return response


# -- queue and tickets ---------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    ctx: Ctx,
    session: DbSession,
    site: str | None = None,
    severity: str | None = None,
    state: str | None = None,
    assignee: str | None = None,
) -> Response:
    def render(viewer: Viewer) -> Response:
        now = datetime.now(UTC)
        filters = Filters(
            site_id=_int(site),
            severity=severity or None,
            state=TicketState(state) if state in STATES else None,
            assignee_id=_int(assignee),
        )
        rows = queue(session=session, scope=viewer.scope, filters=filters, now=now)
        sites_query = viewer.scope.where_site(
            select(Site.id, Site.name).order_by(Site.name), Site.id
        )
        people = session.execute(
            select(User.id, User.username)
            .where(User.role.in_([Role.TECHNICIAN.value, Role.MANAGER.value]))
            .order_by(User.username)
        ).all()
        return _page(
            "queue.html",
            viewer=viewer,
            rows=rows,
            filters=filters,
            sites=session.execute(sites_query).all(),
            people=people,
            states=[s.value for s in TicketState],
            now=now,
        )

    return _staff(request, ctx, session, render)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_view(
    ticket_id: int, request: Request, ctx: Ctx, session: DbSession, error: str | None = None
) -> Response:
    def render(viewer: Viewer) -> Response:
        try:
            page = ticket_page(
                session=session,
                ticket_id=ticket_id,
                scope=viewer.scope,
                now=datetime.now(UTC),
                team_sites=ctx.team_sites,
            )
        except LookupError:
            return _not_found(viewer)
        return _page(
            "ticket.html",
            viewer=viewer,
            page=page,
            error=error,
            causes=[c.value for c in CauseClass],
            moves=offered(TicketState(page.ticket.state)),
            working=page.ticket.state in {s.value for s in WORK_STATES},
            paths=[p.value for p in RepairPath],
            consent_scopes=[c.value for c in ConsentScope],
            channels=[c.value for c in Channel if c is not Channel.MONITORING],
            part_rows=range(PART_ROWS),
        )

    return _staff(request, ctx, session, render)


def offered(state: TicketState) -> frozenset[str]:
    """The ticket page's move forms the flow allows from `state` (from the transition table)."""
    return frozenset(name for name, target in MOVES.items() if target in TRANSITIONS[state])


@router.post("/tickets/{ticket_id}")
def ticket_action(
    ticket_id: int,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    action: Annotated[str, Form(max_length=32)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    eta: Annotated[str, Form(max_length=40)] = "",
    assignee_id: Annotated[str, Form(max_length=20)] = "",
    diagnosis: Annotated[str, Form(max_length=4000)] = "",
    cause_class: Annotated[str, Form(max_length=32)] = "",
    actions: Annotated[str, Form(max_length=4000)] = "",
    minutes: Annotated[str, Form(max_length=10)] = "",
    fault_override: Annotated[str, Form(max_length=2000)] = "",
    tz_offset: Annotated[str, Form(max_length=10)] = "",
    part_name: Annotated[list[str] | None, Form()] = None,
    part_old: Annotated[list[str] | None, Form()] = None,
    part_new: Annotated[list[str] | None, Form()] = None,
    part_device: Annotated[list[str] | None, Form()] = None,
    path: Annotated[str, Form(max_length=16)] = "",
    steps: Annotated[str, Form(max_length=20_000)] = "",
    tools: Annotated[str, Form(max_length=20_000)] = "",
    parts: Annotated[str, Form(max_length=20_000)] = "",
    scope: Annotated[str, Form(max_length=16)] = "",
    given_by: Annotated[str, Form(max_length=200)] = "",
    channel: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    def act(viewer: Viewer) -> Response:
        if not csrf_ok(viewer.session, csrf):
            return _page("message.html", 400, viewer=viewer, title="Form expired",
                         message="Please reload the page and try again.")  # fmt: skip
        try:
            service.get_ticket(session=session, ticket_id=ticket_id, scope=viewer.scope)
        except NotFoundError:
            return _not_found(viewer)
        session.rollback()
        actor = service.Actor(viewer.principal.username, viewer.principal.user_id)
        now = datetime.now(UTC)
        try:
            with write_session(ctx.engine) as tx:
                if action == "resolve":
                    if viewer.principal.role is Role.DESK:
                        raise_forbidden()
                    body = _resolve_body(
                        diagnosis=diagnosis,
                        cause_class=cause_class,
                        actions=actions,
                        minutes=minutes,
                        note=note,
                        fault_override=fault_override,
                        parts=_part_rows(part_name, part_old, part_new, part_device),
                    )
                    repair.resolve_with_record(
                        session=tx,
                        ticket_id=ticket_id,
                        record=body.record(),
                        actor=actor,
                        now=now,
                        note=body.note,
                        scope=viewer.scope,
                        fault_override=body.fault_override,
                    )
                elif action in PATH_ACTIONS:
                    _path_action(
                        tx, viewer, action, ticket_id=ticket_id, actor=actor, now=now,
                        form={"path": path, "diagnosis": diagnosis, "steps": steps,
                              "tools": tools, "parts": parts, "minutes": minutes, "scope": scope,
                              "given_by": given_by, "channel": channel, "note": note},
                    )  # fmt: skip
                elif action == "close_without_signature":
                    if viewer.principal.role not in (Role.ADMIN, Role.MANAGER):
                        raise ForbiddenError("only a manager closes without the client's signature")
                    repair.close_without_signature(
                        session=tx,
                        ticket_id=ticket_id,
                        reason=note,
                        actor=actor,
                        now=now,
                        scope=viewer.scope,
                    )
                elif action == "reassign":
                    service.reassign(
                        session=tx,
                        ticket_id=ticket_id,
                        assignee_id=_int(assignee_id),
                        actor=actor,
                        now=now,
                        note=note or None,
                        scope=viewer.scope,
                        team_sites=ctx.team_sites,
                    )
                elif action in ACTIONS:
                    service.transition(
                        session=tx,
                        ticket_id=ticket_id,
                        target=ACTIONS[action],
                        actor=actor,
                        now=now,
                        note=note or None,
                        eta=_local_time(eta, tz_offset),
                        assignee_id=_int(assignee_id),
                        scope=viewer.scope,
                        team_sites=ctx.team_sites,
                    )
                else:
                    raise DomainError(f"unknown action {action!r}")
        except (DomainError, ValueError) as err:
            message = str(err) or "That did not work."
            return RedirectResponse(
                f"/console/tickets/{ticket_id}?error={quote(message[:300])}", status_code=303
            )
        return RedirectResponse(f"/console/tickets/{ticket_id}", status_code=303)

    return _staff(request, ctx, session, act)


M = TypeVar("M", bound=BaseModel)


def _resolve_body(
    *, diagnosis: str, cause_class: str, actions: str, minutes: str, note: str,
    fault_override: str, parts: list[dict[str, Any]],
) -> ResolveBody:  # fmt: skip
    """The form's repair record through the API's own validation; InvalidInputError names
    the fields that are wrong."""
    return _validated(
        ResolveBody,
        {
            "diagnosis": diagnosis,
            "cause_class": cause_class,
            "actions": actions,
            "time_on_site_minutes": minutes,
            "note": note or None,
            "fault_override": fault_override or None,
            "parts": parts,
        },
    )


def _validated(model: type[M], data: dict[str, Any]) -> M:
    """A form through the API's own body model; InvalidInputError names the wrong fields."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = [(_form_name(e["loc"]), e["msg"]) for e in err.errors()]
        raise InvalidInputError(
            "; ".join(f"{name}: {message}" for name, message in problems),
            [{"field": name, "message": message} for name, message in problems],
        ) from err


# The resolve form's part rows (no JavaScript: a fixed number of blank rows).
PART_ROWS = 3


def _part_rows(
    names: list[str] | None,
    old: list[str] | None,
    new: list[str] | None,
    device: list[str] | None,
) -> list[dict[str, Any]]:
    """The filled part rows of the resolve form as the API's parts (blank rows skipped)."""
    rows = []
    columns = [names or [], old or [], new or [], device or []]
    for i, name in enumerate(columns[0]):
        old_serial, new_serial, device_id = (c[i] if i < len(c) else "" for c in columns[1:])
        if not (name.strip() or old_serial.strip() or new_serial.strip()):
            continue
        rows.append(
            {
                "name": name.strip(),
                "old_serial": old_serial.strip() or None,
                "new_serial": new_serial.strip() or None,
                "device_id": _int(device_id),
            }
        )
    return rows


PATH_ACTIONS = frozenset({"diagnose", "plan", "approve_plan", "consent"})


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _path_action(
    tx: Session, viewer: Viewer, action: str, *, ticket_id: int, actor: service.Actor,
    now: datetime, form: dict[str, str],
) -> None:  # fmt: skip
    """The repair path's forms (diagnosis, plan, approval, consent) through the API's bodies;
    the roles are the API's: tech support diagnoses and plans, a manager approves."""
    role, scope = viewer.principal.role, viewer.scope
    if action == "consent":
        body = _validated(ConsentBody, {"scope": form["scope"], "given_by": form["given_by"],
                                        "channel": form["channel"] or "phone",
                                        "note": form["note"] or None})  # fmt: skip
        repair_plan.record_consent(
            session=tx, ticket_id=ticket_id, scope_of_consent=body.scope, given_by=body.given_by,
            channel=body.channel, note=body.note, actor=actor, now=now, scope=scope,
        )  # fmt: skip
    elif action == "approve_plan":
        if role not in (Role.MANAGER, Role.ADMIN):
            raise ForbiddenError("a manager approves a repair plan")
        repair_plan.approve_plan(session=tx, ticket_id=ticket_id, actor=actor, now=now, scope=scope)
    elif role is Role.DESK:
        raise ForbiddenError("tech support diagnoses and plans; the desk records consent")
    elif action == "diagnose":
        found = _validated(DiagnosisBody, {"path": form["path"], "diagnosis": form["diagnosis"]})
        repair_plan.diagnose(
            session=tx, ticket_id=ticket_id, path=found.path, diagnosis=found.diagnosis,
            actor=actor, now=now, scope=scope,
        )  # fmt: skip
    else:
        plan = _validated(PlanBody, {"steps": _lines(form["steps"]), "tools": _lines(form["tools"]),
                                     "parts": _lines(form["parts"]),
                                     "estimated_minutes": form["minutes"]})  # fmt: skip
        repair_plan.submit_plan(
            session=tx, ticket_id=ticket_id, plan_in=plan.plan(), actor=actor, now=now,
            scope=scope,
        )  # fmt: skip


def _form_name(loc: tuple[int | str, ...]) -> str:
    """The resolve form's name for a record field, as its labels say it."""
    name = str(loc[0]) if loc else "record"
    return {"time_on_site_minutes": "minutes", "cause_class": "cause"}.get(name, name)


def raise_forbidden() -> None:
    raise ForbiddenError("the service desk logs and acknowledges; a technician resolves")


def _local_time(text: str, tz_offset: str) -> datetime | None:
    """A `datetime-local` field (no zone) plus the browser's offset in minutes, as UTC."""
    if not text:
        return None
    naive = datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    offset = int(tz_offset) if tz_offset.lstrip("-").isdigit() else 0
    # JavaScript's getTimezoneOffset(): minutes to add to local time to get UTC.
    return (naive + timedelta(minutes=offset)).replace(tzinfo=UTC)


# -- sites, devices, agents, KPIs ------------------------------------------------------------


@router.get("/sites", response_class=HTMLResponse)
def sites_page(request: Request, ctx: Ctx, session: DbSession) -> Response:
    def render(viewer: Viewer) -> Response:
        now = datetime.now(UTC)
        rows = site_rows(
            session=session,
            scope=viewer.scope,
            now=now,
            silent_after=timedelta(seconds=ctx.settings.agent_offline_seconds),
        )
        return _page("sites.html", viewer=viewer, rows=rows, now=now)

    return _staff(request, ctx, session, render)


@router.get("/sites/{site_id}", response_class=HTMLResponse)
def site_page(site_id: int, request: Request, ctx: Ctx, session: DbSession) -> Response:
    def render(viewer: Viewer) -> Response:
        site = session.get(Site, site_id)
        if site is None or not viewer.scope.allows(site_id):
            return _not_found(viewer)
        rows = device_rows(session=session, site_id=site_id, now=datetime.now(UTC))
        return _page("site.html", viewer=viewer, site=site, rows=rows)

    return _staff(request, ctx, session, render)


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(device_id: int, request: Request, ctx: Ctx, session: DbSession) -> Response:
    def render(viewer: Viewer) -> Response:
        device = session.get(Device, device_id)
        if device is None or not viewer.scope.allows(device.site_id):
            return _not_found(viewer)
        site_devices = device_rows(session=session, site_id=device.site_id, now=datetime.now(UTC))
        rows = [r for r in site_devices if r.device.id == device_id]
        episodes = session.scalars(
            select(FaultEpisode)
            .where(FaultEpisode.device_id == device_id)
            .order_by(FaultEpisode.started_at.desc())
            .limit(20)
        ).all()
        today = day_number(datetime.now(UTC).date())
        # render_svg escapes every text it writes: its markup is ours, safe to embed.
        forecasts = [
            (signal, [(e, Markup(render_svg(e))) for e in found])
            for signal, found in device_forecasts(
                session=session,
                device_id=device_id,
                today=today,
                params=params_of(ctx.settings.predict_retention_days),
            )
        ]
        return _page(
            "device.html",
            viewer=viewer,
            row=rows[0],
            samples=recent_samples(session=session, device_id=device_id),
            episodes=episodes,
            forecasts=forecasts,
        )

    return _staff(request, ctx, session, render)


@router.get("/kpis", response_class=HTMLResponse)
def kpi_page(request: Request, ctx: Ctx, session: DbSession, month: str | None = None) -> Response:
    def render(viewer: Viewer) -> Response:
        if viewer.principal.role not in {Role.ADMIN, Role.MANAGER}:
            return _forbidden(viewer)
        now = datetime.now(UTC)
        try:
            start = (
                _month_start(month, "month")
                if month
                else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            )
        except DomainError:
            start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        facts = ticket_facts(
            session=session,
            since=start.date(),
            until=_next_month(start).date(),
            scope=viewer.scope,
        )
        tables = {}
        for group in (KpiGroup.CLIENT, KpiGroup.SITE, KpiGroup.TECHNICIAN):
            tables[group.value] = list(grouped(facts, by=group, now=now).items())
        names = {
            "client": dict(session.execute(select(Client.id, Client.name)).all()),
            "site": dict(session.execute(select(Site.id, Site.name)).all()),
            "technician": dict(session.execute(select(User.id, User.username)).all()),
        }
        return _page(
            "kpis.html",
            viewer=viewer,
            month=start.strftime("%Y-%m"),
            tables=tables,
            names=names,
            targets=kpi_targets(ctx.settings),
            standing=standing,
            preventive=preventive_counts(session=session, scope=viewer.scope),
        )

    return _staff(request, ctx, session, render)
