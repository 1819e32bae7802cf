"""Agent config: one YAML file, validated once at start; every error names file, line and field.

Relative paths in the file (outbox, secret files) are relative to the file's own directory, so a
config and its secrets can move together.
"""

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agent.probes.mqtt.mapping import load_templates
from agent.probes.mqtt.options import MqttOptions, check_mqtt_block
from agent.probes.onvif.options import OnvifOptions, check_onvif_block
from agent.probes.snmp_options import SnmpOptions
from agent.probes.snmp_profiles import load_profiles
from configfile import ConfigError as ConfigError
from configfile import ConfigProblem as ConfigProblem
from configfile import FieldPath, read_yaml
from wire.enums import DeviceClass, ProbeKind, Subsystem
from wire.schema import DeviceId

MIN_INTERVAL_S = 5.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Values copied from an example or a template instead of the real secret: refused at start
# rather than sent to a server or a device. Compared lower-case with punctuation removed.
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "changeit",
        "replaceme",
        "placeholder",
        "secret",
        "password",
        "token",
        "yoursecret",
        "yourpassword",
        "yourtoken",
        "yourtokenhere",
        "insertyourtokenhere",
        "todo",
        "fixme",
        "xxx",
        "xxxx",
        "xxxxxxxx",
    }
)
# Group and other permission bits: a secret file with any of them set is refused by `agent run`.
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_TEMPLATE_SECRET = re.compile(r"^(<[^<>]*>|\$\{[^{}]*\}|\{\{.*\}\}|%[A-Za-z_]+%)$")


def is_placeholder(value: str) -> bool:
    """True for "changeme", "CHANGE_ME", "<token>", "${TOKEN}", "{{ token }}" and the like."""
    if _TEMPLATE_SECRET.match(value.strip()):
        return True
    return re.sub(r"[^a-z0-9]", "", value.lower()) in PLACEHOLDER_SECRETS


class SecretRef(_Model):
    """A secret named by reference (environment variable or file), resolved once at start."""

    env: str | None = Field(default=None, min_length=1)
    file: Path | None = None
    _value: SecretStr = PrivateAttr(default=SecretStr(""))

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> "SecretRef":
        if (self.env is None) == (self.file is None):
            raise PydanticCustomError("secret_ref", "give exactly one of env: or file:")
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise PydanticCustomError(
                    "secret_ref", "environment variable {name} is not set", {"name": self.env}
                )
        else:
            assert self.file is not None
            base = (info.context or {}).get("base_dir", Path.cwd())
            path = self.file if self.file.is_absolute() else Path(base) / self.file
            try:
                value = path.read_text(encoding="utf-8").strip()
                mode = path.stat().st_mode
            except OSError as err:
                raise PydanticCustomError(
                    "secret_ref",
                    "cannot read secret file {path}: {reason}",
                    {"path": str(path), "reason": err.strerror or type(err).__name__},
                ) from err
            if (info.context or {}).get("private_secrets") and mode & _OTHERS:
                raise PydanticCustomError(
                    "secret_ref",
                    "secret file {path} is open to other users (mode {mode}): "
                    "run `chmod 600 {path}`",
                    {"path": str(path), "mode": f"{stat.S_IMODE(mode):04o}"},
                )
        if not value.strip():
            raise PydanticCustomError("secret_ref", "the referenced secret is empty")
        if is_placeholder(value):
            raise PydanticCustomError(
                "secret_ref",
                "the referenced secret is a placeholder, not a real secret: set the real value",
            )
        self._value = SecretStr(value)
        return self

    def reveal(self) -> str:
        return self._value.get_secret_value()


SnmpOptions.model_rebuild(_types_namespace={"SecretRef": SecretRef})


class ServerConfig(_Model):
    url: str = Field(description="Base URL of the secmon server, e.g. https://secmon.example.com")
    token: SecretRef
    timeout: float = Field(default=10.0, gt=0, le=300, description="Deadline of each HTTP call, s")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")) or len(url) < 10:
            raise PydanticCustomError("url", "must be an http:// or https:// URL")
        return url.rstrip("/")


