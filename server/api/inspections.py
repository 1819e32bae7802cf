"""Inspections: list, generate on demand, answer rows, complete, sign, amend, verify.

A client user sees and signs only its own sites' inspections and a technician only their
teams' sites (the tenancy `Scope`; what is outside answers 404). A refused change stores
nothing: the session is rolled back with the error.
"""

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.deps import CurrentUser, DbSession, UserScope
from server.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TooLargeError,
    UnsupportedMediaTypeError,
)
from server.inspections.access import InspectionAction, allowed
from server.inspections.evidence import RowResult
from server.inspections.models import Inspection, InspectionAmendment, InspectionAttachment
from server.inspections.photo import MAX_BYTES, PhotoRefusedError
from server.inspections.plan import SITE, device_subject
from server.inspections.record import (
    RecordError,
    RecordStateError,
    RowAnswer,
    parse_disposition,
    parse_result,
)
from server.inspections.store import (
    Signature,
    add_photo,
    amend,
    answer,
    complete,
    create_sign_link,
    generate,
    inspection_by_link,
    prefill,
    rows_of,
    sign,
    sign_by_link,
    template_of,
    verify,
)
from server.inspections.template import Contracts, shipped_template
from server.predict.proposals import proposed_work
from server.tenancy import Scope, get_site
from server.users import UserPrincipal
from wire.enums import Role
from wire.schema import ErrorBody
from wire.validation import RowId

router = APIRouter(prefix="/api/v1", tags=["inspections"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)
}


def _require(user: UserPrincipal, action: InspectionAction) -> None:
    if not allowed(action, user.role):
        raise ForbiddenError(f"role {user.role.value} may not {action.value} inspections")


def _refused(session: Session, err: RecordError) -> Exception:
    """The HTTP error for a refused change, after undoing whatever the request flushed."""
    session.rollback()
    if isinstance(err, RecordStateError):
        return ConflictError(str(err))
    return InvalidInputError(str(err))


def _contracts(request: Request) -> Contracts:
    found = getattr(request.app.state, "inspection_contracts", None)
    return found if isinstance(found, Contracts) else Contracts(shipped_template())


class RowOut(BaseModel):
    id: int
    item_id: str
    area: str
    device_id: RowId | None
    device_name: str | None
    text_zh: str
    text_en: str
    prefill: str | None
    evidence: dict[str, Any] | None
    sentence: str | None
    ticket_ids: dict[str, Any] | None
    result: str | None
    note: str | None
    disposition: str | None
    updated_at: datetime | None
    updated_by: str | None


class AmendmentOut(BaseModel):
    id: int
    row_id: RowId
    result: str
    note: str | None
    reason: str
    author: str
    at: datetime


class InspectionOut(BaseModel):
    id: int
    client_id: RowId
    site_id: RowId
    cycle: str
    period_start: date
    period_end: date
    due_at: datetime
    state: str
    overdue: bool
    prefilled_at: datetime | None
    completed_at: datetime | None
    tech_name: str | None
    tech_role: str | None
    tech_signed_at: datetime | None
    client_name: str | None
    client_role: str | None
    client_signed_at: datetime | None
    seal_sha256: str | None

    @classmethod
    def of(cls, i: Inspection, now: datetime) -> "InspectionOut":
        unfinished = i.completed_at is None
        return cls(
            id=i.id,
            client_id=i.client_id,
            site_id=i.site_id,
            cycle=i.cycle,
            period_start=i.period_start,
            period_end=i.period_end,
            due_at=i.due_at,
            state=i.state,
            overdue=unfinished and i.due_at < now,
            prefilled_at=i.prefilled_at,
            completed_at=i.completed_at,
            tech_name=i.tech_name,
            tech_role=i.tech_role,
            tech_signed_at=i.tech_signed_at,
            client_name=i.client_name,
            client_role=i.client_role,
            client_signed_at=i.client_signed_at,
            seal_sha256=i.seal_sha256,
        )


class ProposedOut(BaseModel):
    """An open preventive ticket of the site, proposed for this visit."""

    ticket_id: int
    device_id: int | None
    device_name: str | None
    signal: str
    state: str
    resolve_by: datetime | None
    projected: date | None
    check: str | None
    en: str
    zh: str


