"""The shipped camera rules read the check names the ONVIF probe really emits."""

from datetime import UTC, datetime

from agent.probes.onvif.picture_hook import IMAGE_ABNORMAL
from server.faults.defaults import default_rules
from server.faults.rules import Observation, condition_result
from wire.schema import CheckValue

TS = datetime(2026, 11, 23, tzinfo=UTC)


def _verdicts(device_class: str, checks: dict[str, CheckValue]) -> dict[str, bool | None]:
    obs = Observation(ts=TS, reachable=True, error_code=None, checks=checks)
    return {
        rule.code: condition_result(rule.condition, obs)
        for rule in default_rules().for_class(device_class)
        if rule.condition is not None
    }


def test_picture_clock_and_recording_checks_open_their_faults() -> None:
    camera = _verdicts("camera", {IMAGE_ABNORMAL: True, "camera.clock_drift": True})
    assert camera["camera.image_abnormal"] is True
    assert camera["camera.clock_drift"] is True
    fine = _verdicts("camera", {IMAGE_ABNORMAL: False, "camera.clock_drift": False})
    assert fine["camera.image_abnormal"] is False
    assert fine["camera.clock_drift"] is False
    nvr = _verdicts("nvr", {"recording.ok": False})
    assert nvr["storage.recording_stopped"] is True
    # a poll without a snapshot says nothing about the picture
    assert _verdicts("camera", {})["camera.image_abnormal"] is None
