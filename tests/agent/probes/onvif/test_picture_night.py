"""Night brightness as a check of its own: a snapshot judged in the IR mode reports its mean
luma as `picture.night_luma_mean`, a day snapshot leaves it empty, so a trend over the check
compares nights with nights."""

from pathlib import Path

from agent.probes.onvif.baseline import BaselineStore
from agent.probes.onvif.picture import Mode, PictureOptions
from peers.picture.scenes import Camera, Kind

OPTIONS = PictureOptions()
DEVICE = "cam-1"


def test_night_brightness_is_reported_only_in_the_ir_mode(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path, read_only=True)
    camera = Camera(Kind.OUTDOOR, seed=1)
    day = store.observe(DEVICE, camera.snapshot(0), OPTIONS)
    night = store.observe(DEVICE, camera.snapshot(1, ir=True), OPTIONS)

    assert (day.mode, night.mode) == (Mode.DAY, Mode.IR)
    assert day.checks()["picture.night_luma_mean"] is None
    assert night.checks()["picture.night_luma_mean"] == round(night.luma_mean, 2)
    assert night.checks()["picture.luma_mean"] == round(night.luma_mean, 2)


def test_the_cameras_own_ir_state_decides_the_mode(tmp_path: Path) -> None:
    """Street lights through an IR-cut filter that is already out: colour, yet night."""
    store = BaselineStore(tmp_path, read_only=True)
    jpeg = Camera(Kind.NIGHT_COLOUR, seed=1).snapshot(0)
    told = store.observe(DEVICE, jpeg, OPTIONS, ir_active=True)

    assert told.saturation > OPTIONS.grey_saturation_max
    assert told.checks()["picture.night_luma_mean"] == round(told.luma_mean, 2)
