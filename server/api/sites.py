"""Sites and their devices with current state, as far as the caller's scope reaches."""

from typing import Any

from fastapi import APIRouter

from server.api.deps import DbSession, UserScope
from server.tenancy import list_devices, list_sites
from server.views import DeviceOut, SiteOut
from wire.schema import ErrorBody
from wire.validation import RowId

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}}


@router.get("", response_model=list[SiteOut], responses=ERRORS)
def get_sites(scope: UserScope, session: DbSession) -> list[SiteOut]:
    return [SiteOut.of(s) for s in list_sites(session=session, scope=scope)]


@router.get("/{site_id}/devices", response_model=list[DeviceOut], responses=ERRORS)
def get_site_devices(site_id: RowId, scope: UserScope, session: DbSession) -> list[DeviceOut]:
    items = list_devices(session=session, site_id=site_id, scope=scope)
    return [DeviceOut.of(item).seen_by(scope) for item in items]
