"""Picture health on real frames: ffmpeg renders normal and faulty scenes as JPEG snapshots, each
snapshot goes through `analyse` with the camera's learned baseline and previous fingerprint, as
the probe feeds them one per poll."""

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from agent.probes.onvif.baseline import CameraMemory
from agent.probes.onvif.picture import (
    FINGERPRINT_GRID,
    PROVISIONAL_SNAPSHOTS,
    Baseline,
    Fingerprint,
    ImageReason,
    PictureOptions,
    PictureReport,
    analyse,
)
from peers.picture.frames import needs_ffmpeg, reencode, render
from wire.schema import CheckName, CheckValue

pytestmark = [pytest.mark.ffmpeg, needs_ffmpeg]

OPTIONS = PictureOptions()
FLOAT_FIELDS = (
    "luma_mean",
    "dark_fraction",
    "flat_fraction",
    "edge_density",
    "entropy",
    "chroma_cb",
    "chroma_cr",
    "colour_cast",
    "saturation",
)
Render = Callable[..., list[bytes]]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Render:
    """Renders a scene once per module and size (ffmpeg takes a second or two per scene)."""
    out = tmp_path_factory.mktemp("frames")

    @cache
    def rendered(name: str, frames: int, size: str) -> tuple[bytes, ...]:
        return tuple(render(name, out, frames=frames, size=size))

    def get(name: str, frames: int = 12, size: str = "640x360") -> list[bytes]:
        return list(rendered(name, frames, size))

    return get


def poll(
    snapshots: Iterable[bytes],
    memory: CameraMemory | None = None,
    options: PictureOptions = OPTIONS,
    *,
    daytime: bool | None = None,
) -> tuple[list[PictureReport], CameraMemory]:
    """What the probe does per snapshot: analyse, learn, remember the fingerprint."""
    memory = memory or CameraMemory()
    reports = []
    for jpeg in snapshots:
        report = analyse(jpeg, memory.baseline, memory.previous, options, daytime=daytime)
        memory = CameraMemory(memory.baseline.learned(report, options), report.fingerprint)
        reports.append(report)
    return reports, memory


def poll_streaming(
    snapshots: Iterable[bytes], memory: CameraMemory, *, streaming: bool
) -> tuple[list[PictureReport], CameraMemory]:
    reports = []
    for jpeg in snapshots:
        report = analyse(jpeg, memory.baseline, memory.previous, OPTIONS, streaming=streaming)
        memory = CameraMemory(memory.baseline.learned(report, OPTIONS), report.fingerprint)
        reports.append(report)
    return reports, memory


def learned(scene: Render, name: str = "testsrc2") -> CameraMemory:
    """A camera that has learned its normal picture from its first snapshots."""
    _, memory = poll(scene(name, OPTIONS.baseline_snapshots + 2))
    assert memory.baseline.ready(OPTIONS)
    return memory


def reasons(reports: list[PictureReport]) -> list[tuple[ImageReason, ...]]:
    return [r.reasons for r in reports]


# Conway's life replaces its whole picture within 30 snapshots: as a camera view that is a
# camera turned away, so that camera is configured with no scene-match check (its tolerance).
EVER_CHANGING = PictureOptions(moved_match_min=-1.0)


@pytest.mark.parametrize("name", ["testsrc2", "smptebars", "mandelbrot", "life"])
def test_normal_scene_gives_no_false_positive_over_50_snapshots(scene: Render, name: str) -> None:
    options = EVER_CHANGING if name == "life" else OPTIONS
    reports, memory = poll(scene(name, 50), options=options)

    assert reasons(reports) == [()] * 50
    assert memory.baseline.ready(OPTIONS)
    # Learned from most snapshots; those least like the learned scene are left out.
    assert memory.baseline.samples >= 40
    # Every check was actually judged: blur against a ready baseline, frozen against a previous.
    judged = reports[OPTIONS.baseline_snapshots :]
    assert all(r.sharpness_ratio is not None and r.frame_change is not None for r in judged)
    # Sensor noise alone keeps the static colour bars well clear of "frozen".
    assert min(r.frame_change or 0 for r in judged) > 2 * OPTIONS.frozen_change_max


