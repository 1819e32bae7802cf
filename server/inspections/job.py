"""The generation job: every interval, each site's current inspection is generated (on the
first day of its cycle, in the site's time zone) and open ones are pre-filled afresh. Safe on
several replicas (per-site try-lock and the unique period key)."""

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from server.inspections.store import generate_all
from server.inspections.template import Contracts

log = logging.getLogger(__name__)


def run_once(sessions: sessionmaker[Session], contracts: Contracts) -> int:
    with sessions() as session:
        return generate_all(session=session, contracts=contracts, now=datetime.now(UTC))


async def generate_periodically(
    sessions: sessionmaker[Session], contracts: Contracts, interval_s: float
) -> None:
    while True:
        try:
            await asyncio.to_thread(run_once, sessions, contracts)
        except SQLAlchemyError:
            log.exception("inspections: generation failed, will retry next interval")
        await asyncio.sleep(interval_s)
