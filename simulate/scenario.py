"""Scenarios as data: the simulated site's devices, a timeline of faults and recoveries, and
cues an instructor fires by name. Validated once at start; every error names file, line, field.

    devices:
      - {id: sw-01, name: PoE switch, kind: poe_switch}
      - {id: cam-05, name: Gate camera, kind: camera, parent: sw-01}
    timeline:
      - {at: "00:40", device: sw-01, action: down, note: "the PoE switch loses power"}
    cues:
      gate-camera-unplugged: [{device: cam-05, action: down}]
"""

from collections.abc import Iterator
from enum import StrEnum
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from configfile import ConfigError as ConfigError
from configfile import FieldPath, read_yaml
from wire.schema import DeviceId

SHIPPED = ("demo", "training")


class DeviceKind(StrEnum):
    CAMERA = "camera"  # the ONVIF fake (events: tamper, signal loss)
    RECORDER = "recorder"  # snmpsim: NAS recorder, HOST-RESOURCES + SYNOLOGY MIBs
    UPS = "ups"  # snmpsim: RFC 1628 UPS-MIB, traps by snmptrap
    POE_SWITCH = "poe_switch"  # snmpsim: IF-MIB + POWER-ETHERNET-MIB, cameras on its ports
    SITE_MONITOR = "site_monitor"  # snmpsim: AKCP SPAGENT-MIB, temperature and dry contacts
    DOOR_CONTROLLER = "door_controller"  # MQTT, access_controller template, last will
    ALARM_PANEL = "alarm_panel"  # MQTT, alarm_panel template, last will


MQTT_KINDS = frozenset({DeviceKind.DOOR_CONTROLLER, DeviceKind.ALARM_PANEL})
SNMP_KINDS = frozenset(
    {DeviceKind.RECORDER, DeviceKind.UPS, DeviceKind.POE_SWITCH, DeviceKind.SITE_MONITOR}
)


class CameraEngine(StrEnum):
    ONVIF_FAKE = "onvif_fake"  # ours: device service and events, no video
    IPYCAM = "ipycam"  # third-party virtual camera with an RTSP stream (needs ffmpeg)


class Action(StrEnum):
    DOWN = "down"  # power off: snmpsim killed, camera's port closed, MQTT client killed (will)
    UP = "up"
    FLAP = "flap"  # down and up every `period` s until `until`
    ON_BATTERY = "on_battery"  # UPS: mains lost (poll data and upsTrapOnBattery)
    ON_MAINS = "on_mains"
    ALARM = "alarm"  # site monitor: a dry contact away from normal
    CLEAR = "clear"
    TAMPER = "tamper"  # camera: ONVIF tamper event
    SIGNAL_LOSS = "signal_loss"  # camera: ONVIF VideoSource/SignalLoss
    SIGNAL_BACK = "signal_back"
    STREAM_DOWN = "stream_down"  # ipycam camera: its RTSP listener closes, ONVIF still answers
    STREAM_UP = "stream_up"
    AC_LOST = "ac_lost"  # door controller / alarm panel: mains lost, on its battery
    AC_BACK = "ac_back"


# Which kinds each action applies to (down/up/flap: every kind).
ACTION_KINDS: dict[Action, frozenset[DeviceKind]] = {
    Action.ON_BATTERY: frozenset({DeviceKind.UPS}),
    Action.ON_MAINS: frozenset({DeviceKind.UPS}),
    Action.ALARM: frozenset({DeviceKind.SITE_MONITOR}),
    Action.CLEAR: frozenset({DeviceKind.SITE_MONITOR}),
    Action.TAMPER: frozenset({DeviceKind.CAMERA}),
    Action.SIGNAL_LOSS: frozenset({DeviceKind.CAMERA}),
    Action.SIGNAL_BACK: frozenset({DeviceKind.CAMERA}),
    Action.STREAM_DOWN: frozenset({DeviceKind.CAMERA}),
    Action.STREAM_UP: frozenset({DeviceKind.CAMERA}),
    Action.AC_LOST: MQTT_KINDS,
    Action.AC_BACK: MQTT_KINDS,
}


def parse_clock(value: object) -> float:
    """Seconds from the scenario's start: "MM:SS", or a number of seconds (YAML reads an
    unquoted 1:30 as 90 already)."""
    if isinstance(value, bool):
        raise PydanticCustomError("clock", 'must be "MM:SS" or seconds')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.count(":") == 1:
        minutes, _, secs = value.partition(":")
        if not (minutes.isdigit() and secs.isdigit() and int(secs) < 60):
            raise PydanticCustomError("clock", 'must be "MM:SS" or seconds')
        seconds = int(minutes) * 60 + int(secs)
    else:
        raise PydanticCustomError("clock", 'must be "MM:SS" or seconds')
    if seconds < 0:
        raise PydanticCustomError("clock", "must not be negative")
    return seconds


def clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimDevice(_Model):
    id: DeviceId
    name: str = Field(min_length=1, max_length=200)
    kind: DeviceKind
    parent: DeviceId | None = Field(default=None, description="The PoE switch feeding a camera")
    engine: CameraEngine = Field(
        default=CameraEngine.ONVIF_FAKE,
        description="Camera: the ONVIF fake (events) or ipycam (a real RTSP stream)",
    )
    contacts: list[str] = Field(
        default_factory=list, description="Site monitor: its dry contacts' labels (smoke, door…)"
    )
    bad_sectors: int = Field(default=0, ge=0, description="Recorder: its second disk's at start")
    battery_runtime_min: float = Field(
        default=30.0, gt=0, description="UPS: its battery's full-charge runtime at start"
    )
    wear_sectors_per_minute: float = Field(
        default=0.0, ge=0, description="Recorder: bad sectors its second disk gains a minute"
    )
    fade_minutes_per_minute: float = Field(
        default=0.0, ge=0, description="UPS: runtime its battery loses a minute"
    )


class Step(_Model):
    device: DeviceId
    action: Action
    contact: str | None = Field(default=None, description="alarm/clear: which contact")
    period: float | None = Field(default=None, gt=0, description="flap: seconds down, then up")
    until: float | None = Field(default=None, description="flap: when it stops (MM:SS)")
    note: str | None = Field(default=None, max_length=200, description="The tour's cue text")

    @field_validator("until", mode="before")
    @classmethod
    def _until(cls, value: object) -> float | None:
        return None if value is None else parse_clock(value)


class TimedStep(Step):
    at: float

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> float:
        return parse_clock(value)


class Scenario(_Model):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    devices: list[SimDevice] = Field(min_length=1)
    timeline: list[TimedStep] = Field(default_factory=list)
    cues: dict[str, list[Step]] = Field(default_factory=dict)

    def device(self, device_id: str) -> SimDevice:
        return next(d for d in self.devices if d.id == device_id)

    def children(self, device_id: str) -> list[SimDevice]:
        return [d for d in self.devices if d.parent == device_id]


def shipped_path(name: str) -> Path:
    return Path(str(resources.files("simulate") / "scenarios" / f"{name}.yaml"))


def load_scenario(path_or_name: str | Path) -> Scenario:
    """A scenario file, or a shipped scenario by name (demo, training); ConfigError otherwise."""
    path = Path(path_or_name)
    if str(path_or_name) in SHIPPED and not path.is_file():
        path = shipped_path(str(path_or_name))
    file = read_yaml(path)
    scenario = file.validate(Scenario)
    file.fail(_cross_checks(scenario))
    return scenario


def _cross_checks(scenario: Scenario) -> Iterator[tuple[FieldPath, str]]:
    """Unique ids, parents that are PoE switches, steps that fit their device."""
    kinds: dict[str, SimDevice] = {}
    for i, device in enumerate(scenario.devices):
        if device.id in kinds:
            yield ("devices", i, "id"), f"duplicate device id {device.id!r}"
        kinds[device.id] = device
        if device.contacts and device.kind is not DeviceKind.SITE_MONITOR:
            yield ("devices", i, "contacts"), "only a site_monitor has contacts"
        if device.engine is not CameraEngine.ONVIF_FAKE and device.kind is not DeviceKind.CAMERA:
            yield ("devices", i, "engine"), "only a camera has an engine"
    for i, device in enumerate(scenario.devices):
        if device.parent is None:
            continue
        parent = kinds.get(device.parent)
        if parent is None:
            yield ("devices", i, "parent"), f"unknown device {device.parent!r}"
        elif parent.kind is not DeviceKind.POE_SWITCH or device.kind is not DeviceKind.CAMERA:
            yield ("devices", i, "parent"), "only a camera has a parent, and it is a poe_switch"
    for i, timed in enumerate(scenario.timeline):
        yield from _step_problems(("timeline", i), timed, kinds)
        if timed.until is not None and timed.until <= timed.at:
            yield ("timeline", i, "until"), "must be after at"
    for name, steps in scenario.cues.items():
        for i, step in enumerate(steps):
            yield from _step_problems(("cues", name, i), step, kinds)


def _step_problems(
    where: FieldPath, step: Step, devices: dict[str, SimDevice]
) -> Iterator[tuple[FieldPath, str]]:
    device = devices.get(step.device)
    if device is None:
        yield (*where, "device"), f"unknown device {step.device!r}"
        return
    allowed = ACTION_KINDS.get(step.action)
    if allowed is not None and device.kind not in allowed:
        kinds = ", ".join(sorted(allowed))
        yield (*where, "action"), f"{step.action} is for {kinds}, not {device.kind}"
    if step.action in (Action.ALARM, Action.CLEAR) and step.contact not in device.contacts:
        yield (*where, "contact"), f"must be one of {device.id}'s contacts: {device.contacts}"
    events = (Action.TAMPER, Action.SIGNAL_LOSS, Action.SIGNAL_BACK)
    streams = (Action.STREAM_DOWN, Action.STREAM_UP)
    if step.action in events and device.engine is CameraEngine.IPYCAM:
        yield (*where, "action"), f"{step.action} needs engine onvif_fake (ipycam sends no events)"
    if step.action in streams and device.engine is not CameraEngine.IPYCAM:
        yield (*where, "action"), f"{step.action} needs engine ipycam (the fake has no stream)"
    if step.action is Action.FLAP and (step.period is None or step.until is None):
        yield (*where, "action"), "flap needs period: and until:"
