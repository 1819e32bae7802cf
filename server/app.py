"""The FastAPI application factory: wires settings, engine, metrics, routers and the pruner."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError

from server.api import agents, auth, devices, health, sites
from server.api import errors as api_errors
from server.api.deps import AppContext
from server.db import make_engine, session_factory
from server.directory import DeviceDirectory
from server.metrics import ServerMetrics
from server.retention import prune_samples
from server.secret_key import load_secret_key
from server.settings import Settings
from server.state_cache import StateCache
from wire.schema import IngestBatch, Inventory

log = logging.getLogger(__name__)


async def prune_periodically(ctx: AppContext) -> None:
    """Retention, now and then every interval; each run is safe alongside other replicas."""
    retention = timedelta(days=ctx.settings.retention_days)
    while True:
        try:
            await asyncio.to_thread(
                prune_samples, engine=ctx.engine, retention=retention, now=datetime.now(UTC)
            )
        except SQLAlchemyError:
            log.exception("retention: prune failed, will retry next interval")
        await asyncio.sleep(ctx.settings.prune_interval_seconds)


def create_app(
    settings: Settings | None = None, *, registry: CollectorRegistry | None = None
) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        secret_key=load_secret_key(settings),
        metrics=ServerMetrics(registry or CollectorRegistry(), engine),
        directory=DeviceDirectory(),
        states=StateCache(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pruner = asyncio.create_task(prune_periodically(ctx), name="secmon-retention")
        try:
            yield
        finally:
            pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruner
            engine.dispose()

    app = FastAPI(
        title="secmon",
        summary="Monitoring for physical security installations",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    api_errors.install(app)
    for module in (agents, auth, sites, devices, health):
        app.include_router(module.router)

    def openapi() -> dict[str, Any]:
        # The ingest and inventory handlers read their raw (maybe gzip) bodies: schemas by hand.
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (IngestBatch, Inventory):
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[model.__name__] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return app
