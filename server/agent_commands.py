"""Operator requests for a site's agent: stored here, handed to the agent with the answer to
its next ingest, marked done when it acknowledges them.

The server cannot call an agent (agents sit behind site NAT and only call out), so a command
waits in `agent_commands` until the site's agent next pushes a batch. Requests and
acknowledgements are idempotent: asking again while one is pending returns the pending one,
and acknowledging an id twice (or an id of another site) changes nothing. The row stays after
it ran, with who asked and when it was done: the audit trail of the action.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from server.errors import ConflictError, ForbiddenError
from server.models import AgentCommandRow, Device, User
from wire.enums import CommandKind, ProbeKind, Role
from wire.ids import uuid7
from wire.schema import MAX_COMMANDS_PER_ANSWER, AgentCommand

log = logging.getLogger(__name__)

# Who may ask an agent to act on a device, per command: re-learning a camera's picture changes
# what the analyser calls normal, so it is for the people who answer for the installation.
ROLES: dict[CommandKind, frozenset[Role]] = {
    CommandKind.PICTURE_RELEARN: frozenset({Role.ADMIN, Role.MANAGER, Role.TECHNICIAN}),
}
# The protocol a device must be polled with for the command to mean anything.
PROTOCOL: dict[CommandKind, ProbeKind] = {CommandKind.PICTURE_RELEARN: ProbeKind.ONVIF}


def allowed(kind: CommandKind, role: Role) -> bool:
    return role in ROLES[kind]


@dataclass(frozen=True, slots=True)
class CommandView:
    """A command as the API and the console show it."""

    id: UUID
    kind: str
    device_id: int
    requested_by: str | None
    requested_at: datetime
    acked_at: datetime | None


def request(
    *,
    session: Session,
    device: Device,
    kind: CommandKind,
    role: Role,
    user_id: int | None,
    now: datetime,
) -> tuple[CommandView, bool]:
    """The pending command of this kind for the device, or a new one; True when new.
    ForbiddenError for a role that may not ask, ConflictError for a device it means nothing to
    (the caller has already checked the user reaches the device)."""
    if not allowed(kind, role):
        raise ForbiddenError(f"role {role.value} may not request {kind.value}")
    if device.protocol != PROTOCOL[kind].value:
        raise ConflictError(f"{kind.value} needs an {PROTOCOL[kind].value} device")
    pending = session.scalars(
        select(AgentCommandRow).where(
            AgentCommandRow.device_id == device.id,
            AgentCommandRow.kind == kind.value,
            AgentCommandRow.acked_at.is_(None),
        )
    ).first()
    if pending is not None:
        return _with_name(session, pending), False
    row = AgentCommandRow(
        id=uuid7(),
        site_id=device.site_id,
        device_id=device.id,
        kind=kind.value,
        requested_by=user_id,
        requested_at=now,
        acked_at=None,
    )
    session.add(row)
    session.flush()
    log.info(
        "command %s requested for device %s (%s) by user %s",
        kind.value,
        device.id,
        device.ext_id,
        user_id,
    )
    return _with_name(session, row), True


def _with_name(session: Session, row: AgentCommandRow) -> CommandView:
    user = session.get(User, row.requested_by) if row.requested_by is not None else None
    return view(row, user.username if user is not None else None)


def pending_for_site(conn: Connection, *, site_id: int) -> list[AgentCommand]:
    """What the site's agent has not acknowledged yet, oldest first (Core: the ingest path)."""
    rows = conn.execute(
        select(AgentCommandRow.id, AgentCommandRow.kind, Device.ext_id)
        .join(Device, Device.id == AgentCommandRow.device_id)
        .where(AgentCommandRow.site_id == site_id, AgentCommandRow.acked_at.is_(None))
        .order_by(AgentCommandRow.requested_at, AgentCommandRow.id)
        .limit(MAX_COMMANDS_PER_ANSWER)
    ).all()
    return [AgentCommand(id=r.id, kind=CommandKind(r.kind), device=r.ext_id) for r in rows]


def acknowledge(conn: Connection, *, site_id: int, ids: Sequence[UUID], now: datetime) -> int:
    """Mark the site's commands with these ids done; returns how many were not done before.
    Ids of other sites or unknown ones are ignored (an agent acts only for its own site)."""
    if not ids:
        return 0
    result = conn.execute(
        update(AgentCommandRow)
        .where(
            AgentCommandRow.site_id == site_id,
            AgentCommandRow.id.in_(list(ids)),
            AgentCommandRow.acked_at.is_(None),
        )
        .values(acked_at=now)
    )
    done = int(result.rowcount)
    if done:
        log.info("site %s: agent acknowledged %d command(s)", site_id, done)
    return done


def recent_for_device(*, session: Session, device_id: int, limit: int = 10) -> list[CommandView]:
    """The device's latest commands, newest first, with who asked."""
    rows = session.execute(
        select(AgentCommandRow, User.username)
        .outerjoin(User, User.id == AgentCommandRow.requested_by)
        .where(AgentCommandRow.device_id == device_id)
        .order_by(AgentCommandRow.requested_at.desc(), AgentCommandRow.id.desc())
        .limit(limit)
    ).all()
    return [view(row, username) for row, username in rows]


def view(row: AgentCommandRow, username: str | None) -> CommandView:
    return CommandView(
        id=row.id,
        kind=row.kind,
        device_id=row.device_id,
        requested_by=username,
        requested_at=row.requested_at,
        acked_at=row.acked_at,
    )
