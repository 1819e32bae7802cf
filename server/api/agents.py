"""Agent endpoints: device inventory and sample batches (agent bearer token)."""

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from server.agent_commands import acknowledge
from server.agent_tokens import record_heartbeat, touch_agent_token
from server.api.deps import Ctx, CurrentAgent, agent_bearer, agent_from_credentials
from server.db import write_session
from server.errors import BadJsonError, DomainError, InvalidInputError, TooLargeError
from server.ingest import MAX_REPORTED_ERRORS, decode_body, ingest
from server.tenancy import register_inventory
from wire.schema import (
    AcksResult,
    AgentHeartbeat,
    CommandAcks,
    ErrorBody,
    IngestResult,
    Inventory,
    InventoryResult,
)

router = APIRouter(prefix="/api/v1", tags=["agent"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 413, 422, 503)
}


@router.post(
    "/inventory",
    response_model=InventoryResult,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "An Inventory as JSON, optionally with Content-Encoding: gzip.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Inventory"}}},
        }
    },
)
async def post_inventory(request: Request, agent: CurrentAgent, ctx: Ctx) -> InventoryResult:
    """Register or update the devices of the token's site.

    The body is read by hand, as /ingest does, so that a body that is not JSON answers 400
    `bad_json` (not a 422 field list), and only after the token was checked."""
    body = await _read_body(request, ctx.settings.max_body_bytes)
    data = decode_body(
        body,
        content_encoding=request.headers.get("content-encoding"),
        max_decompressed=ctx.settings.max_decompressed_bytes,
    )
    inventory = parse_inventory(data)

    def store() -> InventoryResult:
        now = datetime.now(UTC)
        with write_session(ctx.engine) as session:
            result = register_inventory(
                session=session, site_id=agent.site_id, inventory=inventory, now=now
            )
            touch_agent_token(conn=session.connection(), principal=agent, now=now)
        return result

    return await run_in_threadpool(store)


def parse_inventory(data: bytes) -> Inventory:
    """Validate an inventory body; bad JSON is `bad_json` (400), a bad field `invalid` (422)."""
    try:
        return Inventory.model_validate_json(data)
    except ValidationError as err:
        errors = err.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise BadJsonError(f"body is not valid JSON: {errors[0]['msg']}") from err
        detail = [
            {"field": _field_path(e["loc"]), "message": e["msg"]}
            for e in errors[:MAX_REPORTED_ERRORS]
        ]
        raise InvalidInputError("inventory failed validation", detail) from err


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"body over {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/ingest",
    response_model=IngestResult,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "An IngestBatch as JSON, optionally with Content-Encoding: gzip.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}
            },
        }
    },
)
async def post_ingest(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(agent_bearer)],
) -> IngestResult:
    """Store a batch of samples and move device state forward; retries are harmless."""
    metrics = ctx.metrics
    try:
        # The token first: a caller without one must not make the server read megabytes.
        agent = await run_in_threadpool(agent_from_credentials, ctx, credentials)
        body = await _read_body(request, ctx.settings.max_body_bytes)
        encoding = request.headers.get("content-encoding")
        started = time.perf_counter()

        def store() -> IngestResult:
            return ingest(
                engine=ctx.engine,
                principal=agent,
                body=body,
                content_encoding=encoding,
                max_decompressed=ctx.settings.max_decompressed_bytes,
                directory=ctx.directory,
                states=ctx.states,
                after_commit=ctx.faults.wake,
                window=ctx.settings.time_window,
            )

        result = await run_in_threadpool(store)
    except DomainError as err:
        metrics.batches_rejected.labels(err.code).inc()
        raise
    metrics.batch_seconds.observe(time.perf_counter() - started)
    metrics.samples_ingested.labels("accepted").inc(result.accepted)
    metrics.samples_ingested.labels("duplicate").inc(result.duplicates)
    metrics.samples_ingested.labels("refused").inc(len(result.refused))
    return result


@router.post("/heartbeat", status_code=204, responses=ERRORS)
def post_heartbeat(beat: AgentHeartbeat, agent: CurrentAgent, ctx: Ctx) -> None:
    """The agent's version and outbox health, kept per token (latest wins)."""
    with write_session(ctx.engine) as session:
        record_heartbeat(session=session, agent=agent, beat=beat, now=datetime.now(UTC))


@router.post("/commands/ack", response_model=AcksResult, responses=ERRORS)
def post_command_acks(acks: CommandAcks, agent: CurrentAgent, ctx: Ctx) -> AcksResult:
    """The agent ran these commands (from an ingest answer); acknowledging twice is harmless,
    and ids that are not this site's are ignored."""
    with write_session(ctx.engine) as session:
        done = acknowledge(
            session.connection(), site_id=agent.site_id, ids=acks.ids, now=datetime.now(UTC)
        )
    return AcksResult(acknowledged=done)
