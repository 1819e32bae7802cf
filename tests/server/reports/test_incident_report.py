"""The fault analysis report of an emergency ticket: impact in device-hours from the ticket's
episodes and those held under it (overlaps counted once), the timeline, cause and prevention;
the PDF from the command line holds them."""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from cli.main import app
from server.models import FaultEpisode, RepairRecord, Site, Ticket
from server.reports.incident import IncidentError, load_incident, merged_seconds
from server.reports.render import incident_html
from server.tickets.intake import Opening, open_ticket
from server.tickets.policy import service_settings
from server.tickets.service import KNOWN_FAULT_CODES, Actor
from server.tickets.states import Channel, TicketKind
from tests.server.inspections.test_store import NOW, START, _episode, _session, site

__all__ = ["site"]  # the fixture, shared with the store tests
T = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_merged_seconds_counts_overlaps_once() -> None:
    assert merged_seconds([]) == 0
    assert merged_seconds([(T, T + 2 * H), (T + H, T + 3 * H), (T + 5 * H, T + 6 * H)]) == 4 * 3600
    assert merged_seconds([(T + H, T + 2 * H), (T, T + 3 * H)]) == 3 * 3600


def _ticket(session: object, s: Site, device_id: int, severity: str) -> Ticket:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return open_ticket(
        session=session,
        site=s,
        device=None,
        opening=Opening(
            kind=TicketKind.FAULT,
            code="device.unreachable",
            open_key=f"test:{severity}:{device_id}",
            severity=severity,
            title="nvr-1 unreachable",
            symptom="recorder gone, cameras behind it dark",
            first_failure_at=START,
            channel=Channel.MONITORING,
            reporter="monitoring",
        ),
        settings=service_settings(
            session=session, client_id=s.client_id, known_codes=list(KNOWN_FAULT_CODES)
        ),
        actor=Actor.monitoring(),
        now=START + timedelta(days=1, hours=2),
    )


def test_incident_report_from_episodes_and_repair_record(
    database_url: str, site: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _session(database_url) as session:
        s = session.get(Site, site["site"])
        assert s is not None
        ticket = _ticket(session, s, site["nvr-1"], "emergency")
        general = _ticket(session, s, site["cam-2"], "general")
        # The fixture's 6-hour nvr-1 outage is this ticket's; cam-1 is held under it for 2 h
        # of that (overlapping twice), cam-2 for 1 h.
        parent = session.scalars(
            select(FaultEpisode).where(FaultEpisode.device_id == site["nvr-1"])
        ).one()
        parent.ticket_id = ticket.id
        down = parent.started_at
        for device, begin, hours in [("cam-1", 0, 2), ("cam-1", 1, 1), ("cam-2", 3, 1)]:
            row = FaultEpisode(
                **_episode(
                    site["site"],
                    site[device],
                    "device.unreachable",
                    down + begin * H,
                    down + (begin + hours) * H,
                )
            )
            row.key += f":{device}:{begin}"
            row.parent_episode_id = parent.id
            session.add(row)
        session.add(
            RepairRecord(
                ticket_id=ticket.id,
                version=1,
                diagnosis="recorder PSU failed",
                cause_class="equipment",
                actions="replaced the PSU",
                parts=[{"name": "PSU", "old_serial": "A1", "new_serial": "B2"}],
                time_on_site_minutes=40,
                technician_name="tech",
                technician_signed_at=NOW,
                created_at=NOW,
            )
        )
        session.execute(update(Ticket).where(Ticket.id == ticket.id).values(resolved_at=NOW))
        session.commit()
        report = load_incident(session=session, ticket=ticket, now=NOW)
        with pytest.raises(IncidentError, match="for emergency tickets"):
            load_incident(session=session, ticket=general, now=NOW)
        html = incident_html(report)
        ticket_id, general_id = ticket.id, general.id
    assert report.devices_affected == 3
    assert report.device_hours == pytest.approx(6 + 2 + 1)
    assert report.cause_class == "equipment"
    assert "spare" in report.prevention
    assert report.parts == ("PSU (A1 → B2)",)
    whats = [t.what for t in report.timeline]
    assert "fault device.unreachable on nvr-1" in whats
    assert "recovered device.unreachable on cam-2 (held under the ticket's fault)" in whats
    assert [t.at for t in report.timeline] == sorted(t.at for t in report.timeline)
    assert "9.00 device-hours, 3 device(s)" in html

    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    refused = runner.invoke(app, ["report", "incident", str(general_id), "--out", "x.pdf"])
    assert refused.exit_code == 2
    assert "for emergency tickets" in refused.output
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed")
    out = tmp_path / "incident.pdf"
    result = runner.invoke(app, ["report", "incident", str(ticket_id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "故障分析报告" in text
    assert "9.00 device-hours" in text
    assert "replaced the PSU" in text
