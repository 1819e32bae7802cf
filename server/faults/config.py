"""An operator's fault rules file (SECMON_FAULT_RULES): the shipped rules, changed in place.

    rules:            # each replaces the shipped rules of its code on the classes it names
      - code: camera.stream_down
        classes: [camera]
        condition: {kind: check_in, check: stream.ok, values: [false]}
        confirm_after: 3
    disable: [camera.clock_drift]
    severity: {camera.tamper: emergency, device.unreachable@switch: emergency}

Read once at start; every error names the file, the line and the field. Per-client severity
stays in the service settings (API); this file sets the defaults for all clients.
"""

from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from configfile import ConfigError, read_yaml
from server.faults.engine import KNOWN_CODES, FaultSettings
from server.faults.rules import (
    CheckAbove,
    CheckIn,
    Condition,
    ErrorIs,
    FaultCode,
    Rule,
    RuleSet,
    Unreachable,
    validate_severity_map,
)
from wire.enums import DeviceClass


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...] = ()
    disable: tuple[FaultCode, ...] = ()
    severity: dict[str, str] = {}


def _classes(rule: Rule) -> set[str]:
    return {c.value for c in DeviceClass if rule.applies_to(c.value)}


def merge_rules(shipped: RuleSet, changes: RulesFile) -> RuleSet:
    """Shipped rules without the disabled codes, each replaced where a file rule covers its
    code on a class it watches; raises ValidationError if two file rules collide."""
    kept = [
        rule
        for rule in shipped.rules
        if rule.code not in changes.disable
        and not any(
            new.code == rule.code and _classes(new) & _classes(rule) for new in changes.rules
        )
    ]
    return RuleSet(rules=(*kept, *changes.rules))


def load_fault_settings(path: Path, base: FaultSettings) -> FaultSettings:
    """`base` with the file's rules and severities; ConfigError naming file, line and field."""
    file = read_yaml(path)
    changes = file.validate(RulesFile)
    try:
        rules = merge_rules(base.rules, changes)
    except ValidationError as err:
        found = err.errors(include_url=False)
        raise ConfigError([file.problem(("rules",), str(e["msg"])) for e in found]) from err
    severity = dict(base.severity_defaults)
    for key, value in changes.severity.items():
        try:
            severity.update(validate_severity_map({key: value}, known_codes=KNOWN_CODES))
        except ValueError as err:
            raise ConfigError([file.problem(("severity", key), str(err))]) from err
    return replace(base, rules=rules, severity_defaults=severity)


def _said(condition: Condition) -> str:
    if isinstance(condition, Unreachable):
        return "no answer"
    if isinstance(condition, ErrorIs):
        return f"error {condition.code.value}"
    if isinstance(condition, CheckIn):
        return f"{condition.check} in {list(condition.values)}"
    if isinstance(condition, CheckAbove):
        return f"{'|' if condition.absolute else ''}{condition.check} > {condition.limit:g}"
    return " or ".join(_said(c) for c in condition.conditions)


def describe(rule: Rule) -> str:
    """One line per rule for `secmon server rules`: what it watches and how it confirms."""
    classes = ",".join(rule.classes) if rule.classes else "all"
    if rule.except_classes:
        classes += " but " + ",".join(rule.except_classes)
    watches = [] if rule.condition is None else [_said(rule.condition)]
    if rule.events is not None:
        watches.append("events " + ",".join(rule.events.kinds))
    return (
        f"{rule.code.value} [{classes}] {rule.severity.value}, confirm {rule.confirm_after}, "
        f"recover {rule.recover_after}: {'; '.join(watches)}"
    )
