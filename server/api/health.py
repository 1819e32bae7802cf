"""Liveness with a database check, and Prometheus metrics."""

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.api.deps import Ctx
from server.api.errors import error_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(ctx: Ctx) -> JSONResponse:
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return error_response(503, "unavailable", "database unreachable", {"Retry-After": "5"})
    body = {"status": "ok", "database": ctx.engine.dialect.name}
    if ctx.settings.instance:
        body["instance"] = ctx.settings.instance
    return JSONResponse(body)


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: Ctx) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
