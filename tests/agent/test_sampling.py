"""Whatever a probe does, one poll gives exactly one well-formed Sample."""

import asyncio
from typing import Any

import pytest

from agent.config import DeviceConfig
from agent.probes.base import AuthFailed, DeviceUnreachable, ProbeResult, Unsupported
from agent.sampling import poll_device
from peers.devices import make_device
from wire.enums import ProbeErrorCode
from wire.schema import DeviceIdentity


class Returns:
    def __init__(self, value: Any) -> None:
        self.value = value

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        return self.value  # type: ignore[no-any-return]  # garbage on purpose in some tests


class Raises:
    def __init__(self, err: BaseException) -> None:
        self.err = err

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        raise self.err


class Hangs:
    async def poll(self, device: DeviceConfig) -> ProbeResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_result_becomes_reachable_sample_with_identity() -> None:
    identity = DeviceIdentity(vendor="Hikvision", model="DS-2CD2143")
    probe = Returns(ProbeResult(checks={"stream.ok": True}, latency_ms=3.2, identity=identity))
    poll = await poll_device(probe, make_device())
    sample = poll.sample
    assert (sample.reachable, sample.error, sample.latency_ms) == (True, None, 3.2)
    assert sample.checks == {"stream.ok": True}
    assert sample.device_id == "cam-01"
    assert sample.ts.tzinfo is not None
    assert sample.id.version == 7
    assert poll.identity == identity


@pytest.mark.parametrize(
    ("err", "code", "reachable"),
    [
        (DeviceUnreachable("refused"), ProbeErrorCode.UNREACHABLE, False),
        (AuthFailed("401"), ProbeErrorCode.AUTH_FAILED, True),
        (Unsupported("no PTZ"), ProbeErrorCode.UNSUPPORTED, True),
        (ValueError("bad XML"), ProbeErrorCode.PROTOCOL_ERROR, True),
        (KeyError("Model"), ProbeErrorCode.PROTOCOL_ERROR, True),
    ],
)
async def test_failures_map_to_error_codes(
    err: Exception, code: ProbeErrorCode, reachable: bool
) -> None:
    sample = (await poll_device(Raises(err), make_device())).sample
    assert sample.error is not None
    assert (sample.error.code, sample.reachable) == (code, reachable)
    assert sample.checks == {}


async def test_probe_that_hangs_is_cut_at_the_device_timeout() -> None:
    sample = (await poll_device(Hangs(), make_device(timeout=0.05))).sample
    assert sample.error is not None
    assert sample.error.code is ProbeErrorCode.TIMEOUT
    assert not sample.reachable


@pytest.mark.parametrize(
    "garbage",
    [
        "not a result",
        None,
        ProbeResult(checks={"Bad Name!": 1}),
        ProbeResult(checks={"ok": object()}),  # type: ignore[dict-item]
        ProbeResult(latency_ms=-5.0),
    ],
)
async def test_garbage_from_probe_is_a_protocol_error_sample(garbage: object) -> None:
    sample = (await poll_device(Returns(garbage), make_device())).sample
    assert sample.error is not None
    assert sample.error.code is ProbeErrorCode.PROTOCOL_ERROR


async def test_cancellation_is_not_swallowed() -> None:
    task = asyncio.create_task(poll_device(Hangs(), make_device(timeout=4)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
