"""The quarterly maintenance report per client (seed §5.1: every quarter, per customer, the
system's operation and maintenance), as one data model read from the database.

Availability per site is summed from the daily uptime rollups of its devices, time without data
shown apart and never counted as up; the bars are one per local day of the quarter. Ticket KPIs
are the seeds' formulas (`server/tickets/kpis.py`) over the tickets created in the quarter.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.inspections.models import Inspection, InspectionRow
from server.models import (
    Client,
    Device,
    FaultEpisode,
    RepairRecord,
    Site,
    SubsystemDay,
    Ticket,
    UptimeDay,
)
from server.tickets.kpi_query import ticket_facts
from server.tickets.kpis import Kpis, compute
from server.tickets.states import OPEN_STATES


def quarter_dates(year: int, quarter: int) -> tuple[date, date]:
    """Local [start, end) of the quarter; ValueError outside 1..4."""
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter {quarter} is not 1, 2, 3 or 4")
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, end


@dataclass(frozen=True)
class DayBar:
    day: date
    colour: str  # up, down, nodata
    label: str


@dataclass(frozen=True)
class SiteQuarter:
    name: str
    up_s: int
    down_s: int
    unknown_s: int
    maintenance_s: int
    bars: tuple[DayBar, ...]

    @property
    def availability(self) -> float | None:
        """Up share of the time telemetry knew about (unknown shown apart)."""
        known = self.up_s + self.down_s
        return None if known == 0 else 100.0 * self.up_s / known

    @property
    def coverage(self) -> float | None:
        total = self.up_s + self.down_s + self.unknown_s
        return None if total == 0 else 100.0 * (self.up_s + self.down_s) / total


@dataclass(frozen=True)
class SubsystemQuarter:
    """One site's subsystem over the quarter, from the subsystem daily rollups."""

    site_name: str
    subsystem: str
    up_s: int
    down_s: int
    unknown_s: int

    @property
    def availability(self) -> float | None:
        known = self.up_s + self.down_s
        return None if known == 0 else 100.0 * self.up_s / known


@dataclass(frozen=True)
class RepeatFault:
    device_name: str
    code: str
    episodes: int


@dataclass(frozen=True)
class InspectionLine:
    site_name: str
    period_start: date
    state: str
    rows: int
    failed: tuple[str, ...]


@dataclass(frozen=True)
class PartLine:
    ticket_id: int
    title: str
    parts: str


@dataclass(frozen=True)
class QuarterlyReport:
    client_name: str
    label: str
    start: date
    end: date
    sites: tuple[SiteQuarter, ...]
    kpis: Kpis
    opened: int
    emergencies: int
    open_tickets: tuple[tuple[int, str], ...]
    inspections: tuple[InspectionLine, ...]
    parts: tuple[PartLine, ...]
    subsystems: tuple[SubsystemQuarter, ...] = ()
    repeats: tuple[RepeatFault, ...] = ()
    preventive: tuple[tuple[int, str], ...] = ()  # open preventive tickets
    recommendations: tuple[str, ...] = ()


REPEAT_AT = 3  # episodes of one fault on one device in a quarter that make it a repeat fault
AVAILABILITY_TARGET = 99.0


def recommendations(
    *,
    sites: Sequence[SiteQuarter],
    subsystems: Sequence[SubsystemQuarter],
    repeats: Sequence[RepeatFault],
    open_tickets: Sequence[tuple[int, str]],
    preventive: Sequence[tuple[int, str]],
    inspections: Sequence[InspectionLine],
) -> tuple[str, ...]:
    """What the quarter's facts ask of the next one, most pressing first. Pure."""
    out: list[str] = []
    for t_id, title in preventive:
        out.append(f"Carry out the proposed preventive work of ticket #{t_id}: {title}.")
    for r in repeats:
        out.append(
            f"{r.device_name}: {r.code} {r.episodes} times this quarter; find the common cause "
            "(power, cabling, the part itself) rather than repairing each occurrence."
        )
    findings: dict[str, set[str]] = defaultdict(set)
    for line in inspections:
        for failed in line.failed:
            findings[failed.split("@")[0]].add(line.site_name)
    for item, site_names in sorted(findings.items()):
        out.append(f"Correct the inspection finding 「{item}」 at {', '.join(sorted(site_names))}.")
    low = [
        f"{s.site_name} {s.subsystem} ({s.availability:.2f}%)"
        for s in subsystems
        if s.availability is not None and s.availability < AVAILABILITY_TARGET
    ]
    if low:
        out.append(
            f"Availability below {AVAILABILITY_TARGET:g}%: {', '.join(low)}; review the faults "
            "behind it and the spares held."
        )
    blind = [s.name for s in sites if s.coverage is not None and s.coverage < 90]
    if blind:
        out.append(
            f"Telemetry covered less than 90% of the quarter at {', '.join(blind)}: check the "
            "agent's host and network so that outages are measured, not guessed."
        )
    others = [t for t in open_tickets if t not in preventive]
    if others:
        out.append(
            f"Close the {len(others)} open ticket(s): "
            + ", ".join(f"#{t_id}" for t_id, _ in others[:10])
            + ("…" if len(others) > 10 else "")
            + "."
        )
    return tuple(out)