class AgentSettings(_Model):
    outbox_path: Path = Path("secmon-outbox.sqlite")
    state_dir: Path | None = Field(
        default=None,
        description="What the agent learns across restarts (picture baselines); default: "
        "the outbox's directory",
    )
    outbox_max_bytes: int = Field(default=256 * 1024 * 1024, ge=64 * 1024)
    concurrency: int = Field(default=32, ge=1, le=1024)
    metrics_listen: str = Field(default="", description="host:port for /metrics; empty: off")
    batch_size: int = Field(default=500, ge=1, le=5000)
    batch_max_age: float = Field(default=5.0, gt=0, le=3600)
    # Failed pushes are retried after a random wait up to this long (full jitter), so a fleet of
    # agents does not hit a server coming back all at once.
    push_backoff_max: float = Field(default=60.0, ge=1, le=3600)
    snmp_trap_listen: str = Field(
        default="", description="host:port (UDP) for SNMP traps and informs; empty: off"
    )
    profiles_dir: Path | None = Field(
        default=None,
        description="The operator's SNMP profiles (*.yaml), read beside the shipped ones; "
        "a local profile of a shipped profile's name replaces it",
    )
    mqtt_templates_dir: Path | None = Field(
        default=None,
        description="The operator's MQTT payload templates (*.yaml), read beside the shipped "
        "ones; a local template of a shipped template's name replaces it",
    )

    @field_validator("metrics_listen", "snmp_trap_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise PydanticCustomError("listen", "must be host:port, e.g. 127.0.0.1:9108")
        return value

    def metrics_address(self) -> tuple[str, int] | None:
        return _address(self.metrics_listen)

    def trap_address(self) -> tuple[str, int] | None:
        return _address(self.snmp_trap_listen)

    def state_path(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.outbox_path.parent


def _address(listen: str) -> tuple[str, int] | None:
    """(host, port) of a validated host:port, or None when empty (off)."""
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class Credentials(_Model):
    username: str | None = None
    password: SecretRef | None = None


class DeviceConfig(_Model):
    """One device; field order matters: validators of port/timeout read protocol/interval."""

    id: DeviceId
    name: str = Field(min_length=1, max_length=200)
    device_class: DeviceClass = Field(alias="class")
    subsystem: Subsystem
    protocol: ProbeKind
    address: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)
    credentials: Credentials = Field(default_factory=Credentials)
    interval: float = 60.0
    timeout: float = 5.0
    parent: DeviceId | None = None
    mqtt: MqttOptions | None = Field(default=None, validate_default=True)
    snmp: SnmpOptions | None = None
    onvif: OnvifOptions | None = None

    @field_validator("mqtt")
    @classmethod
    def _mqtt_block(cls, mqtt: MqttOptions | None, info: ValidationInfo) -> MqttOptions | None:
        return check_mqtt_block(mqtt, info.data.get("protocol"))

    @field_validator("onvif")
    @classmethod
    def _onvif_block(cls, onvif: OnvifOptions | None, info: ValidationInfo) -> OnvifOptions | None:
        return check_onvif_block(onvif, info.data.get("protocol"))

    @field_validator("interval")
    @classmethod
    def _interval_floor(cls, interval: float) -> float:
        if interval < MIN_INTERVAL_S:
            raise PydanticCustomError("interval", "must be ≥ 5 s")
        return interval

    @field_validator("timeout")
    @classmethod
    def _timeout_below_interval(cls, timeout: float, info: ValidationInfo) -> float:
        if timeout <= 0:
            raise PydanticCustomError("timeout", "must be > 0 s")
        interval = info.data.get("interval")
        if interval is not None and timeout >= interval:
            raise PydanticCustomError(
                "timeout", "must be < interval ({interval} s)", {"interval": interval}
            )
        return timeout

    @field_validator("port")
    @classmethod
    def _port_for_tcp(cls, port: int | None, info: ValidationInfo) -> int | None:
        if port is None and info.data.get("protocol") == ProbeKind.TCP:
            raise PydanticCustomError("port", "is required for protocol tcp")
        return port


class AgentConfig(_Model):
    site: DeviceId = Field(description="Site id, as registered on the server")
    server: ServerConfig
    agent: AgentSettings = Field(default_factory=AgentSettings)
    devices: list[DeviceConfig] = Field(default_factory=list)


def load_config(path: Path, *, private_secrets: bool = False) -> AgentConfig:
    """Read, validate and resolve the config at `path`, or raise ConfigError naming each problem.

    With `private_secrets`, a secret file other users may read is refused (what a running agent
    asks for; `agent check` on a workstation does not)."""
    base_dir = path.resolve().parent
    file = read_yaml(path)
    context = {"base_dir": base_dir, "private_secrets": private_secrets}
    config = file.validate(AgentConfig, context=context)
    file.fail(_cross_checks(config))
    paths = {
        "outbox_path": config.agent.outbox_path,
        "state_dir": config.agent.state_dir,
        "profiles_dir": config.agent.profiles_dir,
        "mqtt_templates_dir": config.agent.mqtt_templates_dir,
    }
    relative = {k: base_dir / p for k, p in paths.items() if p is not None and not p.is_absolute()}
    if relative:
        config = config.model_copy(update={"agent": config.agent.model_copy(update=relative)})
    profiles = load_profiles(config.agent.profiles_dir)  # ProfileError: the profile's file:line
    file.fail(_unknown_profiles(config, frozenset(profiles.profiles)))
    templates = load_templates(config.agent.mqtt_templates_dir)  # TemplateError: file:line
    file.fail(_unknown_templates(config, frozenset(templates)))
    return config


def _unknown_templates(
    config: AgentConfig, known: frozenset[str]
) -> Iterator[tuple[FieldPath, str]]:
    """An MQTT device naming a template that neither ships nor is in `mqtt_templates_dir`."""
    for i, device in enumerate(config.devices):
        if device.mqtt is not None and device.mqtt.template not in known:
            yield (
                ("devices", i, "mqtt", "template"),
                f"unknown template; known: {', '.join(sorted(known))}",
            )


def _unknown_profiles(
    config: AgentConfig, known: frozenset[str]
) -> Iterator[tuple[FieldPath, str]]:
    """A device naming a profile that neither ships nor is in `agent.profiles_dir`."""
    for i, device in enumerate(config.devices):
        named = device.snmp.profile if device.snmp is not None else None
        if named is not None and named not in known:
            yield (
                ("devices", i, "snmp", "profile"),
                f"unknown profile {named!r} (known: {', '.join(sorted(known))})",
            )


def _cross_checks(config: AgentConfig) -> Iterator[tuple[FieldPath, str]]:
    """Rules across devices: unique ids, parents that exist and are not the device itself."""
    first_index: dict[str, int] = {}
    for i, device in enumerate(config.devices):
        if device.id in first_index:
            yield (
                ("devices", i, "id"),
                (f"duplicate device id {device.id!r} (also devices[{first_index[device.id]}])"),
            )
        else:
            first_index[device.id] = i
    for i, device in enumerate(config.devices):
        if device.parent is None:
            continue
        if device.parent == device.id:
            yield ("devices", i, "parent"), "a device cannot be its own parent"
        elif device.parent not in first_index:
            yield ("devices", i, "parent"), f"unknown device {device.parent!r}"