def test_black_picture_is_black_and_nothing_else(scene: Render) -> None:
    reports, _memory = poll(scene("black", 6), learned(scene))

    assert reasons(reports) == [(ImageReason.BLACK,)] * 6
    assert all(r.dark_fraction > 0.99 and r.luma_mean < 5 for r in reports)
    assert reports[0].checks()["camera.image_abnormal"] is True
    assert reports[0].checks()["camera.image_abnormal.reasons"] == "black"


def test_repeated_snapshot_is_frozen(scene: Render) -> None:
    still = scene("testsrc2", 14)[-1]
    reports, _ = poll([still] * 4, learned(scene))

    # The first comparison is with the last moving frame of the learning run; frozen needs
    # two unchanged comparisons in a row.
    assert reasons(reports) == [(), ()] + [(ImageReason.FROZEN,)] * 2
    assert [r.frame_change for r in reports[1:]] == [0.0] * 3


def test_frozen_is_not_judged_while_the_stream_is_down(scene: Render) -> None:
    """With the stream down the camera has a fault of its own (camera.stream_down); the last
    picture it keeps serving is not a second one."""
    still = scene("testsrc2", 14)[-1]
    memory = learned(scene)

    down, _ = poll_streaming([still] * 3, memory, streaming=False)
    up, _ = poll_streaming([still] * 3, memory, streaming=True)

    assert reasons(down) == [()] * 3
    assert reasons(up) == [(), (), (ImageReason.FROZEN,)]


def test_reencoded_frozen_frame_under_a_ticking_overlay_is_frozen(
    scene: Render, tmp_path: Path
) -> None:
    """A hung sensor pipeline: the encoder keeps compressing the last frame and the clock overlay
    keeps moving, so the JPEGs differ, but the picture itself does not change."""
    still = tmp_path / "still.jpg"
    still.write_bytes(scene("testsrc2", 14)[-1])
    snapshots = reencode(still, tmp_path, frames=5, quality=6)
    assert len(set(snapshots)) == 5  # every snapshot's bytes differ

    reports, _ = poll(snapshots, learned(scene))

    assert reasons(reports[2:]) == [(ImageReason.FROZEN,)] * 3


def test_defocused_picture_is_blurred_against_its_baseline(scene: Render) -> None:
    reports, memory = poll(scene("blurred", 6), learned(scene))

    assert reasons(reports) == [(ImageReason.BLURRED,)] * 6
    assert all(r.sharpness_ratio is not None and r.sharpness_ratio < 0.3 for r in reports)
    assert memory.baseline == learned(scene).baseline  # never learned from the blurred frames


def test_a_camera_installed_out_of_focus_learns_its_picture(scene: Render) -> None:
    """No reference exists for a lens that was never sharp: its first snapshots are what it
    looks like (judged against their own median from the third on, all alike)."""
    reports, memory = poll(scene("blurred", OPTIONS.baseline_snapshots - 1))

    assert reasons(reports) == [()] * (OPTIONS.baseline_snapshots - 1)
    assert all(r.sharpness_ratio is None for r in reports[:PROVISIONAL_SNAPSHOTS])
    assert not memory.baseline.ready(OPTIONS)


def test_night_picture_of_a_camera_learned_by_day_is_normal(scene: Render) -> None:
    reports, _ = poll(scene("night", 6), learned(scene))

    assert reasons(reports) == [()] * 6


def test_slow_loss_of_focus_is_not_learned_and_is_caught(scene: Render) -> None:
    """Slightly soft frames are learned (slowly); softer ones are suspect and not learned; so a
    lens that keeps losing focus ends up blurred against a baseline that did not follow it."""
    memory = learned(scene)
    slightly, memory = poll(scene("soft1", 30), memory)
    sharp_before = memory.baseline.sharpness
    softer, memory = poll(scene("soft2", 8), memory)
    soft, memory = poll(scene("soft3", 4), memory)

    assert reasons(slightly) + reasons(softer) == [()] * 38
    assert memory.baseline.sharpness == sharp_before  # the softer frames taught nothing
    assert reasons(soft) == [(ImageReason.BLURRED,)] * 4


