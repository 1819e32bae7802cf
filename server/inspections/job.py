"""The generation job: every interval, each site's current inspection is generated (on the
first day of its cycle, in the site's time zone) and open ones are pre-filled afresh. Safe on
several replicas (per-site try-lock and the unique period key)."""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from server.inspections.store import generate_all, notify_overdue
from server.inspections.template import Contracts
from server.notify.config import NotifyConfig

log = logging.getLogger(__name__)


def run_once(
    sessions: sessionmaker[Session], contracts: Contracts, notify: Callable[[], NotifyConfig]
) -> int:
    """Generate and pre-fill every site's inspection, then queue the overdue notices."""
    now = datetime.now(UTC)
    with sessions() as session:
        handled = generate_all(session=session, contracts=contracts, now=now)
        notify_overdue(session=session, config=notify(), now=now)
        session.commit()
    return handled


async def generate_periodically(
    sessions: sessionmaker[Session],
    contracts: Contracts,
    notify: Callable[[], NotifyConfig],
    interval_s: float,
) -> None:
    """Rounds every `interval_s`, the first one interval after start: inspections change by the
    day, and replicas restarted together do not all walk every site at once."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(run_once, sessions, contracts, notify)
        except SQLAlchemyError:
            log.exception("inspections: generation failed, will retry next interval")