def bars_svg(bars: tuple[DayBar, ...]) -> Markup:
    """The quarter's days as an inline SVG strip (PDF and HTML alike, no JavaScript): one rect
    per run of days of one colour (a healthy quarter is a few shapes, which keeps a 20-site
    PDF quick), each titled with its days."""
    colours = {"up": "#2e9e44", "down": "#d23b2e", "nodata": "#b8b8b8"}
    width = 4
    runs: list[list[DayBar]] = []
    for bar in bars:
        if runs and runs[-1][-1].colour == bar.colour:
            runs[-1].append(bar)
        else:
            runs.append([bar])
    rects = []
    x = 0
    for run in runs:
        label = run[0].label if len(run) == 1 else f"{run[0].day} to {run[-1].day}: {run[0].colour}"
        rects.append(
            f'<rect x="{x * width}" y="0" width="{len(run) * width - 1}" height="20" '
            f'fill="{colours[run[0].colour]}"><title>{escape(label)}</title></rect>'
        )
        x += len(run)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{len(bars) * width}" height="20" '
        f'role="img" aria-label="daily availability">{"".join(rects)}</svg>'
    )


def _midnight(day: date, zone: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _site_quarter(session: Session, site: Site, start: date, end: date) -> SiteQuarter:
    per_day = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                UptimeDay.day,
                func.sum(UptimeDay.up_s),
                func.sum(UptimeDay.down_s),
                func.sum(UptimeDay.unknown_s + UptimeDay.nodata_s),
                func.sum(UptimeDay.maintenance_s),
            )
            .join(Device, Device.id == UptimeDay.device_id)
            .where(Device.site_id == site.id, UptimeDay.day >= start, UptimeDay.day < end)
            .group_by(UptimeDay.day)
        )
    }
    bars: list[DayBar] = []
    totals = [0, 0, 0, 0]
    day = start
    while day < end:
        found = per_day.get(day)
        if found is None:
            bars.append(DayBar(day, "nodata", f"{day}: no data"))
        else:
            up, down, unknown, maintenance = (int(v or 0) for v in found)
            for i, v in enumerate((up, down, unknown, maintenance)):
                totals[i] += v
            colour = "down" if down else ("up" if up else "nodata")
            bars.append(
                DayBar(day, colour, f"{day}: down {down // 60} min, no data {unknown // 60} min")
            )
        day += timedelta(days=1)
    return SiteQuarter(site.name, totals[0], totals[1], totals[2], totals[3], tuple(bars))


def _subsystems(
    session: Session, sites: Sequence[Site], start: date, end: date
) -> tuple[SubsystemQuarter, ...]:
    names = {s.id: s.name for s in sites}
    if not names:
        return ()
    rows = session.execute(
        select(
            SubsystemDay.site_id,
            SubsystemDay.subsystem,
            func.sum(SubsystemDay.up_s),
            func.sum(SubsystemDay.down_s),
            func.sum(SubsystemDay.unknown_s + SubsystemDay.nodata_s),
        )
        .where(
            SubsystemDay.site_id.in_(names),
            SubsystemDay.day >= start,
            SubsystemDay.day < end,
        )
        .group_by(SubsystemDay.site_id, SubsystemDay.subsystem)
    ).all()
    found = [
        SubsystemQuarter(names[site_id], subsystem, int(up or 0), int(down or 0), int(unk or 0))
        for site_id, subsystem, up, down, unk in rows
    ]
    return tuple(sorted(found, key=lambda q: (q.site_name, q.subsystem)))


