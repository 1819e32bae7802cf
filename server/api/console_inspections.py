"""The console's inspection pages (phone-sized, server-rendered): a site's inspections, the form
a technician fills on site, both signatures, the client's one-time signing page, report
downloads, and the client's own reports. Same cookie session, CSRF and scope as the console."""

from datetime import UTC, date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUpload

from server.api.console_pages import (
    HEADERS,
    STAFF,
    Viewer,
    _env,
    _forbidden,
    _login_redirect,
    _not_found,
    _page,
    _viewer,
)
from server.api.deps import Ctx, DbSession
from server.console.session import csrf_ok
from server.inspections.access import InspectionAction, allowed
from server.inspections.models import Inspection, InspectionAttachment
from server.inspections.photo import MAX_BYTES, PhotoRefusedError
from server.inspections.record import (
    Disposition,
    RecordError,
    RowAnswer,
    parse_disposition,
    parse_result,
)
from server.inspections.store import (
    Signature,
    add_photo,
    answer,
    blank_rows,
    complete,
    create_sign_link,
    generate,
    inspection_by_link,
    prefill,
    rows_of,
    sign,
    sign_by_link,
    template_of,
)
from server.inspections.template import Contracts, shipped_template
from server.models import Client, Site, Ticket
from server.reports.incident import IncidentError, load_incident
from server.reports.quarterly import load_quarterly
from server.reports.record import DISPOSITION_WORDS, RESULT_WORDS, load_record
from server.reports.render import PdfUnavailableError, html_to_pdf, incident_html, quarterly_html
from server.reports.render import inspection_html as record_html
from server.tenancy import Scope
from wire.enums import Role
from wire.validation import RowId

router = APIRouter(prefix="/console", include_in_schema=False)
VIEWERS = STAFF | {Role.CLIENT}
Action = InspectionAction


def _contracts(request: Request) -> Contracts:
    found = getattr(request.app.state, "inspection_contracts", None)
    return found if isinstance(found, Contracts) else Contracts(shipped_template())


def _signed_in(request: Request, ctx: Ctx, session: Session) -> Viewer | Response:
    viewer = _viewer(request, ctx, session)
    if viewer is None:
        return _login_redirect(request)
    if viewer.principal.role not in VIEWERS:
        return _forbidden(viewer)
    return viewer


def _refused(viewer: Viewer, csrf: str | None, action: Action) -> Response | None:
    """A form post's checks after sign-in: a fresh form, and a role allowed the action."""
    if not csrf_ok(viewer.session, csrf):
        return _expired(viewer)
    if not allowed(action, viewer.principal.role):
        return _forbidden(viewer)
    return None


def _acting(
    request: Request, ctx: Ctx, session: Session, csrf: str, action: Action
) -> Viewer | Response:
    """The signed-in viewer of a form post allowed `action`, or the answer that refuses it."""
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    return _refused(found, csrf, action) or found


def _inspection(session: Session, scope: Scope, inspection_id: int) -> Inspection | None:
    found = session.get(Inspection, inspection_id)
    return found if found is not None and scope.allows(found.site_id) else None


def _back(inspection_id: int, *, error: str | None = None, said: str | None = None) -> Response:
    query = f"?error={quote(error[:400])}" if error else (f"?said={quote(said)}" if said else "")
    return RedirectResponse(f"/console/inspections/{inspection_id}{query}", status_code=303)


def _expired(viewer: Viewer) -> HTMLResponse:
    return _page("message.html", 400, viewer=viewer, title="Form expired",
                 message="Please reload the page and try again.")  # fmt: skip


def _pdf_or_html(html: str, name: str, fmt: str) -> Response:
    """The rendered report as HTML, or as a PDF download; 503 saying what to install."""
    if fmt == "html":
        return HTMLResponse(html)
    try:
        pdf = html_to_pdf(html)
    except PdfUnavailableError as err:
        return HTMLResponse(f"<p>PDF unavailable: {err}</p>", status_code=503)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


def _quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


# -- lists -----------------------------------------------------------------------------------


