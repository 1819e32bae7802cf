"""What every probe promises: one `poll` per device per interval, library errors translated into
a few domain failures so that unreachable and auth-failed become different faults."""

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from agent.config import DeviceConfig
from wire.enums import ProbeErrorCode
from wire.schema import CheckValue, DeviceIdentity, Event


@dataclass(frozen=True)
class ProbeResult:
    """What one successful poll learned; the scheduler turns it into one Sample."""

    checks: dict[str, CheckValue] = field(default_factory=dict)
    latency_ms: float | None = None
    events: list[Event] = field(default_factory=list)
    identity: DeviceIdentity | None = None
    # The device answered, but nothing beyond reachability was read: why (see Sample).
    unmonitored: str | None = None


class ProbeFailure(Exception):  # noqa: N818 - the domain word; subclasses name the cause
    """A poll that did not give a result; `code` becomes the sample's error code.

    `reachable` says whether the device answered at all: an auth failure or garbage still means the
    network path works, and the server must not open an unreachable fault for it.
    """

    code: ClassVar[ProbeErrorCode] = ProbeErrorCode.PROTOCOL_ERROR
    reachable: ClassVar[bool] = True


class DeviceUnreachable(ProbeFailure):
    code = ProbeErrorCode.UNREACHABLE
    reachable = False


class AuthFailed(ProbeFailure):
    code = ProbeErrorCode.AUTH_FAILED


class ProtocolError(ProbeFailure):
    code = ProbeErrorCode.PROTOCOL_ERROR


class Unsupported(ProbeFailure):
    code = ProbeErrorCode.UNSUPPORTED


class Probe(Protocol):
    """Polls one device once; raises a ProbeFailure subclass when it cannot."""

    async def poll(self, device: DeviceConfig) -> ProbeResult: ...
