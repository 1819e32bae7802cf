"""Fault episodes, the rules in force, and a client's service policy (severity map, SLA)."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import ValidationError
from sqlalchemy import select

from server.api.deps import Ctx, CurrentUser, DbSession, UserScope
from server.db import write_session
from server.errors import ForbiddenError, InvalidInputError, NotFoundError
from server.faults.defaults import DEFAULT_SEVERITY
from server.faults.engine import KNOWN_CODES
from server.faults.rules import validate_severity_map
from server.models import Client, FaultEpisode, ServicePolicy
from server.sla import PRESETS, SlaCalendarError, SlaConfigError
from server.tenancy import get_client
from server.tickets.policy import validate_sla_settings
from server.tickets.schemas import EpisodeOut, ServicePolicyBody
from wire.enums import Role
from wire.schema import ErrorBody
from wire.validation import RowId

router = APIRouter(prefix="/api/v1", tags=["faults"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 422)
}


@router.get("/faults", response_model=list[EpisodeOut], responses=ERRORS)
def list_faults(
    scope: UserScope,
    session: DbSession,
    open_only: Annotated[bool, Query(alias="open")] = True,
    site_id: RowId | None = None,
    device_id: RowId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[EpisodeOut]:
    """Fault episodes, newest first (open ones by default)."""
    query = scope.where_site(select(FaultEpisode), FaultEpisode.site_id)
    if open_only:
        query = query.where(FaultEpisode.open_key.is_not(None))
    if site_id is not None:
        query = query.where(FaultEpisode.site_id == site_id)
    if device_id is not None:
        query = query.where(FaultEpisode.device_id == device_id)
    rows = session.scalars(query.order_by(FaultEpisode.id.desc()).limit(limit))
    return [EpisodeOut.of(e) for e in rows]


@router.get("/faults/rules", responses=ERRORS)
def get_rules(user: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    """The detection rules in force, the shipped severity map and the SLA presets."""
    rules = ctx.faults.settings.rules
    return {
        "rules": [r.model_dump(mode="json") for r in rules.rules],
        "severity": {k: v.value for k, v in DEFAULT_SEVERITY.items()},
        "sla_presets": {name: p.to_dict() for name, p in PRESETS.items()},
    }


def _policy_out(row: ServicePolicy | None, client_id: RowId) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "severity": row.severity if row else {},
        "sla": row.sla if row else {},
        "recovered_quiet_minutes": row.recovered_quiet_minutes if row else None,
    }


@router.get("/clients/{client_id}/service-policy", responses=ERRORS)
def get_service_policy(client_id: RowId, scope: UserScope, session: DbSession) -> dict[str, Any]:
    get_client(session=session, client_id=client_id, scope=scope)
    return _policy_out(session.get(ServicePolicy, client_id), client_id)


@router.put("/clients/{client_id}/service-policy", responses=ERRORS)
def put_service_policy(
    client_id: RowId, body: ServicePolicyBody, user: CurrentUser, ctx: Ctx
) -> dict[str, Any]:
    """Replace the client's severity overrides, SLA choice and quiet period; checked first."""
    if user.role not in (Role.ADMIN, Role.MANAGER):
        raise ForbiddenError("only an admin or a manager sets service policies")
    try:
        severity = validate_severity_map(body.severity, known_codes=KNOWN_CODES)
        sla = validate_sla_settings(body.sla)
    except (ValueError, ValidationError, SlaConfigError, SlaCalendarError) as err:
        raise InvalidInputError(str(err)) from err
    with write_session(ctx.engine) as session:
        if session.get(Client, client_id) is None:
            raise NotFoundError(f"no client {client_id}")
        row = session.get(ServicePolicy, client_id)
        now = datetime.now(UTC)
        values = {
            "severity": {k: v.value for k, v in severity.items()},
            "sla": sla,
            "recovered_quiet_minutes": body.recovered_quiet_minutes,
            "updated_at": now,
        }
        if row is None:
            row = ServicePolicy(client_id=client_id, **values)
            session.add(row)
        else:
            for key, value in values.items():
                setattr(row, key, value)
        session.flush()
        return _policy_out(row, client_id)
