"""User login: OAuth2 password form → JWT bearer token (the /docs Authorize button uses it)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from server.api.deps import Ctx, DbSession
from server.users import authenticate_user, issue_access_token
from server.views import AccessToken
from wire.schema import ErrorBody

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=AccessToken, responses={401: {"model": ErrorBody}})
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: DbSession, ctx: Ctx
) -> AccessToken:
    principal = authenticate_user(session=session, username=form.username, password=form.password)
    ttl = timedelta(minutes=ctx.settings.access_token_minutes)
    token = issue_access_token(
        principal=principal, secret_key=ctx.secret_key, ttl=ttl, now=datetime.now(UTC)
    )
    return AccessToken(access_token=token, expires_in=int(ttl.total_seconds()))
