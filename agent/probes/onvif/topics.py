"""ONVIF event notifications → our event kinds, and the PullPoint lease arithmetic. Pure: the
subscription in `events.py` does the network part.

Topics are matched on their path with namespace prefixes removed (`tns1:VideoSource/SignalLoss`
and `ns2:VideoSource/SignalLoss` are the same topic; vendors pick their own prefixes). A rule
matches its path and anything below it (`VideoSource/GlobalSceneChange/ImagingService`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wire.schema import Event

RAW_KIND = "onvif.event"
MAX_ITEMS = 16
MAX_VALUE_CHARS = 256
MAX_TOPIC_CHARS = 256

# The message's own verdict on the condition: ONVIF names the state item per topic.
TRUE_WORDS = frozenset({"true", "1", "on", "active", "yes"})
FALSE_WORDS = frozenset({"false", "0", "off", "inactive", "no"})


@dataclass(frozen=True)
class TopicRule:
    """One known topic: the event kind it becomes and which data item holds its state."""

    path: str
    kind: str
    state_items: tuple[str, ...] = ("State",)
    reason: str | None = None


# From the ONVIF Core, Imaging, Device IO and Analytics specs (topic set of the event service).
RULES: tuple[TopicRule, ...] = (
    TopicRule("VideoSource/GlobalSceneChange", "camera.tamper"),
    TopicRule("RuleEngine/TamperDetector/Tamper", "camera.tamper", ("IsTamper", "State")),
    TopicRule("VideoSource/SignalLoss", "camera.video_loss"),
    TopicRule("VideoSource/ImageTooBlurry", "camera.image_abnormal", reason="blurred"),
    TopicRule("VideoSource/ImageTooDark", "camera.image_abnormal", reason="dark"),
    TopicRule("VideoSource/ImageTooBright", "camera.image_abnormal", reason="bright"),
    TopicRule("Device/HardwareFailure/StorageFailure", "storage.disk_failed", ("Failed",)),
    TopicRule("Device/HardwareFailure/PowerSupplyFailure", "power.supply_failed", ("Failed",)),
    TopicRule("Device/HardwareFailure/FanFailure", "device.fan_failed", ("Failed",)),
    TopicRule("Device/HardwareFailure/TemperatureCritical", "env.temperature_high", ("Critical",)),
    TopicRule("Device/Trigger/DigitalInput", "alarm.input", ("LogicalState", "State")),
)

# Motion is what a camera is for, not a maintenance fault: a busy scene sends hundreds per hour.
IGNORED: tuple[str, ...] = (
    "VideoSource/MotionAlarm",
    "RuleEngine/CellMotionDetector/Motion",
    "RuleEngine/MotionRegionDetector/Motion",
)


@dataclass(frozen=True)
class Notification:
    """One wsnt:NotificationMessage, read out of whatever shape the client library gave."""

    topic: str
    operation: str | None = None  # Initialized | Changed | Deleted
    utc_time: datetime | None = None  # the camera's clock: evidence, not our timeline
    source: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, str] = field(default_factory=dict)


def topic_path(topic: str) -> str:
    """`tns1:VideoSource/tnsvendor:Thing` → `VideoSource/Thing`; surrounding blanks dropped."""
    return "/".join(part.rpartition(":")[2] for part in topic.strip().split("/") if part)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def rule_for(topic: str) -> TopicRule | None:
    path = topic_path(topic)
    return next((r for r in RULES if _under(path, r.path)), None)


def is_ignored(topic: str) -> bool:
    path = topic_path(topic)
    return any(_under(path, p) for p in IGNORED)


def parse_state(value: str | None) -> bool | None:
    if value is None:
        return None
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def _clip(items: Mapping[str, str]) -> dict[str, str]:
    return {str(k)[:64]: str(v)[:MAX_VALUE_CHARS] for k, v in list(items.items())[:MAX_ITEMS]}


def to_event(note: Notification, *, received: datetime) -> Event | None:
    """The event a notification becomes, or None for what we drop (motion; the property dump
    of an unknown topic that a camera sends right after each subscription)."""
    if is_ignored(note.topic):
        return None
    rule = rule_for(note.topic)
    initial = note.operation == "Initialized"
    if rule is None and initial:
        return None
    data: dict[str, Any] = {"topic": note.topic[:MAX_TOPIC_CHARS]}
    if note.operation:
        data["operation"] = note.operation
    if note.utc_time is not None:
        data["device_time"] = note.utc_time.isoformat()
    if note.source:
        data["source"] = _clip(note.source)
    if rule is None:
        data["data"] = _clip(note.data)
        return Event(ts=received, kind=RAW_KIND, data=data)
    state_item = next((name for name in rule.state_items if name in note.data), None)
    data["active"] = parse_state(note.data.get(state_item)) if state_item else None
    if rule.reason is not None:
        data["reason"] = rule.reason
    if initial:
        data["initial"] = True  # the state at subscription time, not a change just now
    extra = {k: v for k, v in note.data.items() if k != state_item}
    if extra:
        data["data"] = _clip(extra)
    return Event(ts=received, kind=rule.kind, data=data)


# -- the lease ------------------------------------------------------------------------------


def lease_end(
    *,
    current: datetime | None,
    termination: datetime | None,
    received_at: float,
    requested_s: float,
) -> float:
    """When the subscription ends, on the agent's monotonic clock. The camera's CurrentTime and
    TerminationTime are both in the camera's clock, so their difference is immune to its skew;
    without both, assume the camera granted what we asked."""
    if current is not None and termination is not None:
        remaining = (termination - current).total_seconds()
    else:
        remaining = requested_s
    return received_at + max(0.0, remaining)


def renew_due(*, now: float, ends_at: float, pull_timeout_s: float, margin_s: float) -> bool:
    """Renew only when the next pull could outlast the lease (plus a margin for the round
    trip): some cameras fail on frequent renewals, and a pull that extends the lease (some
    devices do) pushes this further away, so such a camera is never renewed at all."""
    return now + pull_timeout_s + margin_s >= ends_at


def termination_request(
    lifetime_s: float, *, absolute: bool, camera_now: datetime | None = None
) -> str:
    """InitialTerminationTime/TerminationTime to ask for: a relative duration, or, for cameras
    that ignore relative times, an absolute time in the camera's own clock."""
    if absolute and camera_now is not None:
        ends = camera_now + timedelta(seconds=lifetime_s)
        return ends.isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"PT{max(1, round(lifetime_s))}S"


def ignores_relative_time(*, granted_s: float, requested_s: float) -> bool:
    """A camera that answered a relative request with a lease far shorter than asked (some
    firmware reads `PT60S` as "now"): ask with absolute times from then on."""
    return granted_s < requested_s / 2
