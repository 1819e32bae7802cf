"""Who hears of an inspection past its due date, and what they read. Pure.

The site's team members (who do the inspection) and the client chain's managers (who answer
for it), each contact once, on every channel of theirs. The dedupe key holds the inspection,
so a second replica or the next round queues nothing twice.
"""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from server.notify.config import NotifyConfig, Role
from server.notify.escalation import NotificationIntent

EVENT = "inspection_overdue"


@dataclass(frozen=True)
class OverdueInspection:
    inspection_id: int
    client_id: int
    site_id: int
    site_name: str
    timezone: str
    period_start: date
    due_at: datetime
    blank_rows: int


def recipients(facts: OverdueInspection, config: NotifyConfig) -> list[str]:
    team = config.team_for_site(facts.site_id)
    found = list(team[1].members) if team else []
    found += config.chain_for(facts.client_id).contacts_for(Role.MANAGER)
    return [c for i, c in enumerate(found) if c in config.contacts and c not in found[:i]]


def notices(facts: OverdueInspection, config: NotifyConfig) -> list[NotificationIntent]:
    due = facts.due_at.astimezone(ZoneInfo(facts.timezone)).strftime("%Y-%m-%d %H:%M %Z")
    title = f"Inspection overdue: {facts.site_name} {facts.period_start:%Y-%m}"[:250]
    body = "\n".join(
        [
            f"Inspection #{facts.inspection_id} of {facts.site_name} "
            f"(period from {facts.period_start.isoformat()}) was due {due}.",
            f"Rows still to answer: {facts.blank_rows}.",
            f"月检逾期: {facts.site_name}, 未填写 {facts.blank_rows} 项。",
        ]
    )
    return [
        NotificationIntent(
            dedupe_key=f"inspection:{facts.inspection_id}:overdue:{contact}:{channel}"[:255],
            ticket_id=None,
            event=EVENT,
            contact=contact,
            channel=channel,
            title=title,
            body=body,
        )
        for contact in recipients(facts, config)
        for channel in config.contacts[contact].channels
    ]
