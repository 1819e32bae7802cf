"""What a client's status page shows, built from plain records (no I/O, no FastAPI).

Only names, states and times reach the page: never addresses, credentials, serials, internal
notes or staff phone numbers (the contact card decides about its own phone).
"""

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.status.uptime import DayColour, DayFigures, day_colour, total
from server.status.words import Words, public_name

SUBSYSTEMS = ("video", "alarm", "access", "power", "network")
INCIDENT_DAYS = 14
OPEN_TICKET_STATES = frozenset(
    {"new", "reopened", "acknowledged", "dispatched", "on_site", "recovered"}
)


# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteRecord:
    id: int
    name: str
    zone: ZoneInfo
    agent_offline_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: int
    site_id: int
    name: str
    device_class: str
    subsystem: str
    # Answers, but nothing beyond reachability is read from it: never shown as working.
    unmonitored: bool = False


@dataclass(frozen=True, slots=True)
class TicketRecord:
    id: int
    site_id: int
    device_id: int | None
    subsystem: str | None
    code: str | None
    state: str
    created_at: datetime
    first_failure_at: datetime
    acknowledged_at: datetime | None = None
    respond_by: datetime | None = None
    eta: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """An open service-affecting fault on a device, with the ticket that deals with it."""

    device_id: int
    code: str
    started_at: datetime
    ticket_id: int | None


@dataclass(frozen=True, slots=True)
class WindowRecord:
    site_id: int
    starts_at: datetime
    ends_at: datetime
    title: str


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    hours: str | None = None

    @classmethod
    def of(cls, card: Mapping[str, object]) -> "Contact":
        def text(key: str) -> str | None:
            value = card.get(key)
            return str(value) if value else None

        return cls(
            name=text("name"),
            # The phone is shown only when the card says so (DESIGN.md §4).
            phone=text("phone") if card.get("show_phone") is True else None,
            email=text("email"),
            hours=text("hours"),
        )


# -- outputs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayBar:
    day: date
    colour: DayColour
    label: str


@dataclass(frozen=True, slots=True)
class SubsystemView:
    key: str
    title: str
    state: str  # ok / down / unmonitored / unknown / empty
    sentence: str
    devices: int
    bars: list[DayBar]
    uptime_30: str
    uptime_90: str
    unknown_note: str | None


@dataclass(frozen=True, slots=True)
class IncidentView:
    site: str
    what: str
    state: str
    progress: str
    opened: str
    sla: str | None
    is_open: bool


@dataclass(frozen=True, slots=True)
class WindowView:
    site: str
    title: str
    when: str


@dataclass(frozen=True, slots=True)
class SiteView:
    name: str
    state: str  # ok / down / unmonitored / unknown
    sentence: str
    subsystems: list[SubsystemView]


@dataclass(frozen=True, slots=True)
class StatusView:
    client: str
    state: str
    headline: str
    sites: list[SiteView]
    incidents: list[IncidentView]
    maintenance: list[WindowView]
    contact: Contact
    updated: str
    legend: list[tuple[str, str]] = field(default_factory=list)


# -- building ----------------------------------------------------------------------------------


def _progress(
    ticket: TicketRecord | None, words: Words, zone: ZoneInfo, now: datetime, *, down: bool
) -> str:
    """How the ticket is getting on; `down` (a fault of it still open) never reads repaired."""
    if ticket is None:
        return ""
    if down and ticket.state not in OPEN_TICKET_STATES:
        return words("state.still_down")
    if ticket.state == "dispatched" and ticket.eta is not None:
        return words("state.dispatched_eta", eta=words.moment(ticket.eta, zone, now))
    key = f"state.{ticket.state}"
    try:
        return words(key)
    except KeyError:
        return ""


def _sla(ticket: TicketRecord, words: Words, zone: ZoneInfo, now: datetime) -> str | None:
    if ticket.respond_by is None:
        return None
    if ticket.acknowledged_at is not None:
        return words("sla.met" if ticket.acknowledged_at <= ticket.respond_by else "sla.late")
    if ticket.state in OPEN_TICKET_STATES:
        return words("sla.due", at=words.moment(ticket.respond_by, zone, now))
    return None


_EMPTY = DayFigures()