class InspectionDetailOut(InspectionOut):
    rows: list[RowOut]
    amendments: list[AmendmentOut]
    # The site's open preventive tickets when this answer was made (not part of the seal).
    proposed: list[ProposedOut]


def _detail(session: Session, inspection: Inspection) -> InspectionDetailOut:
    rows = [
        RowOut.model_validate(r, from_attributes=True)
        for r in rows_of(session=session, inspection_id=inspection.id)
    ]
    amendments = [
        AmendmentOut.model_validate(a, from_attributes=True)
        for a in session.scalars(
            select(InspectionAmendment)
            .where(InspectionAmendment.inspection_id == inspection.id)
            .order_by(InspectionAmendment.id)
        )
    ]
    head = InspectionOut.of(inspection, datetime.now(UTC))
    proposed = [
        ProposedOut.model_validate(p, from_attributes=True)
        for p in proposed_work(session=session, site_id=inspection.site_id)
    ]
    return InspectionDetailOut(
        **head.model_dump(), rows=rows, amendments=amendments, proposed=proposed
    )


def _get(session: Session, inspection_id: RowId, scope: Scope) -> Inspection:
    inspection = session.get(Inspection, inspection_id)
    if inspection is None or not scope.allows(inspection.site_id):
        raise NotFoundError(f"no inspection {inspection_id}")
    return inspection


@router.get("/inspections", response_model=list[InspectionOut], responses=ERRORS)
def list_inspections(
    scope: UserScope,
    session: DbSession,
    site_id: RowId | None = None,
    overdue: Annotated[bool, Query()] = False,
) -> list[InspectionOut]:
    """Newest period first; `overdue` keeps the unfinished ones past their due date."""
    query = scope.where_site(select(Inspection), Inspection.site_id)
    if site_id is not None:
        query = query.where(Inspection.site_id == site_id)
    now = datetime.now(UTC)
    if overdue:
        query = query.where(Inspection.completed_at.is_(None), Inspection.due_at < now)
    found = session.scalars(query.order_by(Inspection.period_start.desc(), Inspection.id)).all()
    return [InspectionOut.of(i, now) for i in found]


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: RowId


@router.post("/inspections", response_model=InspectionDetailOut, responses=ERRORS)
def generate_inspection(
    body: GenerateIn, request: Request, user: CurrentUser, scope: UserScope, session: DbSession
) -> InspectionDetailOut:
    """The site's inspection for the current period, created and pre-filled if missing."""
    _require(user, InspectionAction.GENERATE)
    site = get_site(session=session, site_id=body.site_id, scope=scope)
    template = template_of(session=session, site=site, contracts=_contracts(request))
    now = datetime.now(UTC)
    inspection = generate(session=session, site=site, template=template, now=now)
    if inspection is None:
        raise ConflictError("another server is generating this site's inspection; try again")
    prefill(session=session, inspection=inspection, now=now)
    session.commit()
    return _detail(session, inspection)


@router.get("/inspections/{inspection_id}", response_model=InspectionDetailOut, responses=ERRORS)
def get_inspection(
    inspection_id: RowId, scope: UserScope, session: DbSession
) -> InspectionDetailOut:
    return _detail(session, _get(session, inspection_id, scope))


class AnswerIn(BaseModel):
    """One row by its id, or by item id and device id (none for a site-level item)."""

    model_config = ConfigDict(extra="forbid")

    row_id: RowId | None = None
    item_id: str | None = None
    device_id: RowId | None = None
    result: str
    note: str | None = Field(default=None, max_length=4000)
    disposition: str | None = None  # a failed row: cleared (on the spot) or ticket (opened)


class AnswersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[AnswerIn] = Field(min_length=1, max_length=5000)


def _row_id(a: AnswerIn, by_key: dict[tuple[str, str], int]) -> int:
    if a.row_id is not None:
        return a.row_id
    if a.item_id is None:
        raise RecordError("each answer names a row_id or an item_id")
    subject = SITE if a.device_id is None else device_subject(a.device_id)
    found = by_key.get((a.item_id, subject))
    if found is None:
        on = "the site" if a.device_id is None else f"device {a.device_id}"
        raise RecordError(f"unknown item id {a.item_id} for {on} in this inspection")
    return found


