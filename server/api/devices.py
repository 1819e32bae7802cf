"""One device with its current state, its recent raw samples, and the operator's requests
for its agent (a picture re-learn)."""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from server import agent_commands
from server.api.deps import Ctx, CurrentUser, DbSession, UserScope
from server.db import write_session
from server.tenancy import get_device, recent_samples
from server.views import DeviceOut, SampleOut
from wire.enums import CommandKind
from wire.schema import ErrorBody
from wire.validation import RowId

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}}
COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409)
}


class CommandOut(BaseModel):
    """A request for the device's agent: who asked, when, and when the agent ran it."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    kind: str
    device_id: int
    requested_by: str | None
    requested_at: datetime
    acked_at: datetime | None

    @classmethod
    def of(cls, v: agent_commands.CommandView) -> "CommandOut":
        return cls(
            id=v.id,
            kind=v.kind,
            device_id=v.device_id,
            requested_by=v.requested_by,
            requested_at=v.requested_at,
            acked_at=v.acked_at,
        )


@router.get("/{device_id}", response_model=DeviceOut, responses=ERRORS)
def get_one_device(device_id: RowId, scope: UserScope, session: DbSession) -> DeviceOut:
    return DeviceOut.of(get_device(session=session, device_id=device_id, scope=scope)).seen_by(
        scope
    )


@router.get("/{device_id}/samples", response_model=list[SampleOut], responses=ERRORS)
def get_device_samples(
    device_id: RowId,
    scope: UserScope,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        datetime | None, Query(description="Only samples with ts before this.")
    ] = None,
) -> list[SampleOut]:
    """Newest first; page with `before` = the last ts you got."""
    rows = recent_samples(
        session=session,
        device_id=device_id,
        scope=scope,
        limit=limit,
        before=before,
    )
    return [SampleOut.of(r) for r in rows]


@router.post(
    "/{device_id}/picture/relearn",
    response_model=CommandOut,
    status_code=202,
    responses=COMMAND_ERRORS,
)
def request_picture_relearn(
    device_id: RowId, user: CurrentUser, scope: UserScope, ctx: Ctx, response: Response
) -> CommandOut:
    """Ask the camera's agent to forget what its picture normally looks like (the camera was
    re-aimed, or its scene changed on purpose) and learn it again. Delivered with the answer
    to the agent's next ingest; asking again while one is pending returns that one (200)."""
    with write_session(ctx.engine) as session:
        device = get_device(session=session, device_id=device_id, scope=scope).device
        found, new = agent_commands.request(
            session=session,
            device=device,
            kind=CommandKind.PICTURE_RELEARN,
            role=user.role,
            user_id=user.user_id,
            now=datetime.now(UTC),
        )
        if not new:
            response.status_code = 200
        return CommandOut.of(found)


@router.get("/{device_id}/commands", response_model=list[CommandOut], responses=ERRORS)
def get_device_commands(device_id: RowId, scope: UserScope, session: DbSession) -> list[CommandOut]:
    """The device's latest requests for its agent, newest first (the audit trail)."""
    get_device(session=session, device_id=device_id, scope=scope)
    found = agent_commands.recent_for_device(session=session, device_id=device_id)
    return [CommandOut.of(v) for v in found]
