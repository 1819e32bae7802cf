"""`secmon report inspection ID --out FILE`: the signed record as PDF (or HTML by extension)."""

from pathlib import Path

import typer
from sqlalchemy.orm import Session

from server.db import make_engine
from server.inspections.models import Inspection
from server.reports.record import load_record
from server.reports.render import PdfUnavailableError, html_to_pdf, inspection_html
from server.settings import Settings

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3


def inspection(inspection_id: int, out: Path) -> int:
    engine = make_engine(Settings().database_url)
    try:
        with Session(engine) as session:
            found = session.get(Inspection, inspection_id)
            if found is None:
                typer.echo(f"secmon: no inspection {inspection_id}", err=True)
                return EXIT_BAD_INPUT
            html = inspection_html(load_record(session=session, inspection=found))
    finally:
        engine.dispose()
    if out.suffix.lower() in (".html", ".htm"):
        out.write_text(html, encoding="utf-8")
    else:
        try:
            out.write_bytes(html_to_pdf(html))
        except PdfUnavailableError as err:
            typer.echo(f"secmon: {err}", err=True)
            return EXIT_UNAVAILABLE
    typer.echo(f"wrote {out}")
    return 0