@router.patch(
    "/inspections/{inspection_id}/rows", response_model=InspectionDetailOut, responses=ERRORS
)
def answer_rows(
    inspection_id: RowId, body: AnswersIn, user: CurrentUser, scope: UserScope, session: DbSession
) -> InspectionDetailOut:
    """Save progress: results and notes of some rows; all or nothing."""
    _require(user, InspectionAction.ANSWER)
    inspection = _get(session, inspection_id, scope)
    by_key = {
        (r.item_id, r.subject): r.id for r in rows_of(session=session, inspection_id=inspection.id)
    }
    try:
        answers = [
            RowAnswer(
                _row_id(a, by_key),
                parse_result(a.result),
                a.note,
                parse_disposition(a.disposition),
            )
            for a in body.rows
        ]
        answer(
            session=session,
            inspection=inspection,
            answers=answers,
            author=user.username,
            now=datetime.now(UTC),
        )
    except RecordError as err:
        raise _refused(session, err) from err
    session.commit()
    return _detail(session, inspection)


@router.post(
    "/inspections/{inspection_id}/complete", response_model=InspectionDetailOut, responses=ERRORS
)
def complete_inspection(
    inspection_id: RowId, user: CurrentUser, scope: UserScope, session: DbSession
) -> InspectionDetailOut:
    """Refused while a row is blank; the reason names the rows."""
    _require(user, InspectionAction.ANSWER)
    inspection = _get(session, inspection_id, scope)
    try:
        complete(session=session, inspection=inspection, now=datetime.now(UTC))
    except RecordError as err:
        raise _refused(session, err) from err
    session.commit()
    return _detail(session, inspection)


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)


@router.post(
    "/inspections/{inspection_id}/sign", response_model=InspectionDetailOut, responses=ERRORS
)
def sign_inspection(
    inspection_id: RowId, body: SignIn, user: CurrentUser, scope: UserScope, session: DbSession
) -> InspectionDetailOut:
    """A client user signs for the client, staff for the technician; the client's seals it."""
    who = "client" if user.role is Role.CLIENT else "technician"
    _require(
        user, InspectionAction.SIGN_CLIENT if who == "client" else InspectionAction.SIGN_TECHNICIAN
    )
    inspection = _get(session, inspection_id, scope)
    try:
        sign(
            session=session,
            inspection=inspection,
            who=who,
            signature=Signature(body.name, body.role),
            now=datetime.now(UTC),
        )
    except RecordError as err:
        raise _refused(session, err) from err
    session.commit()
    return _detail(session, inspection)


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    row_id: RowId
    result: str
    note: str | None = Field(default=None, max_length=4000)
    reason: str = Field(max_length=4000)


@router.post(
    "/inspections/{inspection_id}/amendments", response_model=InspectionDetailOut, responses=ERRORS
)
def amend_inspection(
    inspection_id: RowId, body: AmendIn, user: CurrentUser, scope: UserScope, session: DbSession
) -> InspectionDetailOut:
    """A correction beside a signed row; the signed record and its seal stay as they are."""
    _require(user, InspectionAction.AMEND)
    inspection = _get(session, inspection_id, scope)
    try:
        result: RowResult = parse_result(body.result)
        amend(
            session=session,
            inspection=inspection,
            row_id=body.row_id,
            result=result,
            note=body.note,
            reason=body.reason,
            author=user.username,
            now=datetime.now(UTC),
        )
    except RecordError as err:
        raise _refused(session, err) from err
    session.commit()
    return _detail(session, inspection)


class PhotoOut(BaseModel):
    id: int
    row_id: RowId
    filename: str
    content_type: str
    size: int
    sha256: str
    author: str
    at: datetime


@router.post(
    "/inspections/{inspection_id}/rows/{row_id}/photos",
    response_model=PhotoOut,
    responses={**ERRORS, 413: {"model": ErrorBody}},
)
async def add_row_photo(
    inspection_id: RowId,
    row_id: RowId,
    file: UploadFile,
    user: CurrentUser,
    scope: UserScope,
    session: DbSession,
) -> PhotoOut:
    """A JPEG, PNG or WebP of at most 5 MB, at most 5 per row, while the inspection is open."""
    _require(user, InspectionAction.ANSWER)
    inspection = _get(session, inspection_id, scope)
    data = await file.read(MAX_BYTES + 1)
    try:
        photo = add_photo(
            session=session,
            inspection=inspection,
            row_id=row_id,
            filename=file.filename or "photo",
            data=data,
            author=user.username,
            now=datetime.now(UTC),
        )
    except PhotoRefusedError as err:
        session.rollback()
        if len(data) > MAX_BYTES:
            raise TooLargeError(str(err)) from err
        raise UnsupportedMediaTypeError(str(err)) from err
    except RecordError as err:
        raise _refused(session, err) from err
    session.commit()
    return PhotoOut.model_validate(photo, from_attributes=True)


