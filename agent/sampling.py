"""One poll of one device → exactly one Sample, whatever the probe did (answered, failed, hung,
raised something unexpected or returned garbage). A broken device never crashes the agent."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from agent.config import DeviceConfig
from agent.probes.base import Probe, ProbeFailure, ProbeResult
from wire.enums import ProbeErrorCode
from wire.ids import uuid7
from wire.schema import MAX_CHECK_TEXT, DeviceIdentity, ProbeError, Sample
from wire.validation import clean_text

log = logging.getLogger(__name__)

MAX_MESSAGE = 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Poll:
    """A finished poll: the sample to store, what the device said about itself, how long it took."""

    sample: Sample
    identity: DeviceIdentity | None
    duration_s: float


async def poll_device(
    probe: Probe,
    device: DeviceConfig,
    *,
    now: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
) -> Poll:
    """Run the probe under the device's deadline and turn any outcome into one Sample."""
    ts = now()
    started = monotonic()
    identity: DeviceIdentity | None = None
    try:
        async with asyncio.timeout(device.timeout):
            result = await probe.poll(device)
        sample, identity = _from_result(device, ts, probe, result)
    except TimeoutError:
        sample = _failure(
            device, ts, ProbeErrorCode.TIMEOUT, False, f"no answer within {device.timeout:g} s"
        )
    except ProbeFailure as failure:
        sample = _failure(device, ts, failure.code, failure.reachable, str(failure))
    except Exception as err:  # a probe bug or a library surprise: an error sample, not a crash
        log.debug("probe raised for %s", device.id, exc_info=True, extra={"device": device.id})
        sample = _failure(
            device, ts, ProbeErrorCode.PROTOCOL_ERROR, True, f"{type(err).__name__}: {err}"
        )
    return Poll(sample=sample, identity=identity, duration_s=max(0.0, monotonic() - started))


def _from_result(
    device: DeviceConfig, ts: datetime, probe: Probe, result: object
) -> tuple[Sample, DeviceIdentity | None]:
    if not isinstance(result, ProbeResult):
        message = f"{type(probe).__name__} returned {type(result).__name__}, not a ProbeResult"
        return _failure(device, ts, ProbeErrorCode.PROTOCOL_ERROR, True, message), None
    try:
        sample = Sample(
            id=uuid7(),
            device_id=device.id,
            ts=ts,
            probe=device.protocol,
            reachable=True,
            latency_ms=result.latency_ms,
            # What firmware says is cleaned, not refused: a NUL in a model string must not turn
            # every poll of the device into an error, nor poison a batch on the server.
            checks={
                name: clean_text(value, limit=MAX_CHECK_TEXT) if isinstance(value, str) else value
                for name, value in result.checks.items()
            },
            events=result.events,
            unmonitored=result.unmonitored,
        )
        identity = (
            result.identity
            if result.identity is None
            else DeviceIdentity.model_validate(result.identity.model_dump())
        )
    except ValidationError as err:
        message = f"invalid probe data: {err.errors(include_url=False)[0]['msg']}"
        return _failure(device, ts, ProbeErrorCode.PROTOCOL_ERROR, True, message), None
    return sample, identity


def _failure(
    device: DeviceConfig, ts: datetime, code: ProbeErrorCode, reachable: bool, message: str
) -> Sample:
    return Sample(
        id=uuid7(),
        device_id=device.id,
        ts=ts,
        probe=device.protocol,
        reachable=reachable,
        error=ProbeError(code=code, message=clean_text(message, limit=MAX_MESSAGE)),
    )
