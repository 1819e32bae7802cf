"""Sites and their devices with current state; role client sees only its own client's."""

from typing import Any

from fastapi import APIRouter

from server.api.deps import CurrentUser, DbSession, client_scope
from server.tenancy import list_devices, list_sites
from server.views import DeviceOut, SiteOut
from wire.schema import ErrorBody

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}}


@router.get("", response_model=list[SiteOut], responses=ERRORS)
def get_sites(user: CurrentUser, session: DbSession) -> list[SiteOut]:
    return [SiteOut.of(s) for s in list_sites(session=session, client_id=client_scope(user))]


@router.get("/{site_id}/devices", response_model=list[DeviceOut], responses=ERRORS)
def get_site_devices(site_id: int, user: CurrentUser, session: DbSession) -> list[DeviceOut]:
    items = list_devices(session=session, site_id=site_id, client_id=client_scope(user))
    return [DeviceOut.of(item) for item in items]