def _bars(
    days: Sequence[date],
    day_names: Mapping[date, str],
    figures: Mapping[date, DayFigures],
    incidents: Mapping[date, int],
    words: Words,
) -> list[DayBar]:
    # ~9,000 bars on a 20-site page: look the phrases up once, not per bar.
    no_data = words("no_data")
    label, unknown_note = words.template("day_label"), words.template("of_time_no_data")
    incident_note, maintenance_note = words.template("day_incidents"), words("day_maintenance")
    bars = []
    for day in days:
        day_figures = figures.get(day, _EMPTY)
        colour = day_colour(day_figures)
        if colour is DayColour.NODATA:
            figure = no_data
        else:
            figure = words.percent(day_figures.availability)
            if day_figures.unknown:
                figure += "; " + unknown_note.format(share=words.percent(day_figures.unknown_share))
        text = label.format(day=day_names[day], figure=figure)
        if incidents.get(day):
            text += "; " + incident_note.format(count=incidents[day])
        if day_figures.maintenance:
            text += "; " + maintenance_note
        bars.append(DayBar(day=day, colour=colour, label=text))
    return bars


def _uptime(figures: Sequence[DayFigures], words: Words) -> tuple[str, str | None]:
    summed = total(figures)
    note = None
    if summed.unknown_share >= 0.0005:
        note = words("of_time_no_data", share=words.percent(summed.unknown_share))
    return words.percent(summed.availability), note


def _one_class(devices: Sequence[DeviceRecord]) -> str:
    """The device class that names a group ("3 cameras"), or "other" for a mixed group."""
    classes = {d.device_class for d in devices}
    return classes.pop() if len(classes) == 1 else "other"


