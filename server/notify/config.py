"""The notify config file: contacts and their Apprise channels, teams and rotas, client chains.

YAML or JSON (YAML is a superset), validated once with pydantic; errors name the file and field.

    contacts:
      alice: {name: Alice Wang, channels: {email: "mailtos://...", wecom: "env:ALICE_WECOM"}}
      carol: {channels: {email: "mailto://..."}}
      erin: {channels: {sms: "..."}, language: zh-CN}   # a client contact reads Chinese
    teams:
      north:
        members: [alice, bob]          # round-robin order
        sites: [1, 2]                  # site ids served by this team
        rota: {members: [bob, alice], start: 2026-01-05, handover: "08:30",
               shift_days: 7, timezone: Asia/Shanghai,
               overrides: [{start: ..., end: ..., member: alice}]}
    clients:
      7: {managers: [carol], directors: [dave], client_contacts: [erin],
          escalation: {near_fraction: 0.9}}
    defaults: {managers: [carol]}      # chain of clients not listed
    escalation: {...}                  # default rules (see EscalationRules)
    public_url: https://service.example.com   # start of the client's sign-off/survey links
    delivery: {max_attempts: 8, backoff_base_seconds: 30, ...}

A channel value `env:NAME` is read from the environment at delivery time, so secrets need not
sit in the file.
"""

from __future__ import annotations

import functools
import os
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from configfile import ConfigError, read_yaml
from server.notify.rota import OnCallRota, RotaOverride
from server.sla import Severity, SlaClock


class NotifyConfigError(ValueError):
    """The notify config is malformed, or names a contact or channel that does not exist."""


class Role(StrEnum):
    """Who a stage of the escalation chain reaches."""

    TECHNICIAN = "technician"  # the ticket's assignee (the on-call member while unassigned)
    ON_CALL = "on_call"  # the site team's on-call member now
    MANAGER = "manager"  # 部门负责人 / service manager
    DIRECTOR = "director"  # senior management (major faults, long breaches)
    CLIENT = "client"  # the client's contacts (acknowledgement, result)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Model):
    name: str = ""
    channels: dict[str, str] = Field(min_length=1)
    # The language of the notices a client contact reads (en or zh-CN).
    language: Literal["en", "zh-CN"] = "en"

    @model_validator(mode="after")
    def _channel_names(self) -> Self:
        for channel, url in self.channels.items():
            if not channel or len(channel) > 64:
                raise ValueError(f"channel name {channel!r} must be 1..64 characters")
            if not url.strip():
                raise ValueError(f"channel {channel!r} has an empty URL")
        return self


class RotaOverrideConfig(_Model):
    start: AwareDatetime
    end: AwareDatetime
    member: str


class RotaConfig(_Model):
    members: list[str] = Field(min_length=1)
    start: date
    handover: time = time(8, 30)
    shift_days: int = Field(default=7, ge=1)
    timezone: str = "Asia/Shanghai"
    overrides: list[RotaOverrideConfig] = []

    def to_rota(self) -> OnCallRota:
        return OnCallRota(
            members=tuple(self.members),
            start=self.start,
            handover=self.handover,
            shift_days=self.shift_days,
            timezone=self.timezone,
            overrides=tuple(RotaOverride(o.start, o.end, o.member) for o in self.overrides),
        )


class Team(_Model):
    members: list[str] = Field(min_length=1)
    sites: list[int] = []
    rota: RotaConfig | None = None


def _default_on_open() -> dict[Severity, list[Role]]:
    # 004/A: every fault is reported to the department head at once (「必须立即向部门负责人汇报」),
    # general ones too; emergencies (000) also go to the engineers on call immediately.
    return {
        Severity.EMERGENCY: [Role.TECHNICIAN, Role.ON_CALL, Role.MANAGER],
        Severity.GENERAL: [Role.TECHNICIAN, Role.MANAGER],
    }


def _default_reroute_after() -> dict[Severity, float]:
    # Half the presets' respond targets (30 min emergency, 2 h general): the next person still
    # has time to answer within the deadline.
    return {Severity.EMERGENCY: 15.0, Severity.GENERAL: 60.0}


class EscalationRules(_Model):
    """Which roles hear about each stage of a ticket; stages fire once per ticket cycle."""

    near_fraction: float = Field(default=0.8, gt=0.0, le=1.0)
    long_breach_fraction: float = Field(default=2.0, gt=1.0)
    clocks: list[SlaClock] = [SlaClock.RESPOND, SlaClock.ON_SITE, SlaClock.RESOLVE]
    on_open: dict[Severity, list[Role]] = Field(default_factory=_default_on_open)
    on_acknowledge: list[Role] = [Role.CLIENT]
    # 003 方案5: tell the client the technician's name, contact and ETA at dispatch.
    on_dispatch: list[Role] = [Role.CLIENT]
    # 003: tell the client ahead of time when a deadline will slip.
    on_near_breach: list[Role] = [Role.TECHNICIAN, Role.ON_CALL, Role.CLIENT]
    on_breach: list[Role] = [Role.TECHNICIAN, Role.ON_CALL, Role.MANAGER]
    on_long_breach: list[Role] = [Role.DIRECTOR]
    # A ticket nobody has acted on for this many minutes (per severity; leave a severity out to
    # switch it off) goes to the next person of `reroute_chain`, and on after each further
    # period (004/A: 「如无法与部门负责人联系,具体接报人应及时赴现场处理」: nobody waits forever).
    reroute_after_minutes: dict[Severity, Annotated[float, Field(gt=0)]] = Field(
        default_factory=_default_reroute_after
    )
    reroute_chain: list[Role] = Field(
        default=[Role.TECHNICIAN, Role.ON_CALL, Role.MANAGER, Role.DIRECTOR], min_length=2
    )

    @model_validator(mode="after")
    def _chain_is_staff(self) -> Self:
        if Role.CLIENT in self.reroute_chain:
            raise ValueError("reroute_chain is staff only: the client cannot take a ticket")
        return self

    on_resolve: list[Role] = [Role.CLIENT]  # with the sign-off link
    on_close: list[Role] = [Role.CLIENT]  # with the satisfaction survey link


