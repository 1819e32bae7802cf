"""Reports: the monthly inspection record as HTML (console, phone-sized) and PDF, in the caller's
tenancy scope (a client user: its own sites only)."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from server.api.deps import DbSession, UserScope
from server.errors import InvalidInputError, NotFoundError, UnavailableError
from server.inspections.models import Inspection
from server.models import Ticket
from server.reports.incident import IncidentError, load_incident
from server.reports.quarterly import load_quarterly
from server.reports.record import load_record
from server.reports.render import (
    PdfUnavailableError,
    html_to_pdf,
    incident_html,
    inspection_html,
    quarterly_html,
)
from server.tenancy import get_client
from wire.schema import ErrorBody
from wire.validation import RowId

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 422, 503)
}


def _html(session: DbSession, scope: UserScope, inspection_id: RowId) -> str:
    inspection = session.get(Inspection, inspection_id)
    if inspection is None or not scope.allows(inspection.site_id):
        raise NotFoundError(f"no inspection {inspection_id}")
    return inspection_html(load_record(session=session, inspection=inspection))


def _quarterly(
    session: DbSession, scope: UserScope, client_id: RowId, year: int, quarter: int
) -> str:
    client = get_client(session=session, client_id=client_id, scope=scope)
    try:
        report = load_quarterly(session=session, client=client, year=year, quarter=quarter)
    except ValueError as err:
        raise InvalidInputError(str(err)) from err
    return quarterly_html(report)


@router.get("/clients/{client_id}/quarterly.html", response_class=HTMLResponse, responses=ERRORS)
def quarterly_report_html(
    client_id: RowId, year: int, quarter: int, scope: UserScope, session: DbSession
) -> str:
    """The client's quarterly maintenance report (a client user: its own only)."""
    return _quarterly(session, scope, client_id, year, quarter)


@router.get("/clients/{client_id}/quarterly.pdf", responses=ERRORS)
def quarterly_report_pdf(
    client_id: RowId, year: int, quarter: int, scope: UserScope, session: DbSession
) -> Response:
    return _pdf(
        _quarterly(session, scope, client_id, year, quarter), f"quarterly-{year}-q{quarter}.pdf"
    )


def _pdf(html: str, name: str) -> Response:
    try:
        pdf = html_to_pdf(html)
    except PdfUnavailableError as err:
        raise UnavailableError(str(err)) from err
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/inspections/{inspection_id}.html", response_class=HTMLResponse, responses=ERRORS)
def inspection_record_html(inspection_id: RowId, scope: UserScope, session: DbSession) -> str:
    return _html(session, scope, inspection_id)


@router.get("/inspections/{inspection_id}.pdf", responses=ERRORS)
def inspection_record_pdf(inspection_id: RowId, scope: UserScope, session: DbSession) -> Response:
    """503 with what to install when WeasyPrint or a CJK font is missing here."""
    return _pdf(_html(session, scope, inspection_id), f"inspection-{inspection_id}.pdf")


def _incident(session: DbSession, scope: UserScope, ticket_id: int) -> str:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not scope.allows(ticket.site_id):
        raise NotFoundError(f"no ticket {ticket_id}")
    try:
        report = load_incident(session=session, ticket=ticket, now=datetime.now(UTC))
    except IncidentError as err:
        raise InvalidInputError(str(err)) from err
    return incident_html(report)


@router.get("/tickets/{ticket_id}/incident.html", response_class=HTMLResponse, responses=ERRORS)
def incident_report_html(ticket_id: RowId, scope: UserScope, session: DbSession) -> str:
    """The fault analysis report of an emergency ticket (422 for other severities)."""
    return _incident(session, scope, ticket_id)


@router.get("/tickets/{ticket_id}/incident.pdf", responses=ERRORS)
def incident_report_pdf(ticket_id: RowId, scope: UserScope, session: DbSession) -> Response:
    return _pdf(_incident(session, scope, ticket_id), f"incident-{ticket_id}.pdf")