def build_view(
    *,
    client: str,
    sites: Sequence[SiteRecord],
    devices: Sequence[DeviceRecord],
    faults: Sequence[FaultRecord],
    tickets: Sequence[TicketRecord],
    days: Mapping[tuple[int, str], Mapping[date, DayFigures]],
    windows: Sequence[WindowRecord],
    contact: Contact,
    words: Words,
    now: datetime,
    history_days: int = 90,
) -> StatusView:
    """The whole page: per site and subsystem now, 90 daily bars, incidents and maintenance."""
    tickets_by_id = {t.id: t for t in tickets}
    devices_by_site: dict[int, list[DeviceRecord]] = defaultdict(list)
    for device in devices:
        devices_by_site[device.site_id].append(device)
    faults_by_device: dict[int, list[FaultRecord]] = defaultdict(list)
    for fault in faults:
        faults_by_device[fault.device_id].append(fault)
    site_names = {s.id: s.name for s in sites}
    zones = {s.id: s.zone for s in sites}
    incident_days: dict[tuple[int, str], Counter[date]] = defaultdict(Counter)
    for record in tickets:
        if record.subsystem:
            local_day = record.first_failure_at.astimezone(zones.get(record.site_id)).date()
            incident_days[(record.site_id, record.subsystem)][local_day] += 1

    site_views = []
    day_names: dict[date, str] = {}
    for site in sites:
        today = now.astimezone(site.zone).date()
        span = [today - timedelta(days=history_days - 1 - i) for i in range(history_days)]
        for day in span:
            if day not in day_names:
                day_names[day] = words.day(day)
        subsystems = []
        down_total = 0
        site_devices = devices_by_site.get(site.id, [])
        for key in SUBSYSTEMS:
            members = [d for d in site_devices if d.subsystem == key]
            failing = [d for d in members if faults_by_device.get(d.id)]
            down_total += len(failing)
            figures = days.get((site.id, key), {})
            if not members:
                state, sentence = "empty", words("subsystem_empty")
            elif site.agent_offline_since is not None:
                state, sentence = "unknown", words("subsystem_unknown")
            elif failing:
                state = "down"
                started = [f for d in failing for f in faults_by_device[d.id]]
                since = min(f.started_at for f in started)
                sentence = words(
                    "subsystem_down",
                    count=len(failing),
                    noun=words.noun(_one_class(failing), len(failing)),
                    since=words.moment(since, site.zone, now),
                )
                ticket = next(
                    (
                        tickets_by_id[f.ticket_id]
                        for f in sorted(started, key=lambda f: f.started_at)
                        if f.ticket_id in tickets_by_id
                    ),
                    None,
                )
                progress = _progress(ticket, words, site.zone, now, down=True)
                if progress:
                    if words.language == "en":
                        progress = progress[0].lower() + progress[1:]
                    sentence = words("then", first=sentence, second=progress)
            elif unchecked := [d for d in members if d.unmonitored]:
                state = "unmonitored"
                sentence = words(
                    "subsystem_unmonitored",
                    count=len(unchecked),
                    noun=words.noun(_one_class(unchecked), len(unchecked)),
                )
            else:
                state, sentence = "ok", words("subsystem_ok")
            last_30 = [figures[d] for d in span[-30:] if d in figures]
            last_90 = [figures[d] for d in span if d in figures]
            uptime_30, _ = _uptime(last_30, words)
            uptime_90, note = _uptime(last_90, words)
            subsystems.append(
                SubsystemView(
                    key=key,
                    title=words(f"subsystem.{key}"),
                    state=state,
                    sentence=sentence,
                    devices=len(members),
                    bars=_bars(
                        span, day_names, figures, incident_days.get((site.id, key), {}), words
                    ),
                    uptime_30=uptime_30,
                    uptime_90=uptime_90,
                    unknown_note=note,
                )
            )
        if site.agent_offline_since is not None:
            site_state = "unknown"
            site_sentence = words(
                "site_unknown", since=words.moment(site.agent_offline_since, site.zone, now)
            )
        elif down_total:
            site_state = "down"
            site_sentence = words("site_summary_down", count=down_total, total=len(site_devices))
        elif any(sub.state == "unmonitored" for sub in subsystems):
            site_state, site_sentence = "unmonitored", words("site_summary_unmonitored")
        else:
            site_state, site_sentence = "ok", words("site_summary_ok")
        site_views.append(
            SiteView(
                name=site.name, state=site_state, sentence=site_sentence, subsystems=subsystems
            )
        )

    device_names = {d.id: d.name for d in devices}
    recent = now - timedelta(days=INCIDENT_DAYS)
    incidents = []
    down_tickets = {f.ticket_id for f in faults if f.ticket_id is not None}
    for ticket in sorted(tickets, key=lambda t: t.created_at, reverse=True):
        down = ticket.id in down_tickets
        is_open = ticket.state in OPEN_TICKET_STATES or down
        finished = ticket.closed_at or ticket.resolved_at
        if not is_open and (finished is None or finished < recent):
            continue
        zone = zones.get(ticket.site_id, ZoneInfo("UTC"))
        name = device_names.get(ticket.device_id) if ticket.device_id is not None else None
        what = words.problem(ticket.code)
        if name:
            what = f"{public_name(name)}: {what}"
        progress = _progress(ticket, words, zone, now, down=down)
        if not is_open and finished is not None:
            progress = f"{progress} · {words('resolved_at', at=words.moment(finished, zone, now))}"
        incidents.append(
            IncidentView(
                site=site_names.get(ticket.site_id, ""),
                what=what,
                state=ticket.state,
                progress=progress,
                opened=words("opened", at=words.moment(ticket.first_failure_at, zone, now)),
                sla=_sla(ticket, words, zone, now),
                is_open=is_open,
            )
        )

    maintenance = [
        WindowView(
            site=site_names.get(w.site_id, ""),
            title=w.title,
            when=words(
                "range",
                start=words.moment(w.starts_at, zones[w.site_id], now),
                end=words.moment(w.ends_at, zones[w.site_id], now),
            ),
        )
        for w in sorted(windows, key=lambda w: w.starts_at)
        if w.ends_at > now and w.site_id in zones
    ]

    states = {s.state for s in site_views}
    if "down" in states:
        state, headline = "down", words("some_down")
    elif "unknown" in states:
        state, headline = "unknown", words("subsystem_unknown")
    elif "unmonitored" in states:
        state, headline = "unmonitored", words("site_summary_unmonitored")
    else:
        state, headline = "ok", words("all_ok")
    legend = [(colour.value, words(f"legend_{colour.value}")) for colour in DayColour]
    updated_zone = sites[0].zone if sites else ZoneInfo("UTC")
    return StatusView(
        client=client,
        state=state,
        headline=headline,
        sites=site_views,
        incidents=incidents,
        maintenance=maintenance,
        contact=contact,
        updated=words("updated", at=words.moment(now, updated_zone, now)),
        legend=legend,
    )
