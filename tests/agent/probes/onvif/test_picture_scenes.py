"""Picture health on the realistic scene suite (`peers/picture/scenes.py`, `suite.py`): every
kind of normal scene stays normal over 200 snapshots, through day/IR switches and a legitimate
re-aim with a re-learn; every physical tampering gives its reason by the third tampered
snapshot."""

from pathlib import Path

import numpy as np
import pytest

from agent.probes.onvif import osd
from agent.probes.onvif.baseline import BaselineStore
from agent.probes.onvif.picture import (
    Baseline,
    ImageReason,
    Mode,
    PictureOptions,
    PictureReport,
    _osd_mask,
    analyse,
)
from agent.probes.onvif.scene import PROFILE_SIZE, STRUCTURE_GRID, Profile, compare
from peers.picture import suite
from peers.picture.scenes import Camera, Kind, Tamper

OPTIONS = PictureOptions()
DEVICE = "cam-1"


class StoreAnalyser:
    """The suite's `Analyser` over a real `BaselineStore`, as the probe's hook drives it."""

    def __init__(self, directory: Path, options: PictureOptions = OPTIONS) -> None:
        # Read-only: judged and remembered in memory, no file written per snapshot.
        self.store = BaselineStore(directory, read_only=True)
        self.options = options
        self.reports: list[PictureReport] = []

    def observe(self, jpeg: bytes, *, ir: bool | None) -> tuple[str, ...]:
        report = self.store.observe(DEVICE, jpeg, self.options)
        self.reports.append(report)
        return tuple(str(r) for r in report.reasons)

    def relearn(self) -> None:
        self.store.relearn(DEVICE)


@pytest.mark.parametrize("kind", list(Kind))
def test_normal_scene_gives_no_false_alarm_over_200_snapshots(kind: Kind, tmp_path: Path) -> None:
    analyser = StoreAnalyser(tmp_path)
    verdicts = suite.run(suite.normal(kind, seed=1), analyser)

    assert verdicts == [()] * 200
    # Every check was judged: against a learned scene, with a previous snapshot.
    judged = analyser.reports[OPTIONS.baseline_snapshots :]
    assert all(r.comparison is not None and r.frame_change is not None for r in judged)
    assert all(r.sharpness_ratio is not None for r in judged)


def test_day_ir_switches_give_no_false_alarm_and_learn_both_modes(tmp_path: Path) -> None:
    analyser = StoreAnalyser(tmp_path)
    verdicts = suite.run(suite.day_ir_switch(seed=1), analyser)

    assert verdicts == [()] * 240
    memory = analyser.store.memory(DEVICE)
    assert memory.baseline.ready(OPTIONS)
    assert memory.night.ready(OPTIONS)
    assert memory.baseline.samples <= 120
    assert memory.night.samples <= 120
    # The colour baseline learned nothing from the IR nights: it keeps the day's colour.
    day_colour = [abs(c[1]) for c in memory.baseline.block_chroma if c is not None]
    night_colour = [abs(c[1]) for c in memory.night.block_chroma if c is not None]
    assert np.median(day_colour) > 5 > np.median(night_colour)


@pytest.mark.parametrize("kind", [Kind.OUTDOOR, Kind.CORRIDOR])
def test_reaimed_camera_is_normal_after_a_relearn_and_moved_without(
    kind: Kind, tmp_path: Path
) -> None:
    sequence = suite.relearn(kind, seed=1)

    with_relearn = suite.run(sequence, StoreAnalyser(tmp_path / "a"))

    class NoRelearn(StoreAnalyser):
        def relearn(self) -> None:
            pass

    without = suite.run(sequence, NoRelearn(tmp_path / "b"))
    assert with_relearn == [()] * 200
    assert without[45:] != [()] * 155  # the test is real: the new view is a fault otherwise


TAMPERED = [pytest.param(kind, tamper, id=f"{tamper}-{kind}") for kind in Kind for tamper in Tamper]


@pytest.mark.parametrize(("kind", "tamper"), TAMPERED)
def test_tampering_is_caught_by_the_third_snapshot(
    kind: Kind, tamper: Tamper, tmp_path: Path
) -> None:
    sequence = suite.tampered(kind, seed=1, tamper=tamper)
    verdicts = suite.run(sequence, StoreAnalyser(tmp_path))
    assert sequence.onset is not None

    assert verdicts[: sequence.onset] == [()] * sequence.onset
    caught = [bool(sequence.accepted & set(v)) for v in verdicts[sequence.onset :]]
    assert caught[suite.LATENCY_MAX :] == [True] * (len(caught) - suite.LATENCY_MAX)


