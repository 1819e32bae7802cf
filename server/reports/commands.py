"""`secmon report inspection|quarterly|incident … --out FILE`: PDF, or HTML for FILE.html."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import make_engine
from server.inspections.models import Inspection
from server.models import Client, Ticket
from server.reports.incident import IncidentError, load_incident
from server.reports.quarterly import load_quarterly
from server.reports.record import load_record
from server.reports.render import (
    PdfUnavailableError,
    html_to_pdf,
    incident_html,
    inspection_html,
    quarterly_html,
)
from server.settings import Settings

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3


STAGES = ("reading", "laying out", "printing the PDF")


@contextmanager
def _progress(out: Path) -> Iterator[Callable[[], None]]:
    """A bar on stderr, one step per stage: a quarterly report of a large client takes seconds
    to read and to print, and a silent terminal looks hung. Off a terminal it prints nothing."""
    stages = STAGES if out.suffix.lower() == ".pdf" else STAGES[:2]
    with typer.progressbar(
        length=len(stages), label=f"secmon report → {out.name}", file=sys.stderr
    ) as bar:
        yield lambda: bar.update(1)


def _write(html: str, out: Path, step: Callable[[], None]) -> int:
    step()  # read and laid out
    if out.suffix.lower() in (".html", ".htm"):
        out.write_text(html, encoding="utf-8")
    else:
        try:
            out.write_bytes(html_to_pdf(html))
        except PdfUnavailableError as err:
            typer.echo(f"secmon: {err}", err=True)
            return EXIT_UNAVAILABLE
        step()
    typer.echo(f"wrote {out}")
    return 0


def quarterly(client_name: str, year: int, quarter: int, out: Path) -> int:
    with _progress(out) as step:
        return _quarterly(client_name, year, quarter, out, step)


def _quarterly(
    client_name: str, year: int, quarter: int, out: Path, step: Callable[[], None]
) -> int:
    engine = make_engine(Settings().database_url)
    try:
        with Session(engine) as session:
            client = session.scalars(select(Client).where(Client.name == client_name)).first()
            if client is None:
                typer.echo(f"secmon: no client {client_name!r}", err=True)
                return EXIT_BAD_INPUT
            try:
                report = load_quarterly(session=session, client=client, year=year, quarter=quarter)
            except ValueError as err:
                typer.echo(f"secmon: {err}", err=True)
                return EXIT_BAD_INPUT
            step()
            html = quarterly_html(report)
    finally:
        engine.dispose()
    return _write(html, out, step)


def inspection(inspection_id: int, out: Path) -> int:
    with _progress(out) as step:
        return _inspection(inspection_id, out, step)


def _inspection(inspection_id: int, out: Path, step: Callable[[], None]) -> int:
    engine = make_engine(Settings().database_url)
    try:
        with Session(engine) as session:
            found = session.get(Inspection, inspection_id)
            if found is None:
                typer.echo(f"secmon: no inspection {inspection_id}", err=True)
                return EXIT_BAD_INPUT
            record = load_record(session=session, inspection=found)
            step()
            html = inspection_html(record)
    finally:
        engine.dispose()
    return _write(html, out, step)


def incident(ticket_id: int, out: Path) -> int:
    with _progress(out) as step:
        return _incident(ticket_id, out, step)


def _incident(ticket_id: int, out: Path, step: Callable[[], None]) -> int:
    engine = make_engine(Settings().database_url)
    try:
        with Session(engine) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                typer.echo(f"secmon: no ticket {ticket_id}", err=True)
                return EXIT_BAD_INPUT
            try:
                report = load_incident(session=session, ticket=ticket, now=datetime.now(UTC))
            except IncidentError as err:
                typer.echo(f"secmon: {err}", err=True)
                return EXIT_BAD_INPUT
            step()
            html = incident_html(report)
    finally:
        engine.dispose()
    return _write(html, out, step)
