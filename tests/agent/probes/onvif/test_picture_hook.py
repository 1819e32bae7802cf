"""The probe's picture hook on ffmpeg-rendered frames: check values on every snapshot, an event
only when the verdict changes, the camera's own thresholds, the baseline kept per camera."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.probes.onvif.baseline import BaselineStore
from agent.probes.onvif.image import inspect
from agent.probes.onvif.picture_hook import IMAGE_ABNORMAL, PictureHealth
from agent.probes.onvif.probe import PictureReading, Snapshot
from peers.devices import make_device
from peers.picture.frames import needs_ffmpeg, render

pytestmark = [pytest.mark.ffmpeg, needs_ffmpeg]


def camera(**onvif: Any) -> Any:
    return make_device(protocol="onvif", port=80, onvif=onvif)


def judge(hook: PictureHealth, device: Any, jpeg: bytes) -> PictureReading:
    snapshot = Snapshot(data=jpeg, image=inspect(jpeg), taken_at=datetime.now(UTC), streaming=True)
    return hook(device, snapshot)


def test_event_only_when_the_verdict_changes(tmp_path: Path) -> None:
    normal = render("testsrc2", tmp_path / "n", frames=4)
    black = render("black", tmp_path / "b", frames=2)
    hook = PictureHealth(BaselineStore(tmp_path / "picture"))
    device = camera()
    readings = [judge(hook, device, jpeg) for jpeg in (normal[0], normal[1], *black, normal[2])]
    verdicts = [r.checks["camera.image_abnormal"] for r in readings]
    assert verdicts == [False, False, True, True, False]
    assert all(r.checks["picture.ok"] is True for r in readings)
    events = [[e.data for e in r.events if e.kind == IMAGE_ABNORMAL] for r in readings]
    assert events[:2] == [[], []]
    assert len(events[2]) == 1
    evidence = events[2][0].pop("evidence")
    assert events[2] == [{"active": True, "reasons": ["black"], "source": "snapshot"}]
    assert set(evidence) == {"black"}
    assert evidence["black"]["dark_fraction"] > 0.95
    assert readings[2].checks["camera.image_abnormal.evidence"] == (
        "black: " + " ".join(f"{k}={v:g}" for k, v in evidence["black"].items())
    )
    assert events[3] == []  # still black: no new event
    assert events[4] == [{"active": False, "reasons": ["black"], "source": "snapshot"}]
    assert (tmp_path / "picture" / f"{device.id}.picture.json").exists()


def test_thresholds_come_from_the_cameras_picture_block(tmp_path: Path) -> None:
    """A dark scene that is black by the default threshold is not for a camera told that
    only an all-dark frame is black (e.g. a camera on an unlit car park at night)."""
    (jpeg,) = render("black", tmp_path / "b", frames=1)
    store = BaselineStore(tmp_path / "picture")
    default = judge(PictureHealth(store), camera(), jpeg)
    lenient = judge(PictureHealth(store), camera(picture={"dark_level": 0}), jpeg)
    assert default.checks["camera.image_abnormal"] is True
    assert "black" not in str(lenient.checks["camera.image_abnormal.reasons"])


def test_read_only_store_judges_but_writes_nothing(tmp_path: Path) -> None:
    (jpeg,) = render("testsrc2", tmp_path / "n", frames=1)
    hook = PictureHealth(BaselineStore(tmp_path / "picture", read_only=True))
    reading = judge(hook, camera(), jpeg)
    assert reading.checks["picture.ok"] is True
    assert not (tmp_path / "picture").exists()