def test_defocus_while_learning_is_caught_and_not_learned(tmp_path: Path) -> None:
    camera = Camera(Kind.OUTDOOR, seed=3)
    analyser = StoreAnalyser(tmp_path)
    for i in range(4):
        assert analyser.observe(camera.snapshot(i), ir=None) == ()

    soft = [analyser.observe(camera.snapshot(i, Tamper.DEFOCUS), ir=None) for i in range(4, 10)]

    assert soft == [("blurred",)] * 6
    baseline = analyser.store.memory(DEVICE).baseline
    assert (baseline.samples, len(baseline.learning)) == (4, 4)


def test_camera_ir_state_picks_the_baseline(tmp_path: Path) -> None:
    """The camera says IR is on: its picture teaches the night baseline even if it still shows
    some colour (street lights through an IR-cut filter that is already out)."""
    store = BaselineStore(tmp_path)
    jpeg = Camera(Kind.NIGHT_COLOUR, seed=1).snapshot(0)
    measured_mode = store.observe(DEVICE, jpeg, OPTIONS)
    told = store.observe(DEVICE, jpeg, OPTIONS, ir_active=True)

    memory = store.load(DEVICE)
    assert measured_mode.saturation > OPTIONS.grey_saturation_max  # judged as day by itself
    assert (memory.baseline.samples, memory.night.samples) == (1, 1)
    assert told.frame_change == 0.0


def test_relearn_request_file_is_honoured_at_the_next_snapshot(tmp_path: Path) -> None:
    camera = Camera(Kind.CORRIDOR, seed=2)
    agent = BaselineStore(tmp_path)
    for i in range(10):
        agent.observe(DEVICE, camera.snapshot(i), OPTIONS)
    assert agent.load(DEVICE).baseline.ready(OPTIONS)

    BaselineStore(tmp_path).request_relearn(DEVICE)  # another process: `secmon agent relearn`
    report = agent.observe(DEVICE, camera.snapshot(10, Tamper.TURNED), OPTIONS)

    assert report.reasons == ()
    assert report.frame_change is None
    assert agent.load(DEVICE).baseline.samples == 1
    assert not list(tmp_path.glob("*.relearn"))


def test_each_reason_carries_the_measures_behind_it(tmp_path: Path) -> None:
    sequence = suite.tampered(Kind.IR, seed=1, tamper=Tamper.HAND)
    analyser = StoreAnalyser(tmp_path)
    suite.run(sequence, analyser)

    report = analyser.reports[-1]
    checks = report.checks()
    assert report.reasons == (ImageReason.COVERED,)
    evidence = report.evidence()["covered"]
    assert evidence["covered_share"] >= OPTIONS.covered_block_share
    assert evidence["snapshots"] >= OPTIONS.persist_snapshots
    assert str(checks["camera.image_abnormal.evidence"]).startswith("covered: covered_share=")
    assert checks["picture.covered_share"] == round(evidence["covered_share"], 3)


def test_frozen_threshold_follows_the_cameras_own_noise(tmp_path: Path) -> None:
    """A quarter of the camera's learned change between normal snapshots, within a factor of
    four of the configured `frozen_change_max`; learned from the snapshots themselves."""
    learner = StoreAnalyser(tmp_path)
    suite.run(suite.normal(Kind.IR, seed=1, count=12), learner)
    assert learner.store.memory(DEVICE).night.change_floor is not None

    jpeg = Camera(Kind.CORRIDOR, seed=1).snapshot(0)

    def below(floor: float) -> float | None:
        baseline = Baseline(samples=OPTIONS.baseline_snapshots, change_floor=floor)
        return analyse(jpeg, baseline, None, OPTIONS).frozen_below

    assert below(0.001) == pytest.approx(0.25 * OPTIONS.frozen_change_max)
    assert below(0.02) == pytest.approx(0.005)
    assert below(0.1) == pytest.approx(0.025)
    assert below(5.0) == pytest.approx(4 * OPTIONS.frozen_change_max)


