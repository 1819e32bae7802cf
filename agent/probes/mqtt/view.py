"""What the agent knows about one MQTT device between polls, and the rules that turn it into a
poll outcome (offline by LWT, silent too long, malformed data). Pure: time is passed in."""

from dataclasses import dataclass, field
from datetime import datetime

from agent.probes.base import DeviceUnreachable, ProbeResult, ProtocolError
from agent.probes.mqtt.mapping import (
    Availability,
    EventReading,
    Malformation,
    MalformedPayload,
    Reading,
    StateUpdate,
)
from wire.schema import MAX_EVENTS_PER_SAMPLE, CheckValue, Event

MAX_PENDING_EVENTS = 10_000


@dataclass
class DeviceView:
    """Latest state of one device, fed by its messages; `take_result` drains it once per poll."""

    online: bool | None = None
    availability_word: str = ""
    checks: dict[str, CheckValue] = field(default_factory=dict)
    pending: list[Event] = field(default_factory=list)
    events_dropped: int = 0
    last_heard: float | None = None
    messages: int = 0
    malformed_total: int = 0
    malformed_since_poll: int = 0
    last_malformed: str = ""
    malformed_kinds: set[Malformation] = field(default_factory=set)
    liveness_changed: bool = False  # availability first heard or flipped since taken
    reported_silent: bool = False  # the last poll said "silent too long"
    silence_announced: bool = False  # `newly_silent` said so for the current silence
    # Back online after the LWT said offline: the device's client lost the broker (a reboot, a
    # network drop) and connected again, however briefly it was away between two polls.
    reconnects: int = 0

    def apply(self, reading: Reading | None, *, at: float, ts: datetime) -> None:
        """Take one well-formed message (`at` is monotonic, `ts` its wall-clock receipt time)."""
        self._heard(at)
        self.messages += 1
        if isinstance(reading, Availability):
            # The first status heard (the retained one at subscribe) is news to the server
            # too: the device's state is known then, not at its first poll.
            if reading.online is not self.online:
                self.liveness_changed = True
            if reading.online and self.online is False:
                self.reconnects += 1
            self.online = reading.online
            self.availability_word = reading.word
        elif isinstance(reading, StateUpdate):
            self.checks.update(reading.checks)
        elif isinstance(reading, EventReading):
            if len(self.pending) >= MAX_PENDING_EVENTS:
                self.events_dropped += 1
                return
            self.pending.append(event_of(reading, ts=ts))

    def _heard(self, at: float) -> None:
        self.last_heard = at
        self.silence_announced = False
        if self.reported_silent:  # back after a silence: recovery is news
            self.reported_silent = False
            self.liveness_changed = True

    def newly_silent(self, *, now: float, watching_since: float, limit: float | None) -> bool:
        """True once when the silence reaches `limit`: report the device now, not at its poll."""
        if limit is None or self.silence_announced:
            return False
        heard = self.last_heard if self.last_heard is not None else watching_since
        if now - heard < limit:
            return False
        self.silence_announced = True
        return True

    def take_liveness_change(self) -> bool:
        """True once after availability was first heard or flipped: report the device now."""
        changed, self.liveness_changed = self.liveness_changed, False
        return changed

    def heard(self, *, at: float) -> None:
        """Count a well-formed message handed elsewhere (an event pushed at once)."""
        self._heard(at)
        self.messages += 1

    def reject(self, err: MalformedPayload, *, at: float, topic: str) -> bool:
        """Count a bad message (the device did talk); True the first time this kind is seen, so
        the caller logs each kind once."""
        self._heard(at)
        self.messages += 1
        self.malformed_total += 1
        self.malformed_since_poll += 1
        self.last_malformed = f"{topic}: {err.kind.value}: {err}"
        first = err.kind not in self.malformed_kinds
        self.malformed_kinds.add(err.kind)
        return first

    def take_result(
        self, *, now: float, watching_since: float, silence_timeout: float | None
    ) -> ProbeResult:
        """This poll's outcome; raises DeviceUnreachable/ProtocolError. Events are handed out
        only with a successful result, so a failed poll keeps them for the next one."""
        if self.online is False:
            raise DeviceUnreachable(f"device reported {self.availability_word!r} (LWT)")
        heard = self.last_heard if self.last_heard is not None else watching_since
        silent = max(0.0, now - heard)
        if silence_timeout is not None and silent >= silence_timeout:
            what = "no message" if self.last_heard is None else "silent"
            self.reported_silent = True
            raise DeviceUnreachable(f"{what} for {silent:.0f} s (limit {silence_timeout:g} s)")
        if self.malformed_since_poll:
            count, self.malformed_since_poll = self.malformed_since_poll, 0
            raise ProtocolError(f"{count} malformed message(s), last {self.last_malformed}")
        checks = dict(self.checks)
        checks["mqtt.online"] = self.online
        checks["mqtt.silent_s"] = None if self.last_heard is None else round(silent, 1)
        checks["mqtt.malformed"] = self.malformed_total
        checks["mqtt.reconnects"] = self.reconnects
        if self.events_dropped:
            checks["mqtt.events_dropped"] = self.events_dropped
        events = self.pending[:MAX_EVENTS_PER_SAMPLE]
        del self.pending[:MAX_EVENTS_PER_SAMPLE]
        return ProbeResult(checks=checks, events=events)


def event_of(reading: EventReading, *, ts: datetime) -> Event:
    """The wire event of one event message (`ts`: when it was received)."""
    data = {"maintenance": reading.maintenance, "payload": reading.data}
    return Event(ts=ts, kind=reading.kind, data=data)
