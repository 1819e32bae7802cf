"""Fault rules as data: which condition on which device class makes which fault, and when.

A rule is pure data (validated by pydantic, so a client's override file fails with the field
that is wrong); `condition_result` is the one function that reads an observation. No I/O.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase, translate
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from server.sla import Severity
from wire.enums import DeviceClass, ProbeErrorCode
from wire.schema import CheckValue


class FaultCode(StrEnum):
    """Stable fault codes (DESIGN.md §3); site-level ones have no device."""

    DEVICE_UNREACHABLE = "device.unreachable"
    DEVICE_AUTH_FAILED = "device.auth_failed"
    CAMERA_STREAM_DOWN = "camera.stream_down"
    CAMERA_VIDEO_LOSS = "camera.video_loss"
    CAMERA_TAMPER = "camera.tamper"
    CAMERA_IMAGE_ABNORMAL = "camera.image_abnormal"
    CAMERA_CLOCK_DRIFT = "camera.clock_drift"
    STORAGE_DISK_FAILED = "storage.disk_failed"
    STORAGE_RECORDING_STOPPED = "storage.recording_stopped"
    POWER_AC_LOST = "power.ac_lost"
    POWER_BATTERY_LOW = "power.battery_low"
    ALARM_PANEL_OFFLINE = "alarm.panel_offline"
    ALARM_ZONE_FAULT = "alarm.zone_fault"
    ACCESS_CONTROLLER_OFFLINE = "access.controller_offline"
    ACCESS_READER_FAULT = "access.reader_fault"
    NETWORK_PORT_DOWN = "network.port_down"
    ENV_TEMPERATURE_HIGH = "env.temperature_high"
    ALARM_COMMS_LOST = "alarm.comms_lost"
    DEVICE_TAMPER = "device.tamper"
    POWER_SUPPLY_FAILED = "power.supply_failed"
    DEVICE_FAN_FAILED = "device.fan_failed"
    ENV_CONTACT_ABNORMAL = "env.contact_abnormal"
    ENV_SMOKE_ALARM = "env.smoke_alarm"
    ENV_FLOOD_ALARM = "env.flood_alarm"
    POWER_INPUT_LOST = "power.input_lost"
    SITE_AGENT_OFFLINE = "site.agent_offline"
    SITE_SYSTEM_PARALYSED = "site.system_paralysed"


@dataclass(frozen=True)
class Observation:
    """What one poll said about a device, as the rules see it."""

    ts: datetime
    reachable: bool
    error_code: str | None = None
    checks: Mapping[str, CheckValue] = field(default_factory=dict)

    @cached_property
    def by_leaf(self) -> dict[str, list[tuple[str, CheckValue]]]:
        """Answered checks by the last segment of their name (`hr_disk.disk1.status` under
        `status`): a table pattern looks at its column's rows only, built once per poll."""
        index: dict[str, list[tuple[str, CheckValue]]] = {}
        for name, value in self.checks.items():
            if value is not None:
                index.setdefault(name.rpartition(".")[2], []).append((name, value))
        return index


@dataclass(frozen=True, slots=True)
class Reported:
    """An event a device sent (trap, ONVIF event, MQTT message), as the rules see it."""

    ts: datetime
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Unreachable(_Strict):
    """The poll got no answer (any error but a refused login, which is its own fault)."""

    kind: Literal["unreachable"] = "unreachable"


class ErrorIs(_Strict):
    """The poll failed with this error code; unknown while the device does not answer at all."""

    kind: Literal["error"] = "error"
    code: ProbeErrorCode


class CheckIn(_Strict):
    """A check's value is one of `values`; unknown while the check is absent.

    A `*` in `check` watches every matching check (table rows such as `hr_disk.*.status`):
    failing if any of them fails, passing if some answered and none fails.
    """

    kind: Literal["check_in"] = "check_in"
    check: str
    values: tuple[bool | int | float | str, ...] = Field(min_length=1)


class CheckAbove(_Strict):
    """A numeric check is above `limit` (or its absolute value is, with `absolute`); `*` as in
    `CheckIn`."""

    kind: Literal["check_above"] = "check_above"
    check: str
    limit: float
    absolute: bool = False


class AnyOf(_Strict):
    """Failing if any of these is; passing if one can tell and none fails (several tables or
    vendors report the same fault under different names)."""

    kind: Literal["any_of"] = "any_of"
    conditions: tuple[CheckIn | CheckAbove, ...] = Field(min_length=1)


