"""Payload mapping as data: a template (YAML in `templates/`, or the operator's in
`agent.mqtt_templates_dir`) says which topics a device uses and how each payload becomes
availability, checks or an event. Reading payloads is pure: bytes in, readings out; the
template files are read once at start and refused with their file, line and field."""

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from configfile import ConfigError, ConfigProblem, parse_yaml
from wire.schema import CheckName, CheckValue

MAX_TEXT_CHECK = 200


class Malformation(StrEnum):
    """Why a payload could not be read; logged once per device and kind."""

    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_VALUE = "unknown_value"


class MalformedPayload(Exception):  # noqa: N818 - a reading outcome, not a crash
    def __init__(self, kind: Malformation, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckRule(_Model):
    """One check read from one field: `path` is dotted into the JSON object (None: the whole
    payload as text); `values` maps raw words to check values, otherwise `type` is enforced."""

    path: str | None = None
    type: Literal["bool", "int", "float", "str"] = "str"
    values: dict[str, CheckValue] | None = None


class AvailabilityRule(_Model):
    """An LWT/availability topic: JSON field `path` or, for plain-text payloads, the word itself."""

    topic: str
    path: str | None = None
    online: list[str] = Field(default_factory=lambda: ["online"])
    offline: list[str] = Field(default_factory=lambda: ["offline"])


class StateRule(_Model):
    topic: str
    format: Literal["json", "text"] = "json"
    checks: dict[CheckName, CheckRule]


class EventKind(_Model):
    kind: str = Field(min_length=1, max_length=64)
    maintenance: bool = Field(description="A fault worth a ticket (tamper, AC lost), not traffic")


class EventRule(_Model):
    """An event topic: `kind_path` names the field holding the event type, `kinds` maps it."""

    topic: str
    kind_path: str
    kinds: dict[str, EventKind]


class Template(_Model):
    name: str
    description: str = ""
    availability: AvailabilityRule | None = None
    state: list[StateRule] = Field(default_factory=list)
    events: list[EventRule] = Field(default_factory=list)

    def bind(self, topic: str) -> "BoundMapping":
        """The template's topics for one device (`{topic}` replaced)."""
        routes: dict[str, Rule] = {}
        rules: list[Rule] = [*self.state, *self.events]
        if self.availability is not None:
            rules.insert(0, self.availability)
        for rule in rules:
            routes[rule.topic.replace("{topic}", topic)] = rule
        return BoundMapping(template=self.name, routes=routes)


Rule = AvailabilityRule | StateRule | EventRule


@dataclass(frozen=True)
class BoundMapping:
    template: str
    routes: dict[str, Rule]


@dataclass(frozen=True)
class Availability:
    online: bool
    word: str


@dataclass(frozen=True)
class StateUpdate:
    checks: dict[str, CheckValue]


@dataclass(frozen=True)
class EventReading:
    kind: str
    maintenance: bool
    data: dict[str, Any]


Reading = Availability | StateUpdate | EventReading

UNKNOWN_EVENT = EventKind(kind="unknown", maintenance=False)


def read(rule: Rule, payload: bytes, *, max_bytes: int) -> Reading | None:
    """Interpret one message; None for an empty payload (a cleared retained topic)."""
    if len(payload) > max_bytes:
        raise MalformedPayload(
            Malformation.TOO_LARGE, f"{len(payload)} bytes, limit {max_bytes} bytes"
        )
    if not payload:
        return None
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise MalformedPayload(Malformation.NOT_UTF8, "payload is not UTF-8") from err
    if isinstance(rule, AvailabilityRule):
        return _availability(rule, text)
    if isinstance(rule, StateRule):
        if rule.format == "text":
            return StateUpdate(
                {name: _convert(name, check, text.strip()) for name, check in rule.checks.items()}
            )
        doc = _json_object(text)
        checks: dict[str, CheckValue] = {}
        for name, check in rule.checks.items():
            found, raw = _lookup(doc, check.path)
            if found:
                checks[name] = _convert(name, check, raw)
        return StateUpdate(checks)
    doc = _json_object(text)
    found, raw = _lookup(doc, rule.kind_path)
    if not found or not isinstance(raw, str):
        raise MalformedPayload(Malformation.WRONG_TYPE, f"event without a string {rule.kind_path}")
    kind = rule.kinds.get(raw, UNKNOWN_EVENT)
    return EventReading(kind=kind.kind, maintenance=kind.maintenance, data=doc)


def _availability(rule: AvailabilityRule, text: str) -> Availability:
    word: object = text.strip()
    if rule.path is not None and text.lstrip().startswith("{"):
        found, word = _lookup(_json_object(text), rule.path)
        if not found:
            raise MalformedPayload(Malformation.WRONG_TYPE, f"availability without {rule.path}")
    if isinstance(word, str):
        if word in rule.online:
            return Availability(online=True, word=word)
        if word in rule.offline:
            return Availability(online=False, word=word)
    raise MalformedPayload(Malformation.UNKNOWN_VALUE, f"availability {_short(word)} is unknown")


def _json_object(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as err:
        raise MalformedPayload(Malformation.NOT_JSON, f"not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise MalformedPayload(Malformation.NOT_OBJECT, f"JSON {type(doc).__name__}, not object")
    return doc


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _lookup(doc: dict[str, Any], path: str | None) -> tuple[bool, object]:
    """Follow a dotted path; (False, None) if any part is missing."""
    if path is None:
        return True, doc
    node: object = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _convert(name: str, check: CheckRule, raw: object) -> CheckValue:
    if check.values is not None:
        key = raw if isinstance(raw, str) else json.dumps(raw)
        if key not in check.values:
            raise MalformedPayload(Malformation.UNKNOWN_VALUE, f"{name}: {_short(raw)} is unknown")
        return check.values[key]
    if raw is None:
        return None
    match check.type:
        case "bool":
            if isinstance(raw, bool):
                return raw
        case "int":
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
        case "float":
            if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
                return float(raw)
        case "str":
            if isinstance(raw, str):
                return raw[:MAX_TEXT_CHECK]
    raise MalformedPayload(
        Malformation.WRONG_TYPE, f"{name}: expected {check.type}, got {type(raw).__name__}"
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class TemplateError(ConfigError):
    """A template file that cannot be used; each problem names the file, line and field."""

    @classmethod
    def one(cls, file: str, message: str, line: int = 0, path: str = "") -> "TemplateError":
        return cls([ConfigProblem(file, line, path, message)])


def parse_templates(
    sources: dict[str, str], *, local: dict[str, str] | None = None
) -> dict[str, Template]:
    """Validate template YAML texts (file name → text). `local` are the operator's files: a
    local template of a shipped template's name replaces it; a name used twice in one set is
    refused."""
    return _parse_files(sources) | _parse_files(local or {})


def _parse_files(sources: dict[str, str]) -> dict[str, Template]:
    found: dict[str, tuple[Template, str]] = {}
    for file, text in sorted(sources.items()):
        try:
            parsed = parse_yaml(file, text)
            template = parsed.validate(Template)
        except ConfigError as err:
            raise TemplateError(err.problems) from err
        if template.name in found:
            other = found[template.name][1]
            raise TemplateError.one(
                file,
                f"duplicate template name {template.name!r} (also in {other})",
                parsed.lines.get(("name",), 1),
                "name",
            )
        found[template.name] = (template, file)
    return {name: template for name, (template, _file) in found.items()}


@cache
def builtin_templates() -> dict[str, Template]:
    """The templates shipped in `templates/*.yaml`, read once."""
    folder = resources.files(__package__).joinpath("templates")
    texts = {
        f"templates/{entry.name}": entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }
    return parse_templates(texts)


@cache
def load_templates(templates_dir: Path | None = None) -> dict[str, Template]:
    """The shipped templates plus the operator's (`agent.mqtt_templates_dir`, every *.yaml in
    it), read once per process; TemplateError names the file, line and field of a bad one."""
    if templates_dir is None:
        return builtin_templates()
    if not templates_dir.is_dir():
        raise TemplateError.one(str(templates_dir), "mqtt_templates_dir is not a directory")
    local: dict[str, str] = {}
    for path in sorted(templates_dir.glob("*.yaml")):
        try:
            local[str(path)] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise TemplateError.one(str(path), f"cannot read: {err}") from err
    return builtin_templates() | parse_templates({}, local=local)


def template_names() -> list[str]:
    return sorted(builtin_templates())


def template(name: str) -> Template:
    return builtin_templates()[name]