def test_configured_osd_box_is_left_out_of_the_comparison() -> None:
    """A burned-in label over most of the left of the frame stays sharp while the scene blurs:
    judged, it would hold the median up; configured, it is not judged."""
    cols, rows = STRUCTURE_GRID
    learned = Profile(np.zeros(PROFILE_SIZE, np.float32))
    for values in (learned.mean, learned.structure, learned.grad, learned.lap):
        values[:] = 100.0  # writes through: the properties are views of one vector
    now = Profile(learned.values.copy())
    lap = now.lap.reshape(rows, cols)
    lap[:, :] = 20.0
    lap[:, : cols * 6 // 10] = 100.0  # the label's blocks keep their detail
    label = PictureOptions(osd_regions=((0.0, 0.0, 0.6, 1.0),))

    plain = compare(now, learned)
    masked = compare(now, learned, _osd_mask(label))

    assert plain.sharpness_ratio == pytest.approx(1.0)
    assert masked.sharpness_ratio == pytest.approx(0.2)


def test_osd_boxes_outside_the_frame_are_refused() -> None:
    with pytest.raises(ValueError, match="osd_regions"):
        PictureOptions(osd_regions=((0.9, 0.0, 0.2, 0.1),))


def test_mode_comes_from_the_picture_when_the_camera_does_not_say(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    camera = Camera(Kind.OUTDOOR, seed=1)
    day = store.observe(DEVICE, camera.snapshot(0), OPTIONS)
    night = store.observe(DEVICE, camera.snapshot(1, ir=True), OPTIONS)

    assert day.saturation > OPTIONS.grey_saturation_max >= night.saturation
    memory = store.load(DEVICE)
    assert (memory.baseline.samples, memory.night.samples) == (1, 1)
    assert Mode.IR.value == "ir"


def test_scenes_are_the_same_for_the_same_seed() -> None:
    """The suite is replayable: a failing case renders the same bytes again."""
    again = Camera(Kind.RAIN, seed=5).snapshot(7, Tamper.HAND)

    assert Camera(Kind.RAIN, seed=5).snapshot(7, Tamper.HAND) == again
    assert Camera(Kind.RAIN, seed=6).snapshot(7, Tamper.HAND) != again


def test_camera_turned_to_a_plain_floor_is_moved_with_its_measures(tmp_path: Path) -> None:
    """The corridor camera pushed down to its floor: the learned blocks lost their structure
    as under a cover, but the new view has structured blocks and edges of its own."""
    sequence = suite.tampered(Kind.CORRIDOR, seed=2, tamper=Tamper.TURNED)
    analyser = StoreAnalyser(tmp_path)
    suite.run(sequence, analyser)

    report = analyser.reports[-1]
    assert report.reasons == (ImageReason.MOVED,)
    moved = report.evidence()["moved"]
    assert moved["structure_ratio"] < 0.6  # by the learned blocks alone it would be a cover
    assert moved["texture_ratio"] >= 0.6
    assert moved["edge_ratio"] >= 0.7


@pytest.mark.parametrize(("kind", "seed"), [(Kind.NIGHT_COLOUR, 1), (Kind.CORRIDOR, 2)])
def test_ticking_osd_clock_is_learned_as_a_mask_and_nothing_of_the_scene(
    kind: Kind, seed: int, tmp_path: Path
) -> None:
    """The suite's OSD clock (top left, its minutes change every snapshot) is found in the
    top row of blocks, where the text is; no block of the scene is taken for one."""
    learner = StoreAnalyser(tmp_path)
    assert suite.run(suite.normal(kind, seed=seed, count=60), learner) == [()] * 60

    last = learner.reports[-1]
    previous = learner.store.memory(DEVICE).previous
    assert previous is not None
    mask = osd.judged(previous.osd, previous.osd_seen)
    assert mask is not None
    masked = set(np.flatnonzero(~mask).tolist())
    assert 3 in masked  # the minutes' digits
    assert masked <= set(range(6))  # the text's blocks of the top row, nothing else
    assert last.osd_blocks == len(masked)
    assert last.checks()["picture.osd_blocks"] == len(masked)

    off = StoreAnalyser(tmp_path / "off", PictureOptions(osd_mask="off"))
    suite.run(suite.normal(kind, seed=seed, count=12), off)
    assert {r.osd_blocks for r in off.reports} == {0}


def test_osd_learning_survives_a_restart(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    camera = Camera(Kind.NIGHT_COLOUR, seed=1)
    for i in range(3):
        store.observe(DEVICE, camera.snapshot(i), OPTIONS)

    again = BaselineStore(tmp_path).load(DEVICE).previous
    assert again is not None
    assert again == store.memory(DEVICE).previous
    assert (again.osd_seen, again.osd is not None) == (2, True)
