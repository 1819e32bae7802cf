"""Browser sessions for the console: a signed cookie with a CSRF token inside it. Pure (clock
injected), so the rules are tested without a server; the login limiter is `server.credentials`."""

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from server.users import JWT_ALGORITHM

AUDIENCE = "secmon-console"
COOKIE = "secmon_session"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    username: str
    csrf: str
    version: int | None = None  # the user's token version when the session was opened


def issue_session(
    *, username: str, secret_key: str, ttl: timedelta, now: datetime, version: int = 0
) -> str:
    """A signed cookie value; the audience keeps it from being used as an API token and back.
    `version` is the user's token version: bumping it (logout, new password or role) ends it."""
    claims: dict[str, Any] = {
        "sub": username,
        "ver": version,
        "aud": AUDIENCE,
        "csrf": secrets.token_urlsafe(24),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)


def read_session(cookie: str | None, *, secret_key: str) -> ConsoleSession | None:
    if not cookie:
        return None
    try:
        claims = jwt.decode(
            cookie,
            secret_key,
            algorithms=[JWT_ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud", "csrf"]},
        )
    except jwt.PyJWTError:
        return None
    version = claims.get("ver")
    return ConsoleSession(
        username=str(claims["sub"]),
        csrf=str(claims["csrf"]),
        version=version if isinstance(version, int) else None,
    )


def csrf_ok(session: ConsoleSession, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf, submitted)
