"""`secmon inspections …`: verify a signed record's seal, generate the current inspections."""

from datetime import UTC, datetime

import typer
from sqlalchemy.orm import Session

from server.db import make_engine
from server.inspections.models import Inspection
from server.inspections.record import RecordError
from server.inspections.store import generate_all, verify
from server.inspections.template import load_contracts
from server.notify import hooks as notify_hooks
from server.settings import Settings

EXIT_ALTERED = 1
EXIT_BAD_INPUT = 2


def verify_record(inspection_id: int) -> int:
    """0 when the stored record matches its seal, 1 when it was altered, 2 when it cannot be
    checked (no such inspection, not signed)."""
    engine = make_engine(Settings().database_url)
    try:
        with Session(engine) as session:
            inspection = session.get(Inspection, inspection_id)
            if inspection is None:
                typer.echo(f"secmon: no inspection {inspection_id}", err=True)
                return EXIT_BAD_INPUT
            try:
                found = verify(session=session, inspection=inspection)
            except RecordError as err:
                typer.echo(f"secmon: {err}", err=True)
                return EXIT_BAD_INPUT
    finally:
        engine.dispose()
    typer.echo(f"stored   {found.stored}\ncomputed {found.computed}")
    if found.intact:
        typer.echo(f"inspection {inspection_id}: intact")
        return 0
    typer.echo(f"inspection {inspection_id}: ALTERED since it was signed")
    return EXIT_ALTERED


def generate_now() -> int:
    settings = Settings()
    contracts = load_contracts(settings.inspection_contracts)
    notify_hooks.use_config(notify_hooks.from_path(settings.notify_config))
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            handled = generate_all(session=session, contracts=contracts, now=datetime.now(UTC))
    finally:
        engine.dispose()
    typer.echo(f"{handled} site(s) have their current inspection generated and pre-filled")
    return 0
