"""The quarterly client report's numbers equal the rollups and tickets they summarise, computed
here independently from the same tables; the PDF holds them."""

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from server.inspections.store import generate_all
from server.inspections.template import Contracts, shipped_template
from server.models import Client, Device, Site, Ticket, UptimeDay
from server.reports.quarterly import load_quarterly, quarter_dates
from server.reports.render import quarterly_html
from tests.server.inspections.test_store import NOW, _session, site

__all__ = ["site"]  # the fixture, shared with the store tests


def test_quarter_dates() -> None:
    assert quarter_dates(2026, 4) == (date(2026, 10, 1), date(2027, 1, 1))
    assert quarter_dates(2027, 1) == (date(2027, 1, 1), date(2027, 4, 1))
    with pytest.raises(ValueError, match="quarter 5"):
        quarter_dates(2026, 5)


def test_quarterly_numbers_equal_the_rollups_and_tickets(
    database_url: str, site: dict[str, int]
) -> None:
    with _session(database_url) as session:
        generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        s = session.get(Site, site["site"])
        assert s is not None
        client = session.get(Client, s.client_id)
        assert client is not None
        report = load_quarterly(session=session, client=client, year=2026, quarter=4)
        up, down, nodata = session.execute(
            select(
                func.sum(UptimeDay.up_s), func.sum(UptimeDay.down_s), func.sum(UptimeDay.nodata_s)
            )
            .join(Device, Device.id == UptimeDay.device_id)
            .where(Device.site_id == s.id)
        ).one()
        tickets = session.scalars(select(Ticket).where(Ticket.client_id == client.id)).all()
        html = quarterly_html(report)
    (only,) = report.sites
    assert (only.up_s, only.down_s, only.unknown_s) == (up, down, nodata)
    assert only.availability == pytest.approx(100 * up / (up + down))
    assert len(only.bars) == 92  # October, November, December
    assert [b.colour for b in only.bars if b.colour != "nodata"] == ["up", "down", "up"]
    assert report.opened == len(tickets) == 3
    assert {t for t, _ in report.open_tickets} == {t.id for t in tickets}
    assert report.kpis.tickets == 3
    (line,) = report.inspections
    assert "图像记录设备在线率@nvr-1" in line.failed
    assert f"{only.availability:.2f}%" in html
    assert html.count("<rect") == 92


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_quarterly_pdf_from_the_command_line(
    database_url: str, site: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _session(database_url) as session:
        generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        s = session.get(Site, site["site"])
        assert s is not None
        client = session.get(Client, s.client_id)
        assert client is not None
        name = client.name
        shown = load_quarterly(session=session, client=client, year=2026, quarter=4)
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "q.pdf"
    args = ["report", "quarterly", "--client", name, "--year", "2026", "--quarter", "4"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "季度维护工作报告" in text
    assert f"{shown.sites[0].availability:.2f}%" in text
    bad = CliRunner().invoke(
        app,
        [
            "report",
            "quarterly",
            "--client",
            "nobody",
            "--year",
            "2026",
            "--quarter",
            "4",
            "--out",
            str(out),
        ],
    )
    assert bad.exit_code == 2