def _repeats(
    session: Session, sites: Sequence[Site], since: datetime, until: datetime
) -> tuple[RepeatFault, ...]:
    ids = [s.id for s in sites]
    if not ids:
        return ()
    rows = session.execute(
        select(Device.name, FaultEpisode.code, func.count())
        .join(Device, Device.id == FaultEpisode.device_id)
        .where(
            FaultEpisode.site_id.in_(ids),
            FaultEpisode.started_at >= since,
            FaultEpisode.started_at < until,
        )
        .group_by(Device.name, FaultEpisode.code)
        .having(func.count() >= REPEAT_AT)
    ).all()
    found = [RepeatFault(name, code, int(n)) for name, code, n in rows]
    return tuple(sorted(found, key=lambda r: (-r.episodes, r.device_name, r.code)))


def load_quarterly(*, session: Session, client: Client, year: int, quarter: int) -> QuarterlyReport:
    start, end = quarter_dates(year, quarter)
    sites = session.scalars(
        select(Site).where(Site.client_id == client.id).order_by(Site.name)
    ).all()
    zone = sites[0].timezone if sites else "UTC"
    since, until = _midnight(start, zone), _midnight(end, zone)
    facts = [
        f for f in ticket_facts(session=session, since=start, until=end) if f.client_id == client.id
    ]
    tickets = session.scalars(
        select(Ticket).where(Ticket.client_id == client.id, Ticket.created_at < until)
    ).all()
    in_quarter = [t for t in tickets if t.created_at >= since]
    open_values = {s.value for s in OPEN_STATES}
    names = {s.id: s.name for s in sites}
    failed: dict[int, list[str]] = defaultdict(list)
    counts: dict[int, int] = defaultdict(int)
    inspections = session.scalars(
        select(Inspection)
        .where(
            Inspection.client_id == client.id,
            Inspection.period_start >= start,
            Inspection.period_start < end,
        )
        .order_by(Inspection.period_start, Inspection.site_id)
    ).all()
    if inspections:
        for row in session.execute(
            select(
                InspectionRow.inspection_id,
                InspectionRow.result,
                InspectionRow.prefill,
                InspectionRow.device_name,
                InspectionRow.text_zh,
            ).where(InspectionRow.inspection_id.in_([i.id for i in inspections]))
        ):
            counts[row.inspection_id] += 1
            if (row.result or row.prefill) == "fail":
                on = f"@{row.device_name}" if row.device_name else ""
                failed[row.inspection_id].append(f"{row.text_zh}{on}")
    parts = []
    ids = [t.id for t in in_quarter]
    if ids:
        records = session.scalars(
            select(RepairRecord).where(
                RepairRecord.ticket_id.in_(ids), RepairRecord.superseded_at.is_(None)
            )
        )
        titles = {t.id: t.title for t in in_quarter}
        for record in records:
            if record.parts:
                said = ", ".join(
                    str(p.get("name", "?"))
                    + (f" ({p['old_serial']} → {p['new_serial']})" if p.get("new_serial") else "")
                    for p in record.parts
                )
                parts.append(PartLine(record.ticket_id, titles[record.ticket_id], said))
    site_quarters = tuple(_site_quarter(session, s, start, end) for s in sites)
    subsystems = _subsystems(session, sites, start, end)
    repeats = _repeats(session, sites, since, until)
    open_tickets = tuple((t.id, t.title) for t in tickets if t.state in open_values)
    preventive = tuple(
        (t.id, t.title) for t in tickets if t.state in open_values and t.kind == "preventive"
    )
    lines = tuple(
        InspectionLine(
            names.get(i.site_id, str(i.site_id)),
            i.period_start,
            i.state,
            counts[i.id],
            tuple(failed[i.id]),
        )
        for i in inspections
    )
    return QuarterlyReport(
        client_name=client.name,
        label=f"{year} Q{quarter}",
        start=start,
        end=end,
        sites=site_quarters,
        kpis=compute(facts, now=min(datetime.now(UTC), until)),
        opened=len([t for t in in_quarter if t.kind != "preventive"]),
        emergencies=len([t for t in in_quarter if t.severity == "emergency"]),
        open_tickets=open_tickets,
        inspections=lines,
        parts=tuple(sorted(parts, key=lambda p: p.ticket_id)),
        subsystems=subsystems,
        repeats=repeats,
        preventive=preventive,
        recommendations=recommendations(
            sites=site_quarters,
            subsystems=subsystems,
            repeats=repeats,
            open_tickets=open_tickets,
            preventive=preventive,
            inspections=lines,
        ),
    )
