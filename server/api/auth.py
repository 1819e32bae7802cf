"""User login: OAuth2 password form → JWT bearer token (the /docs Authorize button uses it)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from server.api.deps import Ctx, DbSession
from server.errors import InvalidInputError
from server.users import authenticate_user, issue_access_token
from server.views import AccessToken
from wire.schema import ErrorBody
from wire.validation import control_problem

MAX_USERNAME = 150  # the column's length

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=AccessToken, responses={401: {"model": ErrorBody}})
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: DbSession, ctx: Ctx
) -> AccessToken:
    problem = control_problem(form.username, multiline=False)
    if problem is not None or len(form.username) > MAX_USERNAME:
        # No account has such a name; refused before any password hashing.
        raise InvalidInputError(
            "not a username", [{"field": "username", "message": problem or "too long"}]
        )
    principal = authenticate_user(session=session, username=form.username, password=form.password)
    ttl = timedelta(minutes=ctx.settings.access_token_minutes)
    token = issue_access_token(
        principal=principal, secret_key=ctx.secret_key, ttl=ttl, now=datetime.now(UTC)
    )
    return AccessToken(access_token=token, expires_in=int(ttl.total_seconds()))
