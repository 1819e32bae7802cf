"""The inspection checklist as data: the shipped template and a contract's changes to it.

The shipped template (`template.yaml`) lists the seed's four areas; a contract's file changes it:

    cycle: quarterly          # monthly (default), quarterly or weekly: the maintenance-cycle table
    due_days: 15              # days after the cycle starts that the inspection is due
    drop: [cabling.shielding]
    reword: {central.playback: {zh-CN: 回放清晰度 抽查3路, en: Playback clarity (3 channels)}}
    add:
      - id: custom.gate_barrier
        area: frontend
        classes: [sensor]
        text: {zh-CN: 道闸, en: Gate barrier}

Read and validated at load; every error names the file, the line and the field. Pure apart
from reading the files.
"""

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from configfile import ConfigError, ConfigProblem, YamlFile, parse_yaml, read_yaml
from server.faults.rules import FaultCode
from wire.enums import DeviceClass


class Area(StrEnum):
    """The seed's four areas of the monthly inspection (§4.2)."""

    FRONTEND = "frontend"
    CABLING = "cabling"
    CENTRAL = "central"
    SYSTEM = "system"


class Cycle(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    zh_cn: str = Field(alias="zh-CN", min_length=1)
    en: str = Field(min_length=1)


class Availability(BaseModel):
    """Pass when the device was up at least `min_percent` of the time telemetry knows about."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["availability"]
    min_percent: float = Field(ge=0, le=100)


class NoOpenFault(BaseModel):
    """Fail when a fault of these codes is still open at the end of the period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["no_open_fault"]
    codes: tuple[FaultCode, ...] = Field(min_length=1)


class Reading(BaseModel):
    """A numeric check against bounds: the period's extremes where daily rollups hold the check,
    else the device's latest reading inside the period (`max_abs` bounds the absolute value).
    A `*` in `check` matches any run of characters (every PSE of a PoE switch); the worst of
    the matching checks decides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["reading"]
    check: str = Field(min_length=1, max_length=200)
    min: float | None = None
    max: float | None = None
    max_abs: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> "Reading":
        if self.min is None and self.max is None and self.max_abs is None:
            raise ValueError("give at least one of min, max, max_abs")
        return self


class Snapshots(BaseModel):
    """A camera's share of snapshots the agent judged a good picture (`picture.ok`), from the
    daily rollups: fail below `min_percent`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["snapshots"]
    min_percent: float = Field(ge=0, le=100)


class Tickets(BaseModel):
    """Site level: fail while a ticket of the site opened before the period's end is unfinished."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["tickets"]


Evidence = Annotated[
    Availability | NoOpenFault | Reading | Snapshots | Tickets, Field(discriminator="rule")
]
ITEM_ID = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"


class Item(BaseModel):
    """One line of the checklist; no classes means one site-level row, else one per device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ITEM_ID, max_length=64)
    area: Area
    classes: tuple[DeviceClass, ...] = ()
    evidence: Evidence | None = None
    text: Text

    @model_validator(mode="after")
    def _tickets_are_site_level(self) -> "Item":
        if isinstance(self.evidence, Tickets) and self.classes:
            raise ValueError("the tickets rule answers a site-level item: give it no classes")
        return self


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cycle: Cycle = Cycle.MONTHLY
    due_days: int = Field(default=10, ge=0, le=90)
    items: tuple[Item, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Template":
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"item id {item.id} appears twice")
            seen.add(item.id)
        return self

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)


class ContractChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cycle: Cycle | None = None
    due_days: int | None = Field(default=None, ge=0, le=90)
    drop: tuple[str, ...] = ()
    reword: dict[str, Text] = {}
    add: tuple[Item, ...] = ()


def shipped_template() -> Template:
    """The template in the package; a broken shipped file is a bug, raised as ConfigError."""
    text = resources.files("server.inspections").joinpath("template.yaml").read_text("utf-8")
    return parse_yaml("server/inspections/template.yaml", text).validate(Template)


def apply_changes(base: Template, file: YamlFile) -> Template:
    """`base` changed by a contract's file; ConfigError naming the line of each bad field."""
    changes = file.validate(ContractChanges)
    known = {i.id for i in base.items}
    file.fail(
        [
            (("drop", n), f"unknown item id {v}")
            for n, v in enumerate(changes.drop)
            if v not in known
        ]
        + [(("reword", k), f"unknown item id {k}") for k in changes.reword if k not in known]
        + [
            (("add", n, "id"), f"item id {item.id} already exists")
            for n, item in enumerate(changes.add)
            if item.id in known
        ]
    )
    items = [
        item.model_copy(update={"text": changes.reword.get(item.id, item.text)})
        for item in base.items
        if item.id not in changes.drop
    ]
    items.extend(changes.add)
    if not items:
        raise ConfigError([file.problem(("drop",), "the contract drops every item")])
    return Template(
        cycle=changes.cycle or base.cycle,
        due_days=base.due_days if changes.due_days is None else changes.due_days,
        items=tuple(items),
    )


def load_contract_template(path: Path, base: Template | None = None) -> Template:
    """The shipped template (or `base`) with a contract file's changes."""
    return apply_changes(base or shipped_template(), read_yaml(path))


class Contracts:
    """The shipped template and each client's contract template, by client name."""

    def __init__(self, base: Template, by_client: dict[str, Template] | None = None) -> None:
        self.base = base
        self.by_client = dict(by_client or {})

    def for_client(self, client_name: str) -> Template:
        return self.by_client.get(client_name, self.base)


def load_contracts(directory: Path | None) -> Contracts:
    """Every `<client name>.yaml` in `directory` applied to the shipped template; all files are
    read and every problem of every file reported together."""
    base = shipped_template()
    if directory is None:
        return Contracts(base)
    if not directory.is_dir():
        raise ConfigError([ConfigProblem(str(directory), 0, "", "not a directory")])
    found: dict[str, Template] = {}
    problems: list[ConfigProblem] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            found[path.stem] = load_contract_template(path, base)
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    return Contracts(base, found)
