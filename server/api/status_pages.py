"""The client's status page (HTML, by share link) and the API that manages it."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Header, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.deps import DbSession, UserScope
from server.errors import ForbiddenError, InvalidInputError
from server.models import MaintenanceWindow
from server.status.query import client_for_link, rotate_link, set_contact, status_view
from server.status.render import render_status
from server.status.words import Words, pick_language
from server.tenancy import Scope, get_client, get_site
from wire.enums import Role
from wire.schema import ErrorBody
from wire.validation import RowId

pages = APIRouter(tags=["status page"], include_in_schema=False)
router = APIRouter(prefix="/api/v1", tags=["status page"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    422: {"model": ErrorBody},
}
STAFF = frozenset({Role.ADMIN, Role.MANAGER, Role.DESK})
LANG_COOKIE = "secmon_lang"
# The link is the credential: keep it out of Referer headers, search engines and shared caches.
PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
}
NOT_FOUND_PAGE = "<!doctype html><title>Not found</title><h1>Not found</h1>"


@pages.get("/status/{token}", response_class=HTMLResponse)
def shared_status_page(
    token: str,
    session: DbSession,
    lang: Annotated[str | None, Query()] = None,
    cookie_lang: Annotated[str | None, Cookie(alias=LANG_COOKIE)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    client_id = client_for_link(session=session, token=token)
    if client_id is None:
        return HTMLResponse(NOT_FOUND_PAGE, status_code=404, headers=PAGE_HEADERS)
    language = pick_language(query=lang, cookie=cookie_lang, accept_language=accept_language)
    words = Words(language)
    view = status_view(session=session, client_id=client_id, words=words, now=datetime.now(UTC))
    response = HTMLResponse(render_status(view, words, shared=True), headers=PAGE_HEADERS)
    if lang == language:
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="lax")
    return response


def _own_client(scope: Scope, client_id: RowId, session: Session) -> None:
    """Staff may manage any client's page, a client user only its own; others 404/403."""
    if scope.role is not Role.CLIENT and scope.role not in STAFF:
        raise ForbiddenError("your role cannot manage status pages")
    get_client(session=session, client_id=client_id, scope=scope)


class StatusLinkOut(BaseModel):
    path: str = Field(description="Relative URL of the new share link; the old one stops working.")


@router.post("/clients/{client_id}/status-link", response_model=StatusLinkOut, responses=ERRORS)
def rotate_status_link(client_id: RowId, scope: UserScope, session: DbSession) -> StatusLinkOut:
    _own_client(scope, client_id, session)
    token = rotate_link(session=session, client_id=client_id, now=datetime.now(UTC))
    session.commit()
    return StatusLinkOut(path=f"/status/{token}")


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    hours: str | None = Field(default=None, max_length=200)
    show_phone: bool = False


@router.put("/clients/{client_id}/status-contact", status_code=204, responses=ERRORS)
def put_status_contact(
    client_id: RowId, body: ContactIn, scope: UserScope, session: DbSession
) -> None:
    _own_client(scope, client_id, session)
    if scope.role is Role.CLIENT:
        raise ForbiddenError("the service team keeps the contact card")
    set_contact(
        session=session, client_id=client_id, contact=body.model_dump(), now=datetime.now(UTC)
    )
    session.commit()


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: datetime
    ends_at: datetime
    title: str = Field(min_length=1, max_length=200)


class WindowOut(WindowIn):
    id: int
    site_id: RowId


@router.post(
    "/sites/{site_id}/maintenance", response_model=WindowOut, status_code=201, responses=ERRORS
)
def post_maintenance(
    site_id: RowId, body: WindowIn, scope: UserScope, session: DbSession
) -> WindowOut:
    if scope.role not in STAFF:
        raise ForbiddenError("only the service team plans maintenance")
    get_site(session=session, site_id=site_id, scope=scope)
    if body.starts_at.tzinfo is None or body.ends_at.tzinfo is None:
        raise InvalidInputError("times need a timezone offset")
    if body.ends_at <= body.starts_at:
        raise InvalidInputError("ends_at must be after starts_at")
    window = MaintenanceWindow(
        site_id=site_id,
        starts_at=body.starts_at.astimezone(UTC),
        ends_at=body.ends_at.astimezone(UTC),
        title=body.title,
        created_at=datetime.now(UTC),
    )
    session.add(window)
    session.commit()
    return WindowOut(
        id=window.id,
        site_id=site_id,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        title=window.title,
    )


@router.get("/sites/{site_id}/maintenance", response_model=list[WindowOut], responses=ERRORS)
def get_maintenance(site_id: RowId, scope: UserScope, session: DbSession) -> list[WindowOut]:
    get_site(session=session, site_id=site_id, scope=scope)
    rows = session.scalars(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.site_id == site_id)
        .order_by(MaintenanceWindow.starts_at)
    )
    return [
        WindowOut(
            id=w.id, site_id=w.site_id, starts_at=w.starts_at, ends_at=w.ends_at, title=w.title
        )
        for w in rows
    ]
