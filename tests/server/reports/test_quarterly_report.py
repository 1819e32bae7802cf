"""The quarterly client report's numbers equal the rollups and tickets they summarise, computed
here independently from the same tables; the PDF holds them."""

import io
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from server.inspections.store import generate_all
from server.inspections.template import Contracts, shipped_template
from server.models import Client, Device, Site, Ticket, UptimeDay
from server.reports import commands
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
    # Runs of one colour are one shape: no data until 12-01, up, down, up, no data again.
    assert html.count("<rect") == 5
    assert "2026-10-01 to 2026-11-30: nodata" in html


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


def test_quarterly_per_subsystem_repeats_and_recommendations(
    database_url: str, site: dict[str, int]
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from server.models import FaultEpisode, SubsystemDay
    from tests.server.inspections.test_store import _episode

    day = 86400
    with _session(database_url) as session:
        session.execute(
            insert(SubsystemDay),
            [
                {"site_id": site["site"], "subsystem": subsystem, "day": date(2026, 11, d),
                 "devices": 2, "up_s": up, "down_s": down, "unknown_s": 0,
                 "maintenance_s": 0, "nodata_s": nodata}
                for subsystem, d, up, down, nodata in [
                    ("video", 1, 2 * day - 7200, 7200, 0),
                    ("video", 2, 2 * day - 3600, 0, 3600),
                    ("power", 1, day, 0, 0),
                ]
            ],
        )  # fmt: skip
        first = datetime(2026, 11, 10, tzinfo=UTC)
        session.execute(
            insert(FaultEpisode),
            [
                _episode(site["site"], site["cam-2"], "camera.stream_down",
                         first + timedelta(days=k), first + timedelta(days=k, hours=1))
                for k in range(3)
            ],
        )  # fmt: skip
        session.commit()
        generate_all(session=session, contracts=Contracts(shipped_template()), now=NOW)
        s = session.get(Site, site["site"])
        assert s is not None
        client = session.get(Client, s.client_id)
        assert client is not None
        report = load_quarterly(session=session, client=client, year=2026, quarter=4)
        html = quarterly_html(report)
    by = {q.subsystem: q for q in report.subsystems}
    assert (by["video"].up_s, by["video"].down_s, by["video"].unknown_s) == (
        4 * day - 10800,
        7200,
        3600,
    )
    assert by["video"].availability == pytest.approx(
        100 * (4 * day - 10800) / (4 * day - 10800 + 7200)
    )
    assert by["power"].availability == 100
    (repeat,) = report.repeats
    assert (repeat.device_name, repeat.code, repeat.episodes) == ("cam-2", "camera.stream_down", 3)
    said = "\n".join(report.recommendations)
    assert "cam-2: camera.stream_down 3 times" in said
    assert "「图像记录设备在线率」" in said  # the nvr's failed inspection row
    assert "Close the 3 open ticket(s)" in said
    assert 'id="recommendations"' in html
    assert "camera.stream_down" in html


def test_recommendations_put_preventive_work_first_and_skip_it_among_open_tickets() -> None:
    from server.reports.quarterly import SubsystemQuarter, recommendations

    said = recommendations(
        sites=[],
        subsystems=[
            SubsystemQuarter("hq", "video", 98, 2, 0),
            SubsystemQuarter("hq", "power", 1, 0, 0),
        ],
        repeats=[],
        open_tickets=[(7, "UPS battery will fail"), (8, "cam-3 down")],
        preventive=[(7, "UPS battery will fail")],
        inspections=[],
    )
    assert said[0].startswith("Carry out the proposed preventive work of ticket #7")
    assert "hq video (98.00%)" in said[1]
    assert "power" not in said[1]
    assert said[2] == "Close the 1 open ticket(s): #8."


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("name", "stages"), [("q.pdf", 3), ("q.html", 2)])
def test_the_report_command_shows_a_bar_by_stage_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, name: str, stages: int
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with commands._progress(Path(name)) as step:
        for _ in range(stages):
            step()
    shown = terminal.getvalue()
    assert f"secmon report → {name}" in shown
    assert "100%" in shown