Condition = Annotated[
    Unreachable | ErrorIs | CheckIn | CheckAbove | AnyOf, Field(discriminator="kind")
]
NOT_UNREACHABLE = (ProbeErrorCode.AUTH_FAILED.value,)
# The agent lost the MQTT broker: nothing is known of the device itself (a site-level condition).
CANNOT_TELL = (ProbeErrorCode.BROKER_UNREACHABLE.value,)


class EventMatch(_Strict):
    """Which device events (trap, ONVIF event, MQTT message) report this fault, and its end.

    A reporting event confirms the fault at once: the device said so itself. Its verdict is the
    first `state` data item present (true/start/active… or false/stop/normal…); without one it
    reports the fault. `key` data items name the part (channel, port, disk): each part clears on
    its own, and the fault lasts while any part is failing. A fault reported only by events
    without a verdict and with no `clear_kinds` is over after `quiet_seconds` without another
    report, judged at the next answered poll.
    """

    kinds: tuple[str, ...] = Field(min_length=1)
    clear_kinds: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    quiet_seconds: float = Field(default=900, gt=0)

    @property
    def quiet(self) -> timedelta:
        return timedelta(seconds=self.quiet_seconds)


class Rule(_Strict):
    """One fault code on some device classes, with its confirmation and recovery counts.

    Polls are judged by `condition`, device events by `events` (at least one of the two).

    Confirmed after `confirm_after` failing observations in a row, or failing for
    `confirm_seconds`, or `flap_count` passing→failing flips within `flap_window_seconds`
    (a device bouncing faster than the confirmation count still makes one fault). Recovered after
    `recover_after` passing observations in a row spanning at least `recover_seconds`.
    """

    code: FaultCode
    classes: tuple[DeviceClass, ...] | None = None  # None: every class but `except_classes`
    except_classes: tuple[DeviceClass, ...] = ()
    condition: Condition | None = None
    events: EventMatch | None = None
    confirm_after: int = Field(default=2, ge=1)
    confirm_seconds: float | None = Field(default=None, gt=0)
    recover_after: int = Field(default=3, ge=1)
    recover_seconds: float = Field(default=0, ge=0)
    flap_count: int = Field(default=3, ge=2)
    flap_window_seconds: float = Field(default=600, gt=0)
    severity: Severity = Severity.GENERAL
    # The device is out of service while this fault is open: its children's faults are its
    # consequence (dependency suppression), and uptime counts it as down.
    service_affecting: bool = False

    def verdict(self, obs: Observation) -> bool | None:
        """What this poll says under the rule's condition (None without one)."""
        return self.test(obs)

    @property
    def test(self) -> "Test":
        """`verdict` as a plain function, looked up once for many polls."""
        return _no_condition if self.condition is None else compiled(self.condition)

    @model_validator(mode="after")
    def _something_to_watch(self) -> "Rule":
        if self.condition is None and self.events is None:
            raise ValueError("a rule needs a condition, events, or both")
        return self

    def applies_to(self, device_class: str) -> bool:
        if device_class in self.except_classes:
            return False
        return self.classes is None or device_class in self.classes

    @property
    def confirm_for(self) -> timedelta | None:
        return None if self.confirm_seconds is None else timedelta(seconds=self.confirm_seconds)

    @property
    def recover_for(self) -> timedelta:
        return timedelta(seconds=self.recover_seconds)

    @property
    def flap_window(self) -> timedelta:
        return timedelta(seconds=self.flap_window_seconds)