class ClientChain(_Model):
    managers: list[str] = []
    directors: list[str] = []
    client_contacts: list[str] = []
    escalation: EscalationRules | None = None

    def contacts_for(self, role: Role) -> list[str]:
        return {
            Role.MANAGER: self.managers,
            Role.DIRECTOR: self.directors,
            Role.CLIENT: self.client_contacts,
        }.get(role, [])


class DeliveryConfig(_Model):
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_seconds: float = Field(default=30.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    poll_seconds: float = Field(default=2.0, gt=0)
    concurrency: int = Field(default=8, ge=1)
    timeout_seconds: float = Field(default=30.0, gt=0)
    # A claimed row whose worker died is claimed again after this; must exceed timeout_seconds.
    lease_seconds: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _lease_covers_timeout(self) -> Self:
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError("lease_seconds must be longer than timeout_seconds")
        return self


class NotifyConfig(_Model):
    contacts: dict[str, Contact] = {}
    teams: dict[str, Team] = {}
    clients: dict[int, ClientChain] = {}
    defaults: ClientChain = ClientChain()
    escalation: EscalationRules = EscalationRules()
    delivery: DeliveryConfig = DeliveryConfig()
    # Where clients reach this server (https://service.example.com): the sign-off and survey
    # links in their notices start with it; empty, they are paths only.
    public_url: str = ""

    @model_validator(mode="after")
    def _references_exist(self) -> Self:
        def check(names: list[str], where: str) -> None:
            for name in names:
                if name not in self.contacts:
                    raise ValueError(f"{where} names unknown contact {name!r}")

        site_team: dict[int, str] = {}
        for team_name, team in self.teams.items():
            check(team.members, f"teams.{team_name}.members")
            if team.rota is not None:
                check(team.rota.members, f"teams.{team_name}.rota.members")
                check([o.member for o in team.rota.overrides], f"teams.{team_name}.rota.overrides")
            for site in team.sites:
                if site in site_team:
                    raise ValueError(f"site {site} is in teams {site_team[site]} and {team_name}")
                site_team[site] = team_name
        for key, chain in [("defaults", self.defaults)] + [
            (f"clients.{cid}", c) for cid, c in self.clients.items()
        ]:
            for role in (Role.MANAGER, Role.DIRECTOR, Role.CLIENT):
                check(chain.contacts_for(role), f"{key}.{role.value}")
        return self

    def team_for_site(self, site_id: int) -> tuple[str, Team] | None:
        for name, team in self.teams.items():
            if site_id in team.sites:
                return name, team
        return None

    def chain_for(self, client_id: int) -> ClientChain:
        return self.clients.get(client_id, self.defaults)

    def rules_for(self, client_id: int) -> EscalationRules:
        return self.chain_for(client_id).escalation or self.escalation

    def resolve_url(self, contact: str, channel: str) -> str:
        """The Apprise URL of a contact's channel; `env:NAME` values come from the environment."""
        found = self.contacts.get(contact)
        if found is None or channel not in found.channels:
            raise NotifyConfigError(f"no channel {channel!r} for contact {contact!r}")
        value = found.channels[channel]
        if value.startswith("env:"):
            name = value[4:]
            env = os.environ.get(name)
            if not env:
                raise NotifyConfigError(f"channel {contact}/{channel}: ${name} is not set")
            return env
        return value


def parse_notify_config(data: Any, *, source: str = "<config>") -> NotifyConfig:
    try:
        return NotifyConfig.model_validate(data or {})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()
        )
        raise NotifyConfigError(f"{source}: {problems}") from err


def load_notify_config(path: str | Path) -> NotifyConfig:
    """Read and validate a notify config file (YAML or JSON); errors name file, line and field."""
    try:
        file = read_yaml(Path(path), mapping=False)
        return file.validate(NotifyConfig, file.data or {})
    except ConfigError as err:
        raise NotifyConfigError(str(err)) from err


@functools.lru_cache(maxsize=8)
def _cached(path: str, _mtime_ns: int) -> NotifyConfig:
    return load_notify_config(path)


def load_notify_config_cached(path: str | Path) -> NotifyConfig:
    """`load_notify_config`, re-read only when the file's modification time changes."""
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError as err:
        raise NotifyConfigError(f"{path}: {err.strerror or err}") from err
    return _cached(str(path), mtime)
