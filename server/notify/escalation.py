"""Escalation as pure functions: ticket facts + event + config + now → notifications to enqueue.

Each decision carries a dedupe key built from the ticket, its cycle (reopen count), the stage
and the recipient's channel. Deciding again (next sweep, another replica, a retried
transaction) yields the same keys, and the queue's unique key turns them into no-ops, so each
stage reaches each channel once per ticket cycle.

Stages: `opened`, `acknowledged`, `resolved`, per SLA clock `near_breach:<clock>`,
`breach:<clock>`, `long_breach:<clock>` (overdue by `long_breach_fraction` of the target),
`near_breach:diagnose` and `breach:diagnose` for an emergency's initial diagnosis (staff only),
and `reroute:<step>` while nobody has acted on the ticket (`reroutes`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from server.notify.client_notice import client_message
from server.notify.config import NotifyConfig, Role
from server.sla import ClockState, ClockStatus, Severity, SlaClock


class TicketEvent(StrEnum):
    """What just happened to a ticket; `tick` is the periodic SLA sweep."""

    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"
    RECOVERED = "recovered"
    TICK = "tick"


# The stage suffix of an emergency's initial-diagnosis clock (not an SLA policy clock).
DIAGNOSE = "diagnose"

# After these, no clock escalates any more.
_FINAL = {TicketEvent.RESOLVED, TicketEvent.CLOSED, TicketEvent.CANCELLED}


@dataclass(frozen=True)
class TicketFacts:
    """What escalation needs to know about a ticket (built by the ticket layer).

    `clocks` holds the states from `server.sla.ticket_clocks` (empty when no SLA applies);
    `assignee` and contacts are keys of the notify config's `contacts`; `cycle` is how many
    times the ticket was reopened, so a reopened ticket escalates afresh.
    """

    ticket_id: int
    client_id: int
    site_id: int
    severity: str
    title: str
    state: str = "new"
    assignee: str | None = None
    cycle: int = 0
    clocks: Mapping[SlaClock, ClockState] = field(default_factory=dict)
    site_name: str = ""
    timezone: str = "UTC"  # the site's zone, for deadlines in message text
    link: str = ""
    # Since when the ticket waits for a first staff action (opened or reopened); None once
    # someone acted, or while nothing is asked of anyone (recovered, resolved).
    waiting_since: datetime | None = None
    eta: datetime | None = None
    # The client's one-time page for this event (sign-off at resolve, survey at close), as a
    # path; the config's `public_url` makes it absolute.
    client_link: str = ""
    # The service contact card as the client may see it (phone only where the card allows).
    contact: Mapping[str, str] = field(default_factory=dict)
    # The ticket's problem in the client's words, per language ("en", "zh-CN"); `title` if absent.
    client_titles: Mapping[str, str] = field(default_factory=dict)
    # An emergency's initial-diagnosis clock (001: within 1 h), stopped by the first diagnosis;
    # None for tickets without one.
    diagnosis: ClockState | None = None


@dataclass(frozen=True)
class Recipient:
    contact: str
    role: Role


@dataclass(frozen=True)
class NotificationIntent:
    """One message to one contact's channel, not yet queued."""

    dedupe_key: str
    ticket_id: int | None  # None: not about a ticket (an overdue inspection)
    event: str
    contact: str
    channel: str
    title: str
    body: str


def resolve_roles(
    roles: list[Role], facts: TicketFacts, config: NotifyConfig, now: datetime
) -> list[Recipient]:
    """Contacts for roles, in chain order, each contact once (its first role wins)."""
    chain = config.chain_for(facts.client_id)
    team = config.team_for_site(facts.site_id)
    on_call = None
    if team is not None and team[1].rota is not None:
        on_call = team[1].rota.to_rota().on_call(now)
    out: list[Recipient] = []
    seen: set[str] = set()

    def add(contact: str | None, role: Role) -> None:
        if contact and contact not in seen and contact in config.contacts:
            seen.add(contact)
            out.append(Recipient(contact, role))

    for role in roles:
        if role is Role.TECHNICIAN:
            add(facts.assignee or on_call, role)
        elif role is Role.ON_CALL:
            add(on_call, role)
        else:
            for contact in chain.contacts_for(role):
                add(contact, role)
    return out


def _severity(facts: TicketFacts) -> Severity:
    """The ticket's severity for routing; an unknown label (preventive) routes as general."""
    try:
        return Severity(facts.severity)
    except ValueError:
        return Severity.GENERAL


@dataclass(frozen=True)
class Reroute:
    """Step `step` of an unanswered ticket's re-routing: `contact` hears of it now."""

    step: int
    contact: str
    role: Role

    @property
    def stage(self) -> str:
        return f"reroute:{self.step}"


def reroutes(facts: TicketFacts, config: NotifyConfig, now: datetime) -> list[Reroute]:
    """Every re-routing step due by `now` for a ticket nobody has acted on: step k reaches the
    k-th person after the first of the chain, once k periods have passed since it waited."""
    rules = config.rules_for(facts.client_id)
    after = rules.reroute_after_minutes.get(_severity(facts))
    if facts.waiting_since is None or after is None or now <= facts.waiting_since:
        return []
    due = int((now - facts.waiting_since) / timedelta(minutes=after))
    chain = resolve_roles(rules.reroute_chain, facts, config, now)
    return [
        Reroute(k, chain[k].contact, chain[k].role) for k in range(1, min(due, len(chain) - 1) + 1)
    ]