class RuleSet(_Strict):
    """The rules in force; at most one rule per (code, device class)."""

    rules: tuple[Rule, ...]
    _polled_cache: dict[tuple[str, frozenset[str]], list[Rule]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _one_rule_per_code_and_class(self) -> "RuleSet":
        for cls in DeviceClass:
            codes = [r.code for r in self.for_class(cls.value)]
            for code in set(codes):
                if codes.count(code) > 1:
                    raise ValueError(f"two rules for {code} on {cls.value}")
        return self

    def for_class(self, device_class: str) -> list[Rule]:
        """The rules that watch a device of this class."""
        return [r for r in self.rules if r.applies_to(device_class)]

    def polled_by(self, device_class: str, names: frozenset[str]) -> list[Rule]:
        """The class's rules whose condition can judge a poll with these check names. Cached:
        a device reports the same names poll after poll."""
        key = (device_class, names)
        found = self._polled_cache.get(key)
        if found is None:
            found = [r for r in self.for_class(device_class) if reads_any(r.condition, names)]
            if len(self._polled_cache) < 4096:
                self._polled_cache[key] = found
        return found

    def by_code(self, code: str) -> list[Rule]:
        return [r for r in self.rules if r.code == code]


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A `*` check pattern; `leaf` set when its last segment is literal (`x.*.status`,
    `*.celsius`), so only that column's checks need testing."""

    head: str
    tail: str
    leaf: str | None
    regex: re.Pattern[str] | None  # more than one star


@lru_cache(maxsize=256)
def _pattern(check: str) -> _Pattern:
    head, _, tail = check.partition("*")
    if "*" in tail:
        return _Pattern(head, tail, None, re.compile(translate(check)))
    leaf = tail[1:] if tail.startswith(".") and "." not in tail[1:] and tail[1:] else None
    return _Pattern(head, tail, leaf, None)


def _values(check: str, obs: Observation) -> list[CheckValue]:
    """The answered values of a check name, or of every check a `*` pattern matches."""
    if "*" not in check:
        value = obs.checks.get(check)
        return [] if value is None else [value]
    p = _pattern(check)
    if p.regex is not None:
        return [v for name, v in obs.checks.items() if v is not None and p.regex.match(name)]
    rows = (
        obs.by_leaf.get(p.leaf, ())
        if p.leaf is not None
        else [(n, v) for n, v in obs.checks.items() if v is not None]
    )
    least = len(p.head) + len(p.tail)
    return [
        v
        for name, v in rows
        if len(name) >= least and name.startswith(p.head) and name.endswith(p.tail)
    ]


def _check_fails(condition: CheckIn | CheckAbove, value: CheckValue) -> bool | None:
    if isinstance(condition, CheckIn):
        return any(type(value) is type(v) and value == v for v in condition.values)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    measured = abs(value) if condition.absolute else value
    return measured > condition.limit


def _any(verdicts: Iterable[bool | None]) -> bool | None:
    """True if any is; False if some could tell and none is True; None if none could tell."""
    told = False
    for verdict in verdicts:
        if verdict:
            return True
        told = told or verdict is False
    return False if told else None


def condition_result(condition: Condition, obs: Observation) -> bool | None:
    """True: failing; False: passing; None: this observation cannot tell."""
    if obs.error_code in CANNOT_TELL:
        return None
    if isinstance(condition, Unreachable):
        if obs.reachable:
            return False
        return obs.error_code not in NOT_UNREACHABLE
    if isinstance(condition, ErrorIs):
        if obs.error_code == condition.code.value:
            return True
        return False if obs.reachable else None
    if not obs.reachable:
        return None
    if not isinstance(condition, AnyOf) and "*" not in condition.check:  # the common case
        value = obs.checks.get(condition.check)
        return None if value is None else _check_fails(condition, value)
    parts = condition.conditions if isinstance(condition, AnyOf) else (condition,)
    return _any(_check_fails(c, v) for c in parts for v in _values(c.check, obs))


Test = Callable[[Observation], bool | None]


def compile_condition(condition: Condition) -> Test:
    """`condition_result` for one condition, with its decisions taken once: rules are few and
    polls many (detection runs on every ingest batch). Same verdicts, property-tested."""
    if isinstance(condition, Unreachable | ErrorIs):
        return lambda obs: condition_result(condition, obs)
    parts = condition.conditions if isinstance(condition, AnyOf) else (condition,)
    if len(parts) == 1 and "*" not in parts[0].check:
        name, part = parts[0].check, parts[0]
        typed = frozenset((type(v), v) for v in part.values) if isinstance(part, CheckIn) else None

        def single(obs: Observation) -> bool | None:
            if not obs.reachable or obs.error_code in CANNOT_TELL:
                return None
            value = obs.checks.get(name)
            if value is None:
                return None
            if typed is not None:
                return (type(value), value) in typed
            return _check_fails(part, value)

        return single

    prepared = [(c, None if "*" not in c.check else _pattern(c.check)) for c in parts]

    def several(obs: Observation) -> bool | None:
        if not obs.reachable or obs.error_code in CANNOT_TELL:
            return None
        told = False
        for part, pattern in prepared:
            if pattern is None:
                value = obs.checks.get(part.check)
                values: Iterable[CheckValue] = () if value is None else (value,)
            elif pattern.leaf is not None and pattern.leaf not in obs.by_leaf:
                continue  # no row of that column in this poll
            else:
                values = _values(part.check, obs)
            for value in values:
                verdict = _check_fails(part, value)
                if verdict:
                    return True
                told = told or verdict is False
        return False if told else None

    return several


def reads_any(condition: Condition | None, names: frozenset[str]) -> bool:
    """Could a poll whose checks have these names give this condition a verdict? A check
    condition with no such name always says "cannot tell", so its rule can be skipped."""
    if condition is None:
        return False
    if isinstance(condition, Unreachable | ErrorIs):
        return True
    parts = condition.conditions if isinstance(condition, AnyOf) else (condition,)
    for part in parts:
        if "*" not in part.check:
            if part.check in names:
                return True
        elif any(fnmatchcase(name, part.check) for name in names):
            return True
    return False


def _no_condition(_obs: Observation) -> None:
    return None


# Compiled tests by the condition object's identity (the object is kept, so its id stays its
# own); a pydantic private attribute would cost a slow attribute lookup on every poll.
_COMPILED: dict[int, tuple[Condition, Test]] = {}


def compiled(condition: Condition) -> Test:
    entry = _COMPILED.get(id(condition))
    if entry is None or entry[0] is not condition:
        entry = (condition, compile_condition(condition))
        _COMPILED[id(condition)] = entry
    return entry[1]


# -- events -----------------------------------------------------------------------------------

TRUE_WORDS = frozenset({"true", "1", "on", "yes", "active", "start", "alarm", "fault", "failed"})
FALSE_WORDS = frozenset(
    {"false", "0", "off", "no", "inactive", "stop", "normal", "ok", "restore", "restored", "clear"}
)


def _item(data: Mapping[str, Any], path: str) -> Any:
    """A data item by dotted path (`payload.state`); None where the path leads nowhere."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _word(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None
    return None


@dataclass(frozen=True, slots=True)
class EventVerdict:
    failing: bool
    part: str | None  # the `key` items' value; None: the whole device
    stated: bool  # the event carried its own verdict (or was a clear kind)


def event_verdict(match: EventMatch, kind: str, data: Mapping[str, Any]) -> EventVerdict | None:
    """What one device event says about this fault; None when it says nothing."""
    if kind in match.clear_kinds:
        failing, stated = False, True
    elif kind in match.kinds:
        words = (_word(_item(data, item)) for item in match.state)
        said = next((w for w in words if w is not None), None)
        failing, stated = (True, False) if said is None else (said, True)
    else:
        return None
    keys = [_item(data, k) for k in match.key]
    part = "/".join(str(k) for k in keys if k is not None) or None
    return EventVerdict(failing=failing, part=part, stated=stated)


def load_rules(data: Iterable[Mapping[str, Any]]) -> RuleSet:
    """Rules from plain data (YAML or JSON); raises pydantic's ValidationError naming the field."""
    return RuleSet.model_validate({"rules": list(data)})


# -- severity ---------------------------------------------------------------------------------

SeverityMap = Mapping[str, Severity]


def severity_key(code: str, device_class: str | None = None) -> str:
    """`code@class` for a class-specific entry, `code` for the code on every class."""
    return f"{code}@{device_class}" if device_class else code


def severity_for(
    code: str,
    device_class: str | None,
    *,
    rules: RuleSet,
    defaults: SeverityMap,
    overrides: SeverityMap,
) -> Severity:
    """Client override (class-specific, then code), then shipped map, then the rule's default."""
    for table in (overrides, defaults):
        for key in (severity_key(code, device_class), code):
            found = table.get(key)
            if found is not None:
                return Severity(found)
    matching = [r for r in rules.by_code(code) if r.classes is None or device_class in r.classes]
    return matching[0].severity if matching else Severity.GENERAL


def validate_severity_map(
    data: Mapping[str, str], *, known_codes: Sequence[str]
) -> dict[str, Severity]:
    """A client's severity map from input: keys `code` or `code@class`; unknown names refused."""
    out: dict[str, Severity] = {}
    for key, value in data.items():
        code, _, cls = key.partition("@")
        if code not in known_codes:
            raise ValueError(f"{key}: unknown fault code {code!r}")
        if cls and cls not in {c.value for c in DeviceClass}:
            raise ValueError(f"{key}: unknown device class {cls!r}")
        try:
            out[key] = Severity(value)
        except ValueError as err:
            raise ValueError(
                f"{key}: severity must be one of {[s.value for s in Severity]}"
            ) from err
    return out
