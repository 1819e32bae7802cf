"""The `mqtt:` block of a device in the agent config (kept here so `agent.config` stays small)."""

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from agent.probes.mqtt.mapping import template_names

DEFAULT_MQTT_PORT = 1883


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
    max_payload_bytes: int = Field(default=64 * 1024, ge=64, le=16 * 1024 * 1024)
    keepalive: int = Field(default=30, ge=5, le=3600)

    @field_validator("template")
    @classmethod
    def _known_template(cls, name: str) -> str:
        names = template_names()
        if name not in names:
            raise PydanticCustomError(
                "mqtt_template", "unknown template; known: {known}", {"known": ", ".join(names)}
            )
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
