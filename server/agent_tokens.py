"""Agent credentials: `smt_<prefix>_<secret>`, site-scoped, revocable.

Only a SHA-256 of the secret is stored: the secret is 256 random bits, so a fast hash is safe,
and Argon2 (for low-entropy passwords) would cost too much on every ingest request.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from server.errors import NotFoundError
from server.models import AgentHeartbeatRow, AgentToken
from wire.schema import AgentHeartbeat

SCHEME = "smt"
# last_used_at is a hint for admins; writing it on every request would cost a write per batch.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once, never stored
    prefix: str
    site_id: int


@dataclass(frozen=True, slots=True)
class AgentPrincipal:
    token_id: int
    site_id: int
    prefix: str
    last_used_stale: bool = False  # last_used_at should be written in the caller's transaction


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_agent_token(*, session: Session, site_id: int, now: datetime) -> IssuedToken:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        AgentToken(site_id=site_id, prefix=prefix, secret_sha256=_digest(secret), created_at=now)
    )
    session.flush()
    return IssuedToken(token=f"{SCHEME}_{prefix}_{secret}", prefix=prefix, site_id=site_id)


def revoke_agent_token(*, session: Session, prefix: str, now: datetime) -> None:
    token = session.scalars(select(AgentToken).where(AgentToken.prefix == prefix)).one_or_none()
    if token is None:
        raise NotFoundError(f"no agent token with prefix {prefix!r}")
    if token.revoked_at is None:
        token.revoked_at = now


def authenticate_agent(*, conn: Connection, token: str, now: datetime) -> AgentPrincipal | None:
    """The token's principal, or None if it is malformed, unknown or revoked (read only)."""
    scheme, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or not prefix or not secret:
        return None
    row = conn.execute(
        select(
            AgentToken.id,
            AgentToken.site_id,
            AgentToken.secret_sha256,
            AgentToken.revoked_at,
            AgentToken.last_used_at,
        ).where(AgentToken.prefix == prefix)
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    stale = row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION
    return AgentPrincipal(
        token_id=row.id, site_id=row.site_id, prefix=prefix, last_used_stale=stale
    )


def touch_agent_token(*, conn: Connection, principal: AgentPrincipal, now: datetime) -> None:
    """Record use of the token, at most once per LAST_USED_RESOLUTION."""
    if principal.last_used_stale:
        conn.execute(
            update(AgentToken).where(AgentToken.id == principal.token_id).values(last_used_at=now)
        )


def record_heartbeat(
    *, session: Session, agent: AgentPrincipal, beat: AgentHeartbeat, now: datetime
) -> None:
    """Keep the latest heartbeat of this token (one row per token, overwritten)."""
    row = session.get(AgentHeartbeatRow, agent.token_id)
    if row is None:
        row = AgentHeartbeatRow(token_id=agent.token_id, site_id=agent.site_id)
        session.add(row)
    row.site_id = agent.site_id
    row.agent_version = beat.agent_version
    row.sent_at = beat.sent_at
    row.received_at = now
    row.outbox_depth = beat.outbox_depth
    row.outbox_bytes = beat.outbox_bytes
    row.outbox_oldest_age_s = beat.outbox_oldest_age_s
    row.outbox_dropped_total = beat.outbox_dropped_total
    row.outbox_rejected_total = beat.outbox_rejected_total
    # A heartbeat is use of the token too: an agent with nothing to send is still alive.
    session.execute(
        update(AgentToken).where(AgentToken.id == agent.token_id).values(last_used_at=now)
    )