def _stages(
    facts: TicketFacts, event: TicketEvent, config: NotifyConfig
) -> list[tuple[str, list[Role]]]:
    rules = config.rules_for(facts.client_id)
    stages: list[tuple[str, list[Role]]] = []
    if event in (TicketEvent.OPENED, TicketEvent.REOPENED):
        stages.append(("opened", rules.on_open.get(_severity(facts), [])))
    elif event is TicketEvent.ACKNOWLEDGED:
        stages.append(("acknowledged", rules.on_acknowledge))
    elif event is TicketEvent.DISPATCHED:
        stages.append(("dispatched", rules.on_dispatch))
    elif event is TicketEvent.RESOLVED:
        stages.append(("resolved", rules.on_resolve))
    elif event is TicketEvent.CLOSED and facts.client_link:
        stages.append(("closed", rules.on_close))
    if event in _FINAL:
        return stages
    for clock in rules.clocks:
        state = facts.clocks.get(clock)
        if state is None or not state.running:
            continue
        if state.status is ClockStatus.BREACHED:
            stages.append((f"breach:{clock.value}", rules.on_breach))
            if state.elapsed_fraction >= rules.long_breach_fraction:
                stages.append((f"long_breach:{clock.value}", rules.on_long_breach))
        elif state.elapsed_fraction >= rules.near_fraction:
            stages.append((f"near_breach:{clock.value}", rules.on_near_breach))
    diagnosis = facts.diagnosis
    if diagnosis is not None and diagnosis.running:
        # Tech support's own step: its team and managers hear of it, the client does not
        # (the client's notices are about the answer, the arrival and the repair).
        if diagnosis.status is ClockStatus.BREACHED:
            stages.append((f"breach:{DIAGNOSE}", _staff(rules.on_breach)))
        elif diagnosis.elapsed_fraction >= rules.near_fraction:
            stages.append((f"near_breach:{DIAGNOSE}", _staff(rules.on_near_breach)))
    return stages


def _staff(roles: list[Role]) -> list[Role]:
    return [r for r in roles if r is not Role.CLIENT]


def dedupe_key(facts: TicketFacts, stage: str, contact: str, channel: str) -> str:
    key = f"ticket:{facts.ticket_id}:c{facts.cycle}:{stage}:{contact}:{channel}"
    if len(key) <= 255:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:190]}#{digest}"


_HEADLINES = {
    "opened": "New ticket",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "near_breach": "SLA near breach",
    "breach": "SLA BREACHED",
    "long_breach": "SLA long overdue",
    "reroute": "Nobody acted yet, passed on to you",
}


def _client_message(facts: TicketFacts, stage: str, language: str, base: str) -> tuple[str, str]:
    kind, _, clock = stage.partition(":")
    state = facts.clocks.get(SlaClock(clock)) if clock else None
    return client_message(
        language=language,
        stage=stage,
        ticket_id=facts.ticket_id,
        title=facts.client_titles.get(language, facts.title),
        site=facts.site_name or str(facts.site_id),
        timezone=facts.timezone,
        technician=facts.assignee,
        contact=facts.contact,
        eta=facts.eta,
        deadline=state.deadline if state is not None else None,
        link=base.rstrip("/") + facts.client_link
        if facts.client_link and kind in ("resolved", "closed")
        else "",
    )


def _message(facts: TicketFacts, stage: str, role: Role) -> tuple[str, str]:
    kind, _, clock = stage.partition(":")
    headline = _HEADLINES.get(kind, kind)
    what = f"{headline} ({clock.replace('_', ' ')})" if clock else headline
    title = f"[{facts.severity.upper()}] {what}: #{facts.ticket_id} {facts.title}"[:250]
    zone = ZoneInfo(facts.timezone)
    lines = [
        f"Ticket #{facts.ticket_id}: {facts.title}",
        f"Site: {facts.site_name or facts.site_id}   Severity: {facts.severity}",
        f"State: {facts.state}   Assigned: {facts.assignee or 'nobody yet'}",
        f"You receive this as: {role.value.replace('_', ' ')}",
    ]
    timed = [(SlaClock(c).value.replace("_", " "), state) for c, state in facts.clocks.items()]
    if facts.diagnosis is not None:
        timed.append(("diagnosis", facts.diagnosis))
    for name, state in timed:
        local = state.deadline.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        lines.append(f"{name} by {local}: {state.status.value}")
    if facts.link:
        lines.append(facts.link)
    return title, "\n".join(lines)


def decide(
    facts: TicketFacts, event: TicketEvent | str, config: NotifyConfig, now: datetime
) -> list[NotificationIntent]:
    """The notifications this event (and the ticket's clock states) call for."""
    event = TicketEvent(event)
    intents: list[NotificationIntent] = []
    staged: list[tuple[str, list[Recipient]]] = []
    for stage, roles in _stages(facts, event, config):
        recipients = resolve_roles(roles, facts, config, now)
        staff_roles = [r for r in roles if r is not Role.CLIENT]
        if staff_roles and all(r.role is Role.CLIENT for r in recipients):
            # Nobody assigned, no rota, no such role configured: the manager hears of it
            # rather than nobody (004/A: every fault is reported to the department head).
            recipients += resolve_roles([Role.MANAGER], facts, config, now)
        staged.append((stage, recipients))
    if event not in _FINAL:
        staged += [(r.stage, [Recipient(r.contact, r.role)]) for r in reroutes(facts, config, now)]
    for stage, recipients in staged:
        for recipient in recipients:
            if recipient.role is Role.CLIENT:
                language = config.contacts[recipient.contact].language
                title, body = _client_message(facts, stage, language, config.public_url)
            else:
                title, body = _message(facts, stage, recipient.role)
            for channel in config.contacts[recipient.contact].channels:
                intents.append(
                    NotificationIntent(
                        dedupe_key=dedupe_key(facts, stage, recipient.contact, channel),
                        ticket_id=facts.ticket_id,
                        event=stage,
                        contact=recipient.contact,
                        channel=channel,
                        title=title,
                        body=body,
                    )
                )
    return intents
