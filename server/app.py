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

from server import access_log
from server.api import (
    agents,
    auth,
    client_pages,
    console_inspections,
    console_pages,
    console_training,
    devices,
    faults,
    forecasts,
    health,
    home,
    inspections,
    kpis,
    reports,
    sites,
    status_pages,
    tickets,
)
from server.api import errors as api_errors
from server.api.deps import AppContext
from server.db import make_engine, session_factory
from server.detector import Detector
from server.directory import DeviceDirectory
from server.exposure import FrameGuard
from server.faults.config import load_fault_settings
from server.faults.engine import FaultSettings
from server.inspections.job import generate_periodically
from server.inspections.template import load_contracts
from server.metrics import ServerMetrics
from server.notify import hooks as notify_hooks
from server.notify.metrics import NotifyMetrics
from server.notify.worker import NotificationWorker
from server.predict.job import forecast_site, params_of
from server.predict.store import rollup_all_checks
from server.retention import prune_samples
from server.secret_key import load_secret_key
from server.settings import Settings
from server.state_cache import StateCache
from server.status.rollup import rollup_all
from server.tickets.states import TicketState
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


async def rollup_periodically(ctx: AppContext) -> None:
    """Uptime rollups for the status page; safe alongside other replicas (per-site try-lock)."""
    while True:
        try:
            await asyncio.to_thread(_rollup_once, ctx)
        except SQLAlchemyError:
            log.exception("status: uptime rollup failed, will retry next interval")
        await asyncio.sleep(ctx.settings.status_rollup_seconds)


async def predict_rollup_periodically(ctx: AppContext) -> None:
    """Daily check rollups for forecasts; safe alongside other replicas (per-site try-lock)."""
    while True:
        try:
            await asyncio.to_thread(_predict_rollup_once, ctx)
        except SQLAlchemyError:
            log.exception("predict: check rollup failed, will retry next interval")
        await asyncio.sleep(ctx.settings.predict_rollup_seconds)


def _predict_rollup_once(ctx: AppContext) -> None:
    with ctx.sessions() as session:
        now = datetime.now(UTC)
        params = params_of(ctx.settings.predict_retention_days)
        rollup_all_checks(
            session=session,
            now=now,
            history_days=ctx.settings.predict_history_days,
            after_site=lambda s, site_id, devices: forecast_site(
                session=s,
                site_id=site_id,
                device_ids=devices,
                now=now,
                params=params,
            ),
        )


def _rollup_once(ctx: AppContext) -> None:
    with ctx.sessions() as session:
        rollup_all(session=session, now=datetime.now(UTC))


def create_app(
    settings: Settings | None = None, *, registry: CollectorRegistry | None = None
) -> FastAPI:
    settings = settings or Settings()
    notify_config = notify_hooks.from_path(settings.notify_config)
    notify_config()  # fail fast on a bad notify config
    fault_settings = FaultSettings(
        agent_offline_after=timedelta(seconds=settings.agent_offline_seconds)
    )
    if settings.fault_rules is not None:  # ConfigError (file, line, field) stops the start
        fault_settings = load_fault_settings(settings.fault_rules, fault_settings)
    contracts = load_contracts(settings.inspection_contracts)  # ConfigError stops the start

    def team_sites(username: str) -> frozenset[int]:
        """The sites of the notify config's teams this user is a member (or on the rota) of."""
        return frozenset(
            site
            for team in notify_config().teams.values()
            if username in team.members or (team.rota is not None and username in team.rota.members)
            for site in team.sites
        )

    engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        secret_key=load_secret_key(settings),
        metrics=ServerMetrics(
            registry or CollectorRegistry(), engine, ticket_states=[s.value for s in TicketState]
        ),
        directory=DeviceDirectory(),
        states=StateCache(),
        faults=Detector(engine, fault_settings, sweep_seconds=settings.fault_sweep_seconds),
        team_sites=team_sites,
    )

    notify_metrics = NotifyMetrics(ctx.metrics.registry, engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(prune_periodically(ctx), name="secmon-retention"),
            asyncio.create_task(ctx.faults.run(), name="secmon-detector"),
            asyncio.create_task(ctx.faults.sweep_periodically(), name="secmon-fault-sweep"),
            asyncio.create_task(rollup_periodically(ctx), name="secmon-uptime-rollup"),
            asyncio.create_task(predict_rollup_periodically(ctx), name="secmon-predict-rollup"),
            asyncio.create_task(
                generate_periodically(
                    ctx.sessions, contracts, notify_config, settings.inspection_seconds
                ),
                name="secmon-inspections",
            ),
        ]
        if settings.notify_worker:
            worker = NotificationWorker(engine, notify_config, metrics=notify_metrics)
            tasks.append(asyncio.create_task(worker.run(), name="secmon-notify"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            engine.dispose()

    app = FastAPI(
        title="secmon",
        summary="Monitoring for physical security installations",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.inspection_contracts = contracts
    app.add_middleware(FrameGuard)
    api_errors.install(app)
    access_log.install()
    for module in (
        agents,
        auth,
        sites,
        devices,
        forecasts,
        health,
        tickets,
        faults,
        kpis,
        status_pages,
        inspections,
        reports,
    ):
        app.include_router(module.router)
    app.include_router(status_pages.pages)
    app.include_router(client_pages.pages)
    app.include_router(console_inspections.router)
    app.include_router(console_training.router)
    app.include_router(console_pages.router)
    app.include_router(home.router)

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
