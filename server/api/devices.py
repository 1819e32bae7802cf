"""One device with its current state, and its recent raw samples."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from server.api.deps import DbSession, UserScope
from server.tenancy import get_device, recent_samples
from server.views import DeviceOut, SampleOut
from wire.schema import ErrorBody
from wire.validation import RowId

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}}


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