@router.get("/inspections", response_class=HTMLResponse)
def inspections_page(
    request: Request, ctx: Ctx, session: DbSession, site: int | None = None
) -> Response:
    """Newest first, overdue ones marked; `site` narrows to one site (with its start button)."""
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    viewer, now = found, datetime.now(UTC)
    query = viewer.scope.where_site(select(Inspection), Inspection.site_id)
    if site is not None:
        if not viewer.scope.allows(site):
            return _not_found(viewer)
        query = query.where(Inspection.site_id == site)
    inspections = session.scalars(
        query.order_by(Inspection.period_start.desc(), Inspection.site_id).limit(200)
    ).all()
    names = dict(session.execute(select(Site.id, Site.name)).all())
    overdue = [i for i in inspections if i.completed_at is None and i.due_at < now]
    return _page(
        "inspections.html",
        viewer=viewer,
        inspections=inspections,
        overdue={i.id for i in overdue},
        names=names,
        site=session.get(Site, site) if site is not None else None,
        may_generate=allowed(Action.GENERATE, viewer.principal.role),
        quarter=_quarter_of(now),
    )


@router.post("/inspections/generate")
def generate_page(
    request: Request,
    ctx: Ctx,
    session: DbSession,
    site_id: Annotated[int, Form()],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    found = _acting(request, ctx, session, csrf, Action.GENERATE)
    if not isinstance(found, Viewer):
        return found
    viewer = found
    site = session.get(Site, site_id)
    if site is None or not viewer.scope.allows(site_id):
        return _not_found(viewer)
    now = datetime.now(UTC)
    template = template_of(session=session, site=site, contracts=_contracts(request))
    inspection = generate(session=session, site=site, template=template, now=now)
    if inspection is None:
        session.rollback()
        return RedirectResponse(f"/console/inspections?site={site_id}", status_code=303)
    prefill(session=session, inspection=inspection, now=now)
    session.commit()
    return RedirectResponse(f"/console/inspections/{inspection.id}", status_code=303)


# -- the form --------------------------------------------------------------------------------


@router.get("/inspections/{inspection_id}", response_class=HTMLResponse)
def inspection_page(
    inspection_id: RowId,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    error: str | None = None,
    said: str | None = None,
) -> Response:
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    viewer = found
    inspection = _inspection(session, viewer.scope, inspection_id)
    if inspection is None:
        return _not_found(viewer)
    photos = dict(
        session.execute(
            select(InspectionAttachment.row_id, func.count())
            .where(InspectionAttachment.inspection_id == inspection.id)
            .group_by(InspectionAttachment.row_id)
        ).all()
    )
    site = session.get(Site, inspection.site_id)
    role = viewer.principal.role
    return _page(
        "inspection.html",
        viewer=viewer,
        i=inspection,
        site=site,
        rows=rows_of(session=session, inspection_id=inspection.id),
        photos=photos,
        blank=len(blank_rows(session=session, inspection_id=inspection.id)),
        words=RESULT_WORDS,
        dispositions=[(d.value, DISPOSITION_WORDS[d.value]) for d in Disposition],
        overdue=inspection.completed_at is None and inspection.due_at < datetime.now(UTC),
        may_answer=allowed(Action.ANSWER, role),
        may_sign_tech=allowed(Action.SIGN_TECHNICIAN, role),
        may_sign_client=allowed(Action.SIGN_CLIENT, role),
        quarter=_quarter_of(inspection.period_start),
        error=error,
        said=said,
        link=None,
    )


async def _uploads(request: Request) -> tuple[dict[str, str], dict[int, StarletteUpload]]:
    """The form's text fields, and the photo chosen for each row (by row id)."""
    form = await request.form(max_files=500, max_fields=20_000)
    fields: dict[str, str] = {}
    files: dict[int, StarletteUpload] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields[key] = value
        elif key.startswith("photo_") and key[6:].isdigit() and value.filename:
            files[int(key[6:])] = value
    return fields, files


@router.post("/inspections/{inspection_id}/rows")
async def save_rows(
    inspection_id: RowId, request: Request, ctx: Ctx, session: DbSession
) -> Response:
    """Save progress (answers, notes, dispositions, photos) all or nothing; `complete` then
    closes the rows, refused while any is blank."""
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    viewer = found
    fields, files = await _uploads(request)
    if (refused := _refused(viewer, fields.get("csrf"), Action.ANSWER)) is not None:
        return refused
    inspection = _inspection(session, viewer.scope, inspection_id)
    if inspection is None:
        return _not_found(viewer)
    now = datetime.now(UTC)
    author = viewer.principal.username
    try:
        answers = [
            RowAnswer(
                row.id,
                parse_result(fields[f"result_{row.id}"]),
                fields.get(f"note_{row.id}", "").strip()[:4000] or None,
                parse_disposition(fields.get(f"disposition_{row.id}")),
            )
            for row in rows_of(session=session, inspection_id=inspection.id)
            if fields.get(f"result_{row.id}")
        ]
        if answers:
            answer(
                session=session,
                inspection=inspection,
                answers=answers,
                author=author,
                now=now,
            )
        for row_id, upload in files.items():
            data = await upload.read(MAX_BYTES + 1)
            add_photo(
                session=session,
                inspection=inspection,
                row_id=row_id,
                filename=upload.filename or "photo",
                data=data,
                author=author,
                now=now,
            )
        if fields.get("action") == "complete":
            complete(session=session, inspection=inspection, now=now)
    except (RecordError, PhotoRefusedError) as err:
        session.rollback()
        return _back(inspection_id, error=str(err))
    session.commit()
    done = fields.get("action") == "complete"
    return _back(inspection_id, said="completed" if done else "saved")


@router.post("/inspections/{inspection_id}/sign")
def sign_page(
    inspection_id: RowId,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=100)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Staff sign for the technician, a client user for the client."""
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    viewer = found
    if not csrf_ok(viewer.session, csrf):
        return _expired(viewer)
    inspection = _inspection(session, viewer.scope, inspection_id)
    if inspection is None:
        return _not_found(viewer)
    who = "client" if viewer.principal.role is Role.CLIENT else "technician"
    action = Action.SIGN_CLIENT if who == "client" else Action.SIGN_TECHNICIAN
    if not allowed(action, viewer.principal.role):
        return _forbidden(viewer)
    try:
        if not role.strip():
            raise RecordError("a signature needs a role")
        sign(
            session=session,
            inspection=inspection,
            who=who,
            signature=Signature(name.strip(), role.strip()),
            now=datetime.now(UTC),
        )
    except RecordError as err:
        session.rollback()
        return _back(inspection_id, error=str(err))
    session.commit()
    return _back(inspection_id, said="signed")


@router.post("/inspections/{inspection_id}/sign-link", response_class=HTMLResponse)
def sign_link_page(
    inspection_id: RowId,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """A one-time link for the client's signature, shown on this page once."""
    found = _acting(request, ctx, session, csrf, Action.SIGN_TECHNICIAN)
    if not isinstance(found, Viewer):
        return found
    viewer = found
    inspection = _inspection(session, viewer.scope, inspection_id)
    if inspection is None:
        return _not_found(viewer)
    try:
        token = create_sign_link(
            session=session,
            inspection=inspection,
            author=viewer.principal.username,
            now=datetime.now(UTC),
        )
    except RecordError as err:
        session.rollback()
        return _back(inspection_id, error=str(err))
    session.commit()
    base = str(request.base_url).rstrip("/")
    link = f"{base}/console/sign/{token}"
    return _page("sign_link_made.html", viewer=viewer, link=link, inspection_id=inspection_id)


# -- the client's one-time signing page ------------------------------------------------------


def _link_page(session: Session, token: str, *, error: str | None = None) -> HTMLResponse:
    try:
        inspection = inspection_by_link(session=session, token=token)
    except LookupError:
        return _page("message.html", 404, viewer=None, title="Not found",
                     message="This signing link is unknown.")  # fmt: skip
    except RecordError as err:
        return _page("message.html", 409, viewer=None, title="Already used", message=str(err))
    record = record_html(load_record(session=session, inspection=inspection))
    form = _env().get_template("sign_link_form.html").render(error=error, token=token)
    # Both parts are autoescaped templates of ours: the form goes in as the record's last part.
    return HTMLResponse(
        record.replace("</body>", form + "</body>"),
        status_code=400 if error else 200,
        headers=HEADERS,
    )


@router.get("/sign/{token}", response_class=HTMLResponse)
def sign_link_form(token: str, session: DbSession) -> Response:
    """No login: the token in the link is the credential, good for one signature."""
    return _link_page(session, token)


@router.post("/sign/{token}", response_class=HTMLResponse)
def sign_link_submit(
    token: str,
    session: DbSession,
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        if not role.strip():
            raise RecordError("a signature needs a role")
        inspection = sign_by_link(
            session=session,
            token=token,
            signature=Signature(name.strip(), role.strip()),
            now=datetime.now(UTC),
        )
    except LookupError:
        return _link_page(session, token)
    except RecordError as err:
        session.rollback()
        return _link_page(session, token, error=str(err))
    session.commit()
    return _page(
        "message.html",
        viewer=None,
        title="Signed",
        message=f"Thank you. The record is sealed: SHA-256 {inspection.seal_sha256}",
    )


# -- downloads and the client's reports ------------------------------------------------------


@router.get("/inspections/{inspection_id}/record.{fmt}")
def record_download(
    inspection_id: RowId, fmt: str, request: Request, ctx: Ctx, session: DbSession
) -> Response:
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    inspection = _inspection(session, found.scope, inspection_id)
    if inspection is None or fmt not in ("html", "pdf"):
        return _not_found(found)
    html = record_html(load_record(session=session, inspection=inspection))
    return _pdf_or_html(html, f"inspection-{inspection_id}", fmt)


@router.get("/clients/{client_id}/quarterly.{fmt}")
def quarterly_download(
    client_id: RowId,
    fmt: str,
    request: Request,
    ctx: Ctx,
    session: DbSession,
    year: int | None = None,
    quarter: int | None = None,
) -> Response:
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    client = session.get(Client, client_id)
    visible = viewer_sees_client(session, found, client_id)
    if client is None or not visible or fmt not in ("html", "pdf"):
        return _not_found(found)
    default_year, default_quarter = _quarter_of(datetime.now(UTC))
    year, quarter = year or default_year, quarter or default_quarter
    try:
        report = load_quarterly(session=session, client=client, year=year, quarter=quarter)
    except ValueError as err:
        return _page("message.html", 422, viewer=found, title="Bad quarter", message=str(err))
    return _pdf_or_html(quarterly_html(report), f"quarterly-{year}-q{quarter}", fmt)


def viewer_sees_client(session: Session, viewer: Viewer, client_id: int) -> bool:
    """A client user its own client; staff a client one of whose sites they reach."""
    if viewer.principal.role is Role.CLIENT:
        return viewer.principal.client_id == client_id
    site_ids = session.scalars(select(Site.id).where(Site.client_id == client_id)).all()
    return any(viewer.scope.allows(s) for s in site_ids)


@router.get("/tickets/{ticket_id}/incident.{fmt}")
def incident_download(
    ticket_id: RowId, fmt: str, request: Request, ctx: Ctx, session: DbSession
) -> Response:
    """The fault analysis report of an emergency ticket."""
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not found.scope.allows(ticket.site_id) or fmt not in ("html", "pdf"):
        return _not_found(found)
    try:
        report = load_incident(session=session, ticket=ticket, now=datetime.now(UTC))
    except IncidentError as err:
        return _page("message.html", 422, viewer=found, title="No incident report",
                     message=str(err))  # fmt: skip
    return _pdf_or_html(incident_html(report), f"incident-{ticket_id}", fmt)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request, ctx: Ctx, session: DbSession, client_id: int | None = None
) -> Response:
    """A client's own reports: its inspection records and its quarterly reports."""
    found = _signed_in(request, ctx, session)
    if not isinstance(found, Viewer):
        return found
    viewer = found
    target = viewer.principal.client_id if viewer.principal.role is Role.CLIENT else client_id
    if target is None or not viewer_sees_client(session, viewer, target):
        return _not_found(viewer)
    client = session.get(Client, target)
    if client is None:
        return _not_found(viewer)
    inspections = session.scalars(
        select(Inspection)
        .where(Inspection.client_id == target)
        .order_by(Inspection.period_start.desc(), Inspection.site_id)
        .limit(100)
    ).all()
    now = _quarter_of(datetime.now(UTC))
    quarters = sorted({_quarter_of(i.period_start) for i in inspections} | {now}, reverse=True)
    return _page(
        "reports.html",
        viewer=viewer,
        client=client,
        inspections=inspections,
        names=dict(session.execute(select(Site.id, Site.name)).all()),
        quarters=quarters,
    )
