"""The client's side of the repair loop as pages: sign the repair record, rate the service.

Reached by one-time links sent through the client's notification channel; no login (the link
is the credential, kept out of access logs, Referer headers and caches). Plain HTML forms,
zh-CN and en with the status page's language choice, usable without JavaScript.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Cookie, Form, Header, Query
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from server.api.deps import Ctx, DbSession
from server.api.status_pages import LANG_COOKIE, PAGE_HEADERS
from server.db import write_session
from server.errors import InvalidInputError, NotFoundError
from server.models import Device, Site, Ticket
from server.status.render import render_client
from server.status.words import Words, pick_language
from server.tickets import repair
from server.tickets.repair import DIMENSIONS, Ratings

pages = APIRouter(tags=["client pages"], include_in_schema=False)
HEADERS = PAGE_HEADERS | {
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"] + "; form-action 'self'"
}
Lang = Annotated[str | None, Query()]
LangCookie = Annotated[str | None, Cookie(alias=LANG_COOKIE)]
AcceptLanguage = Annotated[str | None, Header()]


def _words(lang: str | None, cookie: str | None, accept: str | None) -> Words:
    return Words(pick_language(query=lang, cookie=cookie, accept_language=accept))


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _message(
    words: Words, heading: str, lines: list[str], *, done: bool, status: int = 200
) -> HTMLResponse:
    return _html(
        render_client("client_message.html", words, heading=heading, lines=lines, done=done),
        status,
    )


def _invalid(words: Words, heading_key: str) -> HTMLResponse:
    return _message(words, words(heading_key), [words("link.invalid")], done=False, status=404)


def _what(session: Session, ticket: Ticket, words: Words) -> tuple[str, str]:
    """The problem in the client's words and the site's name (no addresses, as on the status
    page)."""
    site = session.get(Site, ticket.site_id)
    device = session.get(Device, ticket.device_id) if ticket.device_id is not None else None
    what = words.what(ticket.code, ticket.symptom, device.name if device is not None else None)
    return what, site.name if site is not None else ""


@dataclass(frozen=True)
class SignPage:
    ticket_id: int
    site: str
    what: str
    diagnosis: str
    actions: str
    parts: list[str]
    minutes: int
    technician: str
    tech_signed: str
    previous: list[str] = field(default_factory=list)


def _sign_page(session: Session, token: str, words: Words, now: datetime) -> SignPage:
    view = repair.signoff_by_token(session=session, token=token, now=now)
    ticket, record = view.ticket, view.record
    site = session.get(Site, ticket.site_id)
    zone = ZoneInfo(site.timezone if site is not None else "UTC")
    what, site_name = _what(session, ticket, words)
    parts = [
        p["name"]
        + (
            f" ({p.get('old_serial') or '?'} → {p.get('new_serial')})"
            if p.get("new_serial")
            else ""
        )
        for p in record.parts
    ]
    earlier = [
        r
        for r in repair.records_of(session=session, ticket_id=ticket.id)
        if r.version < record.version
    ]
    return SignPage(
        ticket_id=ticket.id,
        site=site_name,
        what=what,
        diagnosis=record.diagnosis,
        actions=record.actions,
        parts=parts,
        minutes=record.time_on_site_minutes,
        technician=record.technician_name,
        tech_signed=words.moment(record.technician_signed_at, zone, now),
        previous=[
            words("sign.previous", at=words.moment(r.created_at, zone, now), actions=r.actions)
            for r in earlier
        ],
    )


def _render_sign(
    words: Words, page: SignPage, form: dict[str, str], error: str | None = None
) -> HTMLResponse:
    body = render_client(
        "sign.html", words, heading=words("sign.title"), page=page, form=form, error=error
    )
    return _html(body, 422 if error else 200)


@pages.get("/sign/{token}", response_class=HTMLResponse)
def sign_page(
    token: str,
    session: DbSession,
    lang: Lang = None,
    cookie_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    words = _words(lang, cookie_lang, accept_language)
    try:
        page = _sign_page(session, token, words, datetime.now(UTC))
    except NotFoundError:
        return _invalid(words, "sign.title")
    response = _render_sign(words, page, {"name": "", "verdict": "", "reason": ""})
    if lang == words.language:
        response.set_cookie(LANG_COOKIE, words.language, max_age=365 * 86400, samesite="lax")
    return response


@pages.post("/sign/{token}", response_class=HTMLResponse)
def sign_submit(
    token: str,
    ctx: Ctx,
    session: DbSession,
    name: Annotated[str, Form(max_length=200)] = "",
    verdict: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    lang: Lang = None,
    cookie_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    words = _words(lang, cookie_lang, accept_language)
    now = datetime.now(UTC)
    form = {"name": name.strip(), "verdict": verdict, "reason": reason.strip()}
    try:
        page = _sign_page(session, token, words, now)
    except NotFoundError:
        return _invalid(words, "sign.title")
    session.rollback()
    problem = None
    if not form["name"]:
        problem = "sign.need_name"
    elif verdict not in ("satisfied", "not_satisfied"):
        problem = "sign.need_choice"
    elif verdict == "not_satisfied" and not form["reason"]:
        problem = "sign.need_reason"
    if problem is not None:
        return _render_sign(words, page, form, words(problem))
    satisfied = verdict == "satisfied"
    try:
        with write_session(ctx.engine) as tx:
            repair.sign_by_link(
                session=tx, token=token, name=form["name"], satisfied=satisfied,
                comment=form["reason"] or None, now=now,
            )  # fmt: skip
    except NotFoundError:
        return _invalid(words, "sign.title")
    except InvalidInputError:
        return _render_sign(words, page, form, words("sign.need_reason"))
    if satisfied:
        lines = [words("sign.done", name=form["name"]), words("sign.survey_next")]
    else:
        lines = [words("sign.reopened")]
    return _message(words, words("sign.title"), lines, done=True)


def _render_survey(
    words: Words, ticket_id: int, what: str, form: dict[str, str], error: str | None = None
) -> HTMLResponse:
    body = render_client(
        "survey.html",
        words,
        heading=words("survey.title"),
        page={"ticket_id": ticket_id, "what": what},
        dimensions=DIMENSIONS,
        form=form,
        error=error,
    )
    return _html(body, 422 if error else 200)


def _survey_ticket(session: Session, token: str, now: datetime) -> Ticket:
    survey = repair.survey_by_token(session=session, token=token, now=now)
    ticket = session.get(Ticket, survey.ticket_id)
    assert ticket is not None  # FK
    return ticket


@pages.get("/survey/{token}", response_class=HTMLResponse)
def survey_page(
    token: str,
    session: DbSession,
    lang: Lang = None,
    cookie_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    words = _words(lang, cookie_lang, accept_language)
    try:
        ticket = _survey_ticket(session, token, datetime.now(UTC))
    except NotFoundError:
        return _invalid(words, "survey.title")
    what, _site = _what(session, ticket, words)
    response = _render_survey(words, ticket.id, what, dict.fromkeys((*DIMENSIONS, "comment"), ""))
    if lang == words.language:
        response.set_cookie(LANG_COOKIE, words.language, max_age=365 * 86400, samesite="lax")
    return response


def _score(text: str) -> int | None:
    return int(text) if text in ("1", "2", "3", "4", "5") else None


@pages.post("/survey/{token}", response_class=HTMLResponse)
def survey_submit(
    token: str,
    ctx: Ctx,
    session: DbSession,
    response_time: Annotated[str, Form(max_length=2)] = "",
    repair_quality: Annotated[str, Form(max_length=2)] = "",
    attitude: Annotated[str, Form(max_length=2)] = "",
    problem_solving: Annotated[str, Form(max_length=2)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
    lang: Lang = None,
    cookie_lang: LangCookie = None,
    accept_language: AcceptLanguage = None,
) -> HTMLResponse:
    words = _words(lang, cookie_lang, accept_language)
    now = datetime.now(UTC)
    try:
        ticket = _survey_ticket(session, token, now)
    except NotFoundError:
        return _invalid(words, "survey.title")
    what, _site = _what(session, ticket, words)
    session.rollback()
    form = {
        "response_time": response_time,
        "repair_quality": repair_quality,
        "attitude": attitude,
        "problem_solving": problem_solving,
        "comment": comment,
    }
    scores = [_score(form[name]) for name in DIMENSIONS]
    if any(s is None for s in scores):
        return _render_survey(words, ticket.id, what, form, words("survey.need_all"))
    values = {name: score or 0 for name, score in zip(DIMENSIONS, scores, strict=True)}
    try:
        with write_session(ctx.engine) as tx:
            repair.answer_survey(
                session=tx,
                token=token,
                ratings=Ratings(**values),
                comment=comment or None,
                now=now,
            )
    except NotFoundError:
        return _invalid(words, "survey.title")
    return _message(words, words("survey.title"), [words("survey.done")], done=True)
