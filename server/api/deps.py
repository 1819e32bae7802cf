"""Request-scoped dependencies: the app's context, a DB session, the calling user or agent."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.agent_tokens import AgentPrincipal, authenticate_agent
from server.credentials import Credentials
from server.detector import Detector
from server.directory import DeviceDirectory
from server.errors import UnauthorizedError
from server.metrics import ServerMetrics
from server.settings import Settings
from server.state_cache import StateCache
from server.tenancy import Scope, TeamSites, no_teams, scope_of
from server.users import UserPrincipal, user_from_access_token

TOKEN_URL = "/api/v1/auth/token"


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secret_key: str
    metrics: ServerMetrics
    directory: DeviceDirectory
    states: StateCache
    faults: Detector
    # Which sites a technician's teams serve (the notify config's teams); none by default.
    team_sites: TeamSites = no_teams
    # The login limiter and the bound on password hashing, shared by the console and the API.
    credentials: Credentials = field(default_factory=Credentials)


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(context)]


def db_session(ctx: Ctx) -> Iterator[Session]:
    with ctx.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(db_session)]

oauth2 = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, scheme_name="UserToken")
agent_bearer = HTTPBearer(
    auto_error=False, scheme_name="AgentToken", description="An agent token (smt_…)."
)


def current_user(
    token: Annotated[str, Depends(oauth2)], session: DbSession, ctx: Ctx
) -> UserPrincipal:
    return user_from_access_token(session=session, token=token, secret_key=ctx.secret_key)


CurrentUser = Annotated[UserPrincipal, Depends(current_user)]


def current_scope(user: CurrentUser, session: DbSession, ctx: Ctx) -> Scope:
    """What the caller may see: the same rule as the console's (`server.tenancy.scope_for`)."""
    return scope_of(session=session, user=user, team_sites=ctx.team_sites)


UserScope = Annotated[Scope, Depends(current_scope)]


def agent_from_credentials(
    ctx: AppContext, credentials: HTTPAuthorizationCredentials | None
) -> AgentPrincipal:
    """Blocking (a DB read): call it from a threadpool."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthorizedError("missing agent bearer token")
    with ctx.engine.connect() as conn:
        principal = authenticate_agent(
            conn=conn, token=credentials.credentials, now=datetime.now(UTC)
        )
    if principal is None:
        raise UnauthorizedError("unknown, malformed or revoked agent token")
    return principal


def current_agent(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(agent_bearer)]
) -> AgentPrincipal:
    return agent_from_credentials(ctx, credentials)


CurrentAgent = Annotated[AgentPrincipal, Depends(current_agent)]
