"""User login: OAuth2 password form → JWT bearer token (the /docs Authorize button uses it)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from server.api.deps import Ctx, CurrentUser, DbSession
from server.db import write_session
from server.errors import InvalidInputError, UnauthorizedError
from server.models import User
from server.users import USERNAME_LENGTH, authenticate_user, issue_access_token, revoke_sessions
from server.views import AccessToken
from wire.schema import ErrorBody
from wire.validation import control_problem

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=AccessToken,
    responses={code: {"model": ErrorBody} for code in (401, 422, 429, 503)},
)
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: DbSession,
    ctx: Ctx,
) -> AccessToken:
    problem = control_problem(form.username, multiline=False)
    if problem is not None or len(form.username) > USERNAME_LENGTH:
        # No account has such a name; refused before any password hashing.
        raise InvalidInputError(
            "not a username", [{"field": "username", "message": problem or "too long"}]
        )
    now = datetime.now(UTC)
    address = request.client.host if request.client else "?"
    limiter = ctx.credentials.limiter
    limiter.check(username=form.username, address=address, now=now)
    try:
        principal = authenticate_user(
            session=session,
            username=form.username,
            password=form.password,
            gate=ctx.credentials.gate,
        )
    except UnauthorizedError:
        limiter.failed(username=form.username, address=address, now=now)
        raise
    limiter.succeeded(username=form.username, address=address)
    ttl = timedelta(minutes=ctx.settings.access_token_minutes)
    token = issue_access_token(principal=principal, secret_key=ctx.secret_key, ttl=ttl, now=now)
    return AccessToken(access_token=token, expires_in=int(ttl.total_seconds()))


@router.post("/logout", status_code=204, responses={401: {"model": ErrorBody}})
def logout(user: CurrentUser, ctx: Ctx) -> None:
    """Ends every access token and console session of the caller at once."""
    with write_session(ctx.engine) as session:
        row = session.get(User, user.user_id)
        if row is not None:
            revoke_sessions(session=session, user=row)