def test_covered_lens_is_covered(scene: Render) -> None:
    reports, _ = poll(scene("covered", 6), learned(scene))

    # Covered needs two snapshots in a row.
    assert reasons(reports) == [()] + [(ImageReason.COVERED,)] * 5
    assert all(r.flat_fraction >= 0.95 and r.edge_density < 0.001 for r in reports)


def test_covered_is_found_on_a_camera_that_never_learned(scene: Render) -> None:
    reports, _ = poll(scene("covered", 3))

    assert reasons(reports) == [()] + [(ImageReason.COVERED,)] * 2


def test_magenta_cast_is_a_colour_cast_against_the_baseline(scene: Render) -> None:
    reports, _ = poll(scene("colour_cast", 6), learned(scene))

    assert reasons(reports) == [(ImageReason.COLOUR_CAST,)] * 6
    assert all(r.colour_cast > OPTIONS.colour_cast_max for r in reports)


def test_magenta_cast_is_found_before_any_baseline(scene: Render) -> None:
    """A camera installed with a stuck IR-cut filter must not learn pink as its normal."""
    reports, memory = poll(scene("colour_cast", 4))

    assert reasons(reports) == [(ImageReason.COLOUR_CAST,)] * 4
    assert memory.baseline.samples == 0


def test_options_keep_learning_above_the_blur_threshold() -> None:
    with pytest.raises(ValidationError, match="learn_ratio_min must be above blur_ratio"):
        PictureOptions(blur_ratio=0.6, learn_ratio_min=0.5)


def test_big_coloured_object_in_part_of_the_view_is_no_cast(scene: Render) -> None:
    memory = learned(scene)
    reports, _ = poll(scene("red_van", 4), memory)

    assert reasons(reports) == [()] * 4
    # The scene is a real test: the frame's mean colour moved further than a cast.
    shifts = np.array(
        [
            (now[0] - was[0], now[1] - was[1])
            for now, was in zip(reports[0].block_chroma, memory.baseline.block_chroma, strict=True)
            if now is not None and was is not None
        ]
    )
    assert float(np.hypot(*shifts.mean(axis=0))) > OPTIONS.colour_cast_max


def test_colourless_picture_in_daytime_is_a_colour_cast(scene: Render) -> None:
    grey = scene("grey", 4)
    memory = learned(scene)
    colour_by_day = PictureOptions(colour_by_day=True)

    day, _ = poll(grey, memory, colour_by_day, daytime=True)
    night, _ = poll(grey, memory, colour_by_day, daytime=False)
    grey_by_design, _ = poll(grey, memory, daytime=True)

    assert reasons(day) == [(ImageReason.COLOUR_CAST,)] * 4
    assert reasons(night) == [()] * 4  # night mode is grey on purpose
    assert reasons(grey_by_design) == [()] * 4  # a black-and-white camera is grey all day


def test_night_mode_on_a_colourful_scene_is_no_cast(scene: Render) -> None:
    """The learned chroma of a scene full of colour is far from grey; switching to black and
    white at dusk must not read as a colour cast."""
    reports, memory = poll(scene("mandelbrot", OPTIONS.baseline_snapshots))
    assert reports[-1].colour_cast > OPTIONS.colour_cast_max  # grey is further off than a cast

    night, _ = poll(scene("mandelbrot_bw", 3), memory, daytime=False)

    assert reasons(reports) == [()] * OPTIONS.baseline_snapshots
    assert reasons(night) == [()] * 3


def test_picture_recovers_after_a_fault(scene: Render) -> None:
    memory = learned(scene)
    _, memory = poll(scene("covered", 3), memory)

    reports, _ = poll(scene("testsrc2", 6)[::-1], memory)

    assert reasons(reports) == [()] * 6


