"""The `mqtt:` block of a device in the agent config (kept here so `agent.config` stays small)."""

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

DEFAULT_MQTT_PORT = 1883


class MqttTls(BaseModel):
    """TLS to the broker: the CA that signed the broker's certificate (None: the system's) and,
    for brokers that require one, the agent's client certificate and key (PEM files). Relative
    paths are relative to the config file; each must be readable at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return None
        base = (info.context or {}).get("base_dir", Path.cwd())
        path = path if path.is_absolute() else Path(base) / path
        try:
            with path.open("rb"):
                pass
        except OSError as err:
            raise PydanticCustomError(
                "tls_file",
                "cannot read {path}: {reason}",
                {"path": str(path), "reason": err.strerror or type(err).__name__},
            ) from err
        return path

    @model_validator(mode="after")
    def _pair(self) -> "MqttTls":
        if self.key_file is not None and self.cert_file is None:
            raise PydanticCustomError("tls", "key_file needs cert_file")
        return self


class MqttOptions(BaseModel):
    """How to read one device from its broker; the broker is the device's address:port and the
    device's credentials, so devices with the same broker share one connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str = Field(description="Payload mapping, e.g. access_controller, tasmota")
    topic: str = Field(
        min_length=1, max_length=200, description="What replaces {topic} in the template"
    )
    silence_timeout: float | None = Field(
        default=None, gt=0, description="Unreachable after this long without any message, s"
    )
    report_interval: float | None = Field(
        default=None, gt=0, description="How often the device publishes on its own, s"
    )
    silence_intervals: float = Field(
        default=3, ge=1, le=1000, description="Unreachable after this many report intervals"
    )
    tls: MqttTls | None = None
    max_payload_bytes: int = Field(default=64 * 1024, ge=64, le=16 * 1024 * 1024)
    keepalive: int = Field(default=30, ge=5, le=3600)

    @model_validator(mode="after")
    def _one_silence_rule(self) -> "MqttOptions":
        if self.silence_timeout is not None and self.report_interval is not None:
            raise PydanticCustomError(
                "mqtt_silence", "give silence_timeout or report_interval, not both"
            )
        return self

    def silence_limit(self) -> float | None:
        """Silence after which a device without LWT counts as unreachable: the explicit timeout,
        or N x its reporting interval; None: silence alone never makes it unreachable."""
        if self.silence_timeout is not None:
            return self.silence_timeout
        if self.report_interval is not None:
            return self.report_interval * self.silence_intervals
        return None

    @field_validator("template")
    @classmethod
    def _template_name(cls, name: str) -> str:
        """A name a template file can carry; whether it exists (shipped or in
        agent.mqtt_templates_dir) is checked when the whole config is loaded."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise PydanticCustomError("mqtt_template", "not a template name")
        return name

    @field_validator("topic")
    @classmethod
    def _no_wildcards(cls, topic: str) -> str:
        if any(c in topic for c in "+#\0"):
            raise PydanticCustomError("mqtt_topic", "must not contain +, # or NUL")
        return topic


def check_mqtt_block(options: MqttOptions | None, protocol: object) -> MqttOptions | None:
    """An mqtt device needs the block; any other device must not carry one."""
    if protocol == "mqtt" and options is None:
        raise PydanticCustomError("mqtt", "is required for protocol mqtt")
    if protocol != "mqtt" and options is not None:
        raise PydanticCustomError("mqtt", "is only for protocol mqtt")
    return options
