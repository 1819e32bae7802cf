"""Browser sessions for the console: a signed cookie, a CSRF token inside it, and a login
rate limit. Pure (clock injected), so the rules are tested without a server."""

import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field
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


def issue_session(*, username: str, secret_key: str, ttl: timedelta, now: datetime) -> str:
    """A signed cookie value; the audience keeps it from being used as an API token and back."""
    claims: dict[str, Any] = {
        "sub": username,
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
    return ConsoleSession(username=str(claims["sub"]), csrf=str(claims["csrf"]))


def csrf_ok(session: ConsoleSession, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(session.csrf, submitted)


@dataclass
class LoginLimiter:
    """At most `per_user` failed logins per `window` for one username, and `per_address` for
    one address (higher: an office behind one NAT shares it).

    In memory, per server process: behind several replicas an attacker gets a few more tries,
    which is still far from a useful guessing rate.
    """

    per_user: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=5)
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def retry_after(self, *, username: str, address: str, now: datetime) -> timedelta | None:
        """How long this login must wait, or None if it may be tried now."""
        waits = []
        for key, limit in (
            (f"u:{username.lower()}", self.per_user),
            (f"a:{address}", self.per_address),
        ):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(times[0] + self.window - now)
        return max(waits) if waits else None

    def failed(self, *, username: str, address: str, now: datetime) -> None:
        for key in (f"u:{username.lower()}", f"a:{address}"):
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:  # bound memory under a spray of names
            for key in [k for k, v in self._failures.items() if not v][:5_000]:
                del self._failures[key]

    def succeeded(self, *, username: str) -> None:
        self._failures.pop(f"u:{username.lower()}", None)