def test_each_threshold_is_the_cameras_own(scene: Render) -> None:
    """Per-camera options change the verdict: a camera that tolerates more blur, or one whose
    noise floor is high enough that its own still scene counts as frozen."""
    memory = learned(scene)
    lenient = PictureOptions(blur_ratio=0.05)
    strict = PictureOptions(frozen_change_max=5.0, frozen_snapshots=1)

    blurred, _ = poll(scene("blurred", 3), memory, lenient)
    still, _ = poll(scene("smptebars", 3), None, strict)

    assert reasons(blurred) == [()] * 3
    assert reasons(still)[1:] == [(ImageReason.FROZEN,)] * 2


def test_options_refuse_unknown_and_out_of_range_fields() -> None:
    with pytest.raises(ValidationError, match="blur_ration"):
        PictureOptions.model_validate({"blur_ration": 0.3})
    with pytest.raises(ValidationError, match="black_fraction"):
        PictureOptions.model_validate({"black_fraction": 1.5})


def test_checks_are_valid_sample_checks(scene: Render) -> None:
    reports, _ = poll(scene("testsrc2", 3) + scene("covered", 2))
    adapter = TypeAdapter(dict[CheckName, CheckValue])

    for report in reports:
        checks = adapter.validate_python(report.checks())
        assert checks["picture.luma_mean"] == round(report.luma_mean, 2)
    assert reports[0].checks()["picture.frame_change"] is None
    assert reports[-1].checks()["camera.image_abnormal.reasons"] == "covered"
    assert reports[0].checks()["camera.image_abnormal"] is False


def test_full_hd_snapshot_is_analysed_at_reduced_size(scene: Render) -> None:
    reports, _ = poll(scene("testsrc2", 12, "1920x1080") + scene("blurred", 2, "1920x1080"))

    assert reports[0].width == 1920
    assert reports[0].height == 1080
    assert reasons(reports) == [()] * 12 + [(ImageReason.BLURRED,)] * 2


def test_analysis_in_worker_threads_matches_one_thread(scene: Render) -> None:
    """The probe analyses snapshots of many cameras in worker threads at once."""
    frames = scene("testsrc2", 12) + scene("covered", 4) + scene("blurred", 4)
    memory = learned(scene)

    def one(jpeg: bytes) -> PictureReport:
        return analyse(jpeg, memory.baseline, memory.previous, OPTIONS)

    alone = [one(jpeg).checks() for jpeg in frames]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = [report.checks() for report in pool.map(one, frames * 3)]

    assert together == alone * 3


FLOATS: dict[str, Any] = dict.fromkeys(FLOAT_FIELDS, 0.0)


def test_baseline_learns_mean_then_adapts_slowly() -> None:
    options = PictureOptions(baseline_snapshots=2, baseline_alpha=0.1)
    base = Baseline()

    def report(sharpness: float, *faults: ImageReason) -> PictureReport:
        cols, rows = FINGERPRINT_GRID
        cells = np.zeros((rows, cols), dtype=np.float32)
        return PictureReport(
            **FLOATS,
            width=640,
            height=360,
            frame_change=None,
            sharpness=sharpness,
            sharpness_ratio=None,
            block_chroma=(),
            reasons=faults,
            fingerprint=Fingerprint(digest="0", cells=cells),
        )

    base = base.learned(report(2.0), options).learned(report(4.0), options)
    assert (base.samples, base.sharpness) == (2, 3.0)  # plain mean while learning
    base = base.learned(report(13.0), options)
    assert base.sharpness == pytest.approx(4.0)  # then EWMA: 3 + 0.1 x (13 - 3)
    assert base.learned(report(0.1, ImageReason.BLURRED), options) == base
    suspect = replace(report(2.4), sharpness_ratio=2.4 / 4.0)  # below learn_ratio_min (0.7)
    assert base.learned(suspect, options) == base