@router.get("/inspections/{inspection_id}/photos", response_model=list[PhotoOut], responses=ERRORS)
def list_photos(inspection_id: RowId, scope: UserScope, session: DbSession) -> list[PhotoOut]:
    inspection = _get(session, inspection_id, scope)
    found = session.scalars(
        select(InspectionAttachment)
        .where(InspectionAttachment.inspection_id == inspection.id)
        .order_by(InspectionAttachment.id)
    )
    return [PhotoOut.model_validate(p, from_attributes=True) for p in found]


@router.get("/inspections/{inspection_id}/photos/{photo_id}", responses=ERRORS)
def get_photo(
    inspection_id: RowId, photo_id: RowId, scope: UserScope, session: DbSession
) -> Response:
    inspection = _get(session, inspection_id, scope)
    photo = session.get(InspectionAttachment, photo_id)
    if photo is None or photo.inspection_id != inspection.id:
        raise NotFoundError(f"no photo {photo_id} in inspection {inspection_id}")
    return Response(photo.data, media_type=photo.content_type)


class VerifyOut(BaseModel):
    inspection_id: RowId
    stored_sha256: str | None
    computed_sha256: str
    intact: bool


@router.get("/inspections/{inspection_id}/verify", response_model=VerifyOut, responses=ERRORS)
def verify_inspection(inspection_id: RowId, scope: UserScope, session: DbSession) -> VerifyOut:
    """Recompute the seal from the stored record: `intact` false means it was altered."""
    inspection = _get(session, inspection_id, scope)
    try:
        found = verify(session=session, inspection=inspection)
    except RecordError as err:
        raise _refused(session, err) from err
    return VerifyOut(
        inspection_id=found.inspection_id,
        stored_sha256=found.stored,
        computed_sha256=found.computed,
        intact=found.intact,
    )


class SignLinkOut(BaseModel):
    token: str
    path: str  # the client's page: read the record, sign with name and role


@router.post("/inspections/{inspection_id}/sign-link", response_model=SignLinkOut, responses=ERRORS)
def send_sign_link(
    inspection_id: RowId, user: CurrentUser, scope: UserScope, session: DbSession
) -> SignLinkOut:
    """A one-time link for the client's signature after the technician's; shown once (only
    its hash is stored)."""
    _require(user, InspectionAction.SIGN_TECHNICIAN)
    inspection = _get(session, inspection_id, scope)
    try:
        token = create_sign_link(
            session=session, inspection=inspection, author=user.username, now=datetime.now(UTC)
        )
    except RecordError as err:
        raise _refused(session, err) from err
    session.commit()
    return SignLinkOut(token=token, path=f"/console/sign/{token}")


def _by_link(session: Session, token: str) -> Inspection:
    try:
        return inspection_by_link(session=session, token=token)
    except LookupError as err:
        raise NotFoundError(str(err)) from err
    except RecordError as err:
        raise _refused(session, err) from err


@router.get("/inspection-links/{token}", response_model=InspectionDetailOut, responses=ERRORS)
def read_by_link(token: str, session: DbSession) -> InspectionDetailOut:
    """No login: the token in the link is the credential, good until the client signs."""
    return _detail(session, _by_link(session, token))


@router.post("/inspection-links/{token}", response_model=InspectionDetailOut, responses=ERRORS)
def sign_with_link(token: str, body: SignIn, session: DbSession) -> InspectionDetailOut:
    """The client's signature through the link; the link is spent and the record sealed."""
    _by_link(session, token)
    try:
        inspection = sign_by_link(
            session=session,
            token=token,
            signature=Signature(body.name, body.role),
            now=datetime.now(UTC),
        )
    except RecordError as err:
        raise _refused(session, err) from err
    session.commit()
    return _detail(session, inspection)
