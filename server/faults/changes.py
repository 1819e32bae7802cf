"""What detection found, as records for whoever acts on it (ticket intake).

Detection moves tracks and episodes and says what changed; it never decides about tickets.
The episode rows are the ones of the detection's session, so the consumer can link them.
"""

from dataclasses import dataclass
from datetime import datetime

from server.models import Device, FaultEpisode, Site


@dataclass(frozen=True, slots=True)
class Opened:
    """A device's fault was confirmed: a new open episode."""

    episode: FaultEpisode
    device: Device
    service_affecting: bool  # the device is out (unreachable, offline): children follow it
    flapping: bool


@dataclass(frozen=True, slots=True)
class Recurred:
    """An open episode failed again after passing (a flap, counted on the episode)."""

    episode: FaultEpisode


@dataclass(frozen=True, slots=True)
class Recovered:
    """An episode's recovery was confirmed at `at`; the episode is closed."""

    episode: FaultEpisode
    at: datetime


@dataclass(frozen=True, slots=True)
class IncidentOpened:
    """Most cameras of a site dropped at once: a site episode; `members` are their outages."""

    incident: FaultEpisode
    site: Site
    members: list[FaultEpisode]
    cameras: int


@dataclass(frozen=True, slots=True)
class IncidentJoined:
    """A camera's new outage while the site's incident is open."""

    incident: FaultEpisode
    episode: FaultEpisode
    device: Device


@dataclass(frozen=True, slots=True)
class IncidentRecovered(Recovered):
    """No member of the site's incident is down any more."""


@dataclass(frozen=True, slots=True)
class AgentOffline:
    """A site's agent has been silent past the limit: its devices are unknown, not down."""

    episode: FaultEpisode
    site: Site
    last_heard: datetime


@dataclass(frozen=True, slots=True)
class AgentBack(Recovered):
    """The silent agent was heard from again."""


FaultChange = Opened | Recurred | Recovered | IncidentOpened | IncidentJoined | AgentOffline
