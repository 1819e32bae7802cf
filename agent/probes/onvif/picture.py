"""Picture health from one JPEG snapshot: black, frozen, blurred, covered, moved, colour cast.

Pure and fast (no I/O, no clock): Pillow decodes the JPEG at a reduced scale (DCT scaling, so a
1080p snapshot is never decoded at full size), numpy computes whole-frame statistics and the
per-block scene `Profile` (`scene.py`) on a small analysis image. Covered, blurred, moved and
colour are judged against the camera's own learned `Baseline` (one per mode, day colour and IR,
chosen by the caller), because "sharp", "structured" and "neutral" differ from scene to scene;
frozen, covered and moved must persist over consecutive snapshots, counted in the previous
snapshot's `Fingerprint`. `measure` then `judge` (or `analyse`, both) turn a snapshot into a
`PictureReport`; `report.checks()` goes into the poll's result with the measures behind each
reason. `docs/picture-health.md` explains each measure and its assumptions.
"""

import base64
import hashlib
import io
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from agent.probes.base import ProtocolError
from agent.probes.onvif.options import PictureOptions as PictureOptions  # re-exported
from agent.probes.onvif.scene import (
    STRUCTURE_GRID,
    Comparison,
    Profile,
    compare,
    scene_match,
)
from agent.probes.onvif.scene import measure as measure_scene
from wire.schema import CheckValue

FloatArray = NDArray[np.float32]

# The fingerprint grid: 64 x 36 cells (16:9 frames get square cells). A clock overlay (OSD)
# covers a few cells at most, so the median cell change ignores it. Finer cells keep more of the
# sensor noise that tells a live picture from a frozen one: with ffmpeg sources at 1920x1080 the
# median change between live frames measured 0.08-0.12 levels on this grid (0.05 on 32 x 18),
# and exactly 0 for a frozen frame encoded again under a moving overlay.
FINGERPRINT_GRID = (64, 36)
# The detail grid for "covered": 8 x 6 blocks, large enough that a blurred but real scene still
# varies inside most blocks, small enough that one bright corner cannot make a frame look normal.
DETAIL_GRID = (8, 6)
# Colour is judged only when at least a quarter of the detail blocks are well exposed.
MIN_COLOUR_BLOCKS = DETAIL_GRID[0] * DETAIL_GRID[1] // 4
MIN_SIDE = 16  # pixels; smaller snapshots carry no picture worth judging
# Cameras serve JPEG; a few serve PNG. No other Pillow decoder is exposed to camera bytes.
SNAPSHOT_FORMATS = ("JPEG", "PNG")


class ImageReason(StrEnum):
    """Why a picture is abnormal; the value goes into the `camera.image_abnormal` reasons."""

    BLACK = "black"
    FROZEN = "frozen"
    BLURRED = "blurred"
    COVERED = "covered"
    MOVED = "moved"
    COLOUR_CAST = "colour_cast"


class Mode(StrEnum):
    """Which of the camera's baselines a snapshot is judged against."""

    DAY = "day"  # colour picture
    IR = "ir"  # night mode: IR illuminated, no colour


class SnapshotUnreadable(ProtocolError):  # noqa: N818 - a ProbeFailure, named by cause
    """The camera's snapshot is no usable JPEG (garbage, truncated, absurd size): a probe error
    for that camera, never a crash of the agent."""


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """What the next snapshot is compared with: the JPEG digest and grid of cell means (frozen),
    and how many snapshots in a row ending here were unchanged, covered-looking or moved-looking
    (persistence)."""

    digest: str
    cells: FloatArray  # FINGERPRINT_GRID[1] x FINGERPRINT_GRID[0], luma cell means
    unchanged: int = 0
    covered: int = 0
    moved: int = 0

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Fingerprint)
            and (self.digest, self.unchanged, self.covered, self.moved)
            == (other.digest, other.unchanged, other.covered, other.moved)
            and np.array_equal(self.cells, other.cells)
        )

    __hash__ = None  # type: ignore[assignment]  # holds an array: compared, never hashed

    def to_json(self) -> dict[str, Any]:
        cells = base64.b64encode(self.cells.astype("<f4").tobytes()).decode()
        return {
            "digest": self.digest,
            "cells": cells,
            "streaks": [self.unchanged, self.covered, self.moved],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Fingerprint":
        """Raises ValueError (or TypeError/KeyError) for anything this class did not write."""
        cols, rows = FINGERPRINT_GRID
        raw = base64.b64decode(str(data["cells"]), validate=True)
        if len(raw) != cols * rows * 4:
            raise ValueError(f"fingerprint needs {cols * rows} cells")
        cells = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if not np.isfinite(cells).all():
            raise ValueError(f"fingerprint needs {cols * rows} finite cells")
        streaks = data.get("streaks", [0, 0, 0])
        if (
            not isinstance(streaks, list)
            or len(streaks) != 3
            or not all(isinstance(n, int) and 0 <= n <= 1_000_000 for n in streaks)
        ):
            raise ValueError("streaks must be three small non-negative integers")
        return cls(str(data["digest"]), cells.reshape(rows, cols), *streaks)


BlockChroma = tuple[tuple[float, float] | None, ...]
"""Mean (Cb, Cr) of each DETAIL_GRID block, row by row; None where too few pixels were
well exposed to tell a colour."""

# A faded picture is blurred only when its strong edges went too (a moving pattern that leaves
# some blocks for others keeps its edges).
FADED_EDGE_RATIO = 0.75
# A lost view is a cover when the blocks kept less than this of their contrast (median), a
# turned camera when they kept more (its new view has structure of its own).
STRUCTURE_GONE = 0.6
# A partial cover: at least this fraction of `covered_block_share` lost, and a scene match
# within this margin above the moved threshold.
PART_SHARE = 0.6
PART_MATCH_MARGIN = 0.2
# How far below its learning snapshots' worst match a camera's scene must fall to be lost.
MATCH_MARGIN = 0.3
# Judging starts against the median of the first snapshots once there are this many; before,
# only what needs no baseline (black, a flat cover, magenta) is judged.
PROVISIONAL_SNAPSHOTS = 3


@dataclass(frozen=True, eq=False)
class Baseline:
    """What this camera normally looks like in one mode: its scene profile, sharpness, noise
    floor and the colour of each part of its scene. The first `baseline_snapshots` normal
    snapshots are kept and their element-wise median becomes the profile (a few odd snapshots
    cannot bend it); after that it adapts slowly (EWMA) to normal snapshots close to it. Abnormal
    or suspect snapshots are never learned."""

    samples: int = 0
    sharpness: float = 0.0
    block_chroma: BlockChroma = ()
    profile: Profile | None = None
    learning: tuple[Profile, ...] = ()
    change_floor: float | None = None  # typical frame change between normal snapshots
    match_floor: float | None = None  # worst scene match of the learning snapshots

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Baseline) and (
            self.samples,
            self.sharpness,
            self.block_chroma,
            self.profile,
            self.learning,
            self.change_floor,
            self.match_floor,
        ) == (
            other.samples,
            other.sharpness,
            other.block_chroma,
            other.profile,
            other.learning,
            other.change_floor,
            other.match_floor,
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays: compared, never hashed

    def ready(self, options: PictureOptions) -> bool:
        return self.samples >= options.baseline_snapshots

    def moved_below(self, options: PictureOptions) -> float:
        """The scene match under which the view is lost: the configured one, lowered for a
        camera whose own normal snapshots match each other poorly (a scene that is mostly
        moving things: traffic filling the view, water, trees in wind)."""
        if self.match_floor is None:
            return options.moved_match_min
        return min(options.moved_match_min, self.match_floor - MATCH_MARGIN)

    def reference(self) -> Profile | None:
        """The profile to judge against: the learned one, or while learning the median of the
        snapshots so far (once there are enough to outvote one odd snapshot)."""
        if self.profile is not None:
            return self.profile
        if len(self.learning) >= PROVISIONAL_SNAPSHOTS:
            return _median(self.learning)
        return None

    def learned(self, report: "PictureReport", options: PictureOptions) -> "Baseline":
        """This baseline moved towards `report`, or unchanged when the report was abnormal or
        suspect (softer, less structured or a different view than the baseline: a lens losing
        focus or a camera being turned is not learned as its new normal)."""
        if report.reasons or report.suspect(options):
            return self
        learning = self.samples < options.baseline_snapshots
        weight = 1.0 / (self.samples + 1) if learning else options.baseline_alpha
        profile, pending, match_floor = self.profile, self.learning, self.match_floor
        if report.profile is not None:
            if learning:
                pending = (*pending, report.profile)
                if self.samples + 1 >= options.baseline_snapshots:
                    profile = _median(pending)
                    match_floor = min(scene_match(p, profile) for p in pending)
                    pending = ()
            elif profile is not None:
                step = weight * (report.profile.values - profile.values)
                profile = Profile(profile.values + step)
            else:
                profile = report.profile
        floor = self.change_floor
        if report.frame_change is not None:
            change = report.frame_change
            floor = change if floor is None else floor + max(weight, 0.1) * (change - floor)
        return Baseline(
            samples=min(self.samples + 1, 1_000_000),
            sharpness=self.sharpness + weight * (report.sharpness - self.sharpness),
            block_chroma=_blend(self.block_chroma, report.block_chroma, weight),
            profile=profile,
            learning=pending,
            change_floor=floor,
            match_floor=match_floor,
        )


def _median(profiles: tuple[Profile, ...]) -> Profile:
    stacked = np.stack([p.values for p in profiles])
    median: FloatArray = np.median(stacked, axis=0).astype(np.float32)
    return Profile(median)


def _blend(old: BlockChroma, new: BlockChroma, weight: float) -> BlockChroma:
    """Each block's chroma moved towards the new one; a block without colour keeps what it had."""
    if len(old) != len(new):
        return new
    out: list[tuple[float, float] | None] = []
    for was, now in zip(old, new, strict=True):
        if was is None or now is None:
            out.append(now if was is None else was)
        else:
            out.append((was[0] + weight * (now[0] - was[0]), was[1] + weight * (now[1] - was[1])))
    return tuple(out)


@dataclass(frozen=True)
class PictureReport:
    """Every measured value of one snapshot, and the reasons it is abnormal (empty: normal)."""

    width: int
    height: int
    luma_mean: float
    dark_fraction: float
    frame_change: float | None  # None: no previous snapshot to compare with
    sharpness: float
    sharpness_ratio: float | None  # None: no baseline (yet) or too little structure to judge
    flat_fraction: float
    edge_density: float
    entropy: float
    chroma_cb: float  # median over the blocks with colour
    chroma_cr: float
    colour_cast: float  # chroma shift against the baseline (before it is learned: against grey)
    saturation: float
    block_chroma: BlockChroma
    reasons: tuple[ImageReason, ...]
    fingerprint: Fingerprint
    profile: Profile | None = None
    comparison: Comparison | None = None
    frozen_below: float | None = None  # the frame change under which a snapshot is unchanged
    borrowed: bool = False  # compared with the other mode's baseline (this one not learned)
    settled: bool = False  # compared with a fully learned baseline
    mode: Mode | None = None  # the baseline's mode it was judged in (None: judged alone)

    @property
    def abnormal(self) -> bool:
        return bool(self.reasons)

    def suspect(self, options: PictureOptions) -> bool:
        """Normal, but not to be learned: softer or less like the learned scene than normal
        snapshots are, or on the way to a persistent verdict."""
        if self.fingerprint.covered or self.fingerprint.moved:
            return True
        if self.borrowed:
            return False  # the other mode's scene says nothing of this mode's sharpness
        ratio = self.sharpness_ratio
        if ratio is not None and ratio < options.learn_ratio_min:
            return True
        c = self.comparison
        if c is None or not self.settled:
            return False  # while learning, only a soft picture is refused (lens defocused)
        if c.scene_match < options.moved_match_min + 0.5 * (1 - options.moved_match_min):
            return True
        return c.covered_share is not None and c.covered_share >= 0.5 * options.covered_block_share

    def evidence(self) -> dict[str, dict[str, float]]:
        """The measures behind each reason given, rounded for a ticket."""
        c = self.comparison

        def some(**values: float | None) -> dict[str, float]:
            return {k: round(v, 3) for k, v in values.items() if v is not None}

        out: dict[str, dict[str, float]] = {}
        for reason in self.reasons:
            if reason is ImageReason.BLACK:
                out[reason] = some(dark_fraction=self.dark_fraction, luma_mean=self.luma_mean)
            elif reason is ImageReason.FROZEN:
                out[reason] = some(
                    frame_change=self.frame_change,
                    frozen_below=self.frozen_below,
                    unchanged_snapshots=float(self.fingerprint.unchanged),
                )
            elif reason is ImageReason.BLURRED:
                out[reason] = some(
                    sharpness_ratio=self.sharpness_ratio,
                    detail_ratio=None if c is None else c.sharpness_ratio,
                    structure_ratio=None if c is None else c.structure_ratio,
                )
            elif reason is ImageReason.COVERED:
                out[reason] = some(
                    covered_share=None if c is None else c.covered_share,
                    flat_fraction=self.flat_fraction,
                    edge_ratio=None if c is None else c.edge_ratio,
                    brightness_ratio=None if c is None else c.brightness_ratio,
                    snapshots=float(self.fingerprint.covered),
                )
            elif reason is ImageReason.MOVED:
                out[reason] = some(
                    scene_match=None if c is None else c.scene_match,
                    structure_ratio=None if c is None else c.structure_ratio,
                    snapshots=float(self.fingerprint.moved),
                )
            else:
                out[reason] = some(colour_cast=self.colour_cast, saturation=self.saturation)
        return out

    def checks(self) -> dict[str, CheckValue]:
        """The sample's check values; `camera.image_abnormal` is what the server's rule reads,
        `camera.image_abnormal.evidence` says which measures gave each reason."""

        def r(value: float | None, digits: int = 3) -> float | None:
            return None if value is None else round(value, digits)

        c = self.comparison
        evidence = "; ".join(
            f"{reason}: " + " ".join(f"{k}={v:g}" for k, v in measures.items())
            for reason, measures in self.evidence().items()
        )
        return {
            "camera.image_abnormal": self.abnormal,
            "camera.image_abnormal.reasons": ",".join(self.reasons),
            "camera.image_abnormal.evidence": evidence,
            "picture.luma_mean": r(self.luma_mean, 2),
            "picture.dark_fraction": r(self.dark_fraction, 4),
            "picture.frame_change": r(self.frame_change, 4),
            "picture.sharpness": r(self.sharpness, 4),
            "picture.sharpness_ratio": r(self.sharpness_ratio),
            "picture.flat_fraction": r(self.flat_fraction),
            "picture.edge_density": r(self.edge_density, 4),
            "picture.entropy": r(self.entropy),
            "picture.colour_cast": r(self.colour_cast, 2),
            "picture.saturation": r(self.saturation, 2),
            "picture.covered_share": None if c is None else r(c.covered_share),
            "picture.structure_ratio": None if c is None else r(c.structure_ratio),
            "picture.scene_match": None if c is None else r(c.scene_match),
            "picture.brightness_ratio": None if c is None else r(c.brightness_ratio),
            "picture.edge_ratio": None if c is None else r(c.edge_ratio),
            # Night brightness apart, so a trend compares nights with nights.
            "picture.night_luma_mean": r(self.luma_mean, 2) if self.mode is Mode.IR else None,
        }


@dataclass(frozen=True, eq=False)
class Measured:
    """What one snapshot is, before any judgement: everything `judge` needs from the pixels."""

    width: int
    height: int
    digest: str
    luma_mean: float
    dark_fraction: float
    cells: FloatArray
    flat_fraction: float
    entropy: float
    block_chroma: BlockChroma
    saturation: float
    profile: Profile

    def mode(self, options: PictureOptions, ir_active: bool | None = None) -> Mode:
        """IR when the camera says so, else when the picture has no colour."""
        if ir_active is not None:
            return Mode.IR if ir_active else Mode.DAY
        return Mode.IR if self.saturation <= options.grey_saturation_max else Mode.DAY


def measure(jpeg: bytes, options: PictureOptions) -> Measured:
    """Decode and measure one snapshot (JPEG, or PNG); raises `SnapshotUnreadable` for anything
    that is not a sane picture."""
    rgb, width, height = _decode(jpeg, options)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    block_chroma, saturation = _chroma(rgb, luma)
    return Measured(
        width=width,
        height=height,
        digest=hashlib.blake2b(jpeg, digest_size=16).hexdigest(),
        luma_mean=float(luma.mean()),
        dark_fraction=float(np.count_nonzero(luma <= options.dark_level)) / luma.size,
        cells=_grid_means(luma, FINGERPRINT_GRID),
        flat_fraction=_flat_fraction(luma, options.flat_block_std),
        entropy=_entropy(luma),
        block_chroma=block_chroma,
        saturation=saturation,
        profile=measure_scene(_at_least(luma, PROFILE_MIN)),
    )


# The scene profile needs 4 x 4 pixels per structure block after quartering the image.
PROFILE_MIN = (STRUCTURE_GRID[1] * 16, STRUCTURE_GRID[0] * 16)


def _at_least(luma: FloatArray, size: tuple[int, int]) -> FloatArray:
    """`luma` repeated (nearest pixel) up to `size` rows x cols where it is smaller."""
    h, w = luma.shape
    rows, cols = max(h, size[0]), max(w, size[1])
    if (rows, cols) == (h, w):
        return luma
    idx_y = (np.arange(rows) * h) // rows
    idx_x = (np.arange(cols) * w) // cols
    grown: FloatArray = luma[idx_y][:, idx_x]
    return grown


def _osd_mask(options: PictureOptions) -> NDArray[np.bool_] | None:
    """Structure blocks clear of every configured OSD box (True: judged)."""
    if not options.osd_regions:
        return None
    cols, rows = STRUCTURE_GRID
    keep = np.ones((rows, cols), dtype=bool)
    for x, y, w, h in options.osd_regions:
        c0, c1 = math.floor(x * cols), math.ceil((x + w) * cols)
        r0, r1 = math.floor(y * rows), math.ceil((y + h) * rows)
        keep[r0:r1, c0:c1] = False
    mask: NDArray[np.bool_] = keep.ravel()
    return mask


def analyse(
    jpeg: bytes,
    baseline: Baseline | None,
    previous: Fingerprint | None,
    options: PictureOptions,
    *,
    streaming: bool | None = None,
    daytime: bool | None = None,
) -> PictureReport:
    """`measure` then `judge` against one baseline (the caller picks the mode's baseline)."""
    return judge(
        measure(jpeg, options), baseline, previous, options, streaming=streaming, daytime=daytime
    )


def judge(
    measured: Measured,
    baseline: Baseline | None,
    previous: Fingerprint | None,
    options: PictureOptions,
    *,
    streaming: bool | None = None,
    daytime: bool | None = None,
    other_mode: Baseline | None = None,
) -> PictureReport:
    """Judge one measured snapshot.

    `other_mode` is the camera's baseline of its other mode (day or IR): while this mode has
    no reference yet, covered and moved are judged against the other one, since a scene keeps
    its layout when the IR illuminator takes over (its sharpness and colour do not).

    `streaming` is the poll's stream check: a picture is frozen only while the camera claims to
    stream (False: the stream is down, a fault of its own, and frozen is not judged; None: not
    checked, judged). `daytime` (if the caller knows the site's day) enables the colourless
    check on cameras configured `colour_by_day`: a camera stuck in night mode shows grey in
    daylight.
    """
    m = measured
    cells = m.cells
    frame_change: float | None = None
    if previous is not None and previous.cells.shape == cells.shape:
        if previous.digest == m.digest:
            frame_change = 0.0
        else:
            frame_change = float(np.median(np.abs(cells - previous.cells)))

    chroma_cb, chroma_cr = _median_chroma(m.block_chroma)
    ready = baseline is not None and baseline.ready(options)
    reference = None if baseline is None else baseline.reference()
    borrowed = False
    if reference is None and other_mode is not None and other_mode.ready(options):
        reference, borrowed = other_mode.reference(), True
    comparison = None if reference is None else compare(m.profile, reference, _osd_mask(options))
    sharpness_ratio: float | None = None
    if comparison is not None and not borrowed:
        sharpness_ratio = comparison.sharpness_ratio
    colour_cast = math.hypot(chroma_cb, chroma_cr)
    if baseline is not None and ready:
        colour_cast = _colour_shift(m.block_chroma, baseline.block_chroma)

    # Frozen: a quarter of this camera's own typical change between snapshots, within a factor
    # of four of the configured threshold either way.
    frozen_below = options.frozen_change_max
    if baseline is not None and baseline.change_floor is not None and ready:
        frozen_below = min(
            max(0.25 * baseline.change_floor, 0.25 * options.frozen_change_max),
            4.0 * options.frozen_change_max,
        )
    unchanged = frame_change is not None and frame_change <= frozen_below

    black = m.dark_fraction >= options.black_fraction
    flat = m.flat_fraction >= options.covered_flat_fraction
    lost_below = options.moved_match_min
    if borrowed and other_mode is not None:
        lost_below = other_mode.moved_below(options)
    elif baseline is not None:
        lost_below = baseline.moved_below(options)
    view_lost = comparison is not None and comparison.scene_match < lost_below
    structure_gone = comparison is not None and (
        (comparison.covered_share or 0.0) >= options.covered_block_share
        or (comparison.structure_ratio is not None and comparison.structure_ratio < STRUCTURE_GONE)
    )
    share = 0.0 if comparison is None else comparison.covered_share or 0.0
    soft = sharpness_ratio is not None and sharpness_ratio <= options.blur_ratio
    # Part of the view gone, the layout shaken and what remains still sharp: a hand or cloth
    # across part of the lens (a defocus softens all of it; moving people remove no structure).
    part_lost = (
        comparison is not None
        and not soft
        and share >= PART_SHARE * options.covered_block_share
        and comparison.scene_match < lost_below + PART_MATCH_MARGIN
    )
    covered_now = not black and (
        flat or (view_lost and structure_gone) or share >= options.covered_block_share or part_lost
    )
    # A turned camera is judged only against a fully learned scene: while learning, a few
    # snapshots under different clouds are not yet a fair picture of the view.
    settled = borrowed or ready
    moved_now = settled and not black and not covered_now and view_lost
    before = previous or Fingerprint("", cells)
    fingerprint = Fingerprint(
        digest=m.digest,
        cells=cells,
        unchanged=before.unchanged + 1 if unchanged else 0,
        covered=before.covered + 1 if covered_now else 0,
        moved=before.moved + 1 if moved_now else 0,
    )

    reasons: list[ImageReason] = []
    if black:
        reasons.append(ImageReason.BLACK)
    elif covered_now:
        if fingerprint.covered >= options.persist_snapshots:
            reasons.append(ImageReason.COVERED)
    elif moved_now:
        if fingerprint.moved >= options.persist_snapshots:
            reasons.append(ImageReason.MOVED)
    else:
        # A uniform frame never changes and has no sharpness or colour worth judging, so these
        # are judged only on a real picture of the learned scene.
        if fingerprint.unchanged >= options.frozen_snapshots and streaming is not False:
            reasons.append(ImageReason.FROZEN)
        # On a noisy picture the finest detail is noise before and after a defocus; what the
        # defocus still takes is the contrast of each block.
        faded = (
            comparison is not None
            and not borrowed
            and comparison.structure_ratio is not None
            and comparison.structure_ratio <= options.blur_structure_ratio
            and comparison.edge_ratio is not None
            and comparison.edge_ratio <= FADED_EDGE_RATIO
        )
        if soft or faded:
            reasons.append(ImageReason.BLURRED)
        colourless = m.saturation <= options.grey_saturation_max
        # Medians over blocks: a purple coat or a red van filling part of the view moves the
        # mean colour, a stuck IR-cut filter shifts every part of the picture.
        magenta = min(chroma_cb, chroma_cr) >= options.magenta_min
        # A colourless frame (night mode) moves the mean chroma to zero from wherever the
        # scene had it; that is the grey check's business, not a cast.
        off_baseline = ready and not colourless and colour_cast >= options.colour_cast_max
        grey = options.colour_by_day and daytime is True and colourless
        if magenta or off_baseline or grey:
            reasons.append(ImageReason.COLOUR_CAST)

    textured = m.profile.textured()
    sharp = m.profile.sharp()[textured] if textured.any() else m.profile.sharp()
    return PictureReport(
        width=m.width,
        height=m.height,
        luma_mean=m.luma_mean,
        dark_fraction=m.dark_fraction,
        frame_change=frame_change,
        sharpness=float(np.median(sharp)),
        sharpness_ratio=sharpness_ratio,
        flat_fraction=m.flat_fraction,
        edge_density=m.profile.edge_density,
        entropy=m.entropy,
        chroma_cb=chroma_cb,
        chroma_cr=chroma_cr,
        colour_cast=colour_cast,
        saturation=m.saturation,
        block_chroma=m.block_chroma,
        reasons=tuple(reasons),
        fingerprint=fingerprint,
        profile=m.profile,
        comparison=comparison,
        frozen_below=frozen_below,
        borrowed=borrowed,
        settled=settled and comparison is not None,
    )


def _decode(jpeg: bytes, options: PictureOptions) -> tuple[FloatArray, int, int]:
    """The snapshot as float32 RGB at most `analysis_width` wide, and its original size."""
    if len(jpeg) > options.max_jpeg_bytes:
        raise SnapshotUnreadable(f"snapshot of {len(jpeg)} bytes exceeds {options.max_jpeg_bytes}")
    try:
        # No warnings.catch_warnings() here: it swaps process-wide state and analyse runs in
        # worker threads. Pillow warns above 89 Mpx; our own limit below is what refuses.
        with Image.open(io.BytesIO(jpeg), formats=SNAPSHOT_FORMATS) as img:
            width, height = img.size
            if min(width, height) < MIN_SIDE:
                raise SnapshotUnreadable(f"snapshot of {width}x{height} is too small")
            if width * height > options.max_pixels:
                raise SnapshotUnreadable(
                    f"snapshot of {width}x{height} exceeds {options.max_pixels} pixels"
                )
            target_w = min(width, options.analysis_width)
            target_h = max(MIN_SIDE, round(height * target_w / width))
            # DCT scaling: libjpeg decodes at 1/2, 1/4 or 1/8 size directly.
            img.draft("RGB", (target_w, target_h))
            small = img.convert("RGB")
            if small.width > target_w:
                small = small.resize((target_w, target_h), Image.Resampling.BOX)
            array = np.asarray(small, dtype=np.float32)
    except SnapshotUnreadable:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise SnapshotUnreadable(f"snapshot is not a readable JPEG or PNG: {err}") from err
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as err:
        # Pillow reports truncated or corrupt data as OSError/SyntaxError/ValueError.
        raise SnapshotUnreadable(f"snapshot JPEG is corrupt: {err}") from err
    return array, width, height


def _grid_means(luma: FloatArray, grid: tuple[int, int]) -> FloatArray:
    """Mean luma of each cell of a cols x rows grid (edge pixels short of a cell are dropped)."""
    cols, rows = grid
    h, w = luma.shape
    ch, cw = max(1, h // rows), max(1, w // cols)
    if ch * rows > h or cw * cols > w:  # smaller than the grid: repeat pixels to fill it
        idx_y = (np.arange(rows * ch) * h) // (rows * ch)
        idx_x = (np.arange(cols * cw) * w) // (cols * cw)
        luma = luma[idx_y][:, idx_x]
    block = luma[: rows * ch, : cols * cw].reshape(rows, ch, cols, cw)
    means: FloatArray = block.mean(axis=(1, 3), dtype=np.float32)
    return means


def _flat_fraction(luma: FloatArray, flat_std: float) -> float:
    """Share of detail blocks whose luma spread is below `flat_std` (a lens cap, a hand, a bag)."""
    cols, rows = DETAIL_GRID
    h, w = luma.shape
    bh, bw = h // rows, w // cols
    blocks = luma[: rows * bh, : cols * bw].reshape(rows, bh, cols, bw)
    spread: FloatArray = blocks.std(axis=(1, 3))
    return int(np.count_nonzero(spread < flat_std)) / int(spread.size)


def _entropy(luma: FloatArray) -> float:
    """Shannon entropy of the luma histogram, in bits (0 for a uniform frame, up to 8)."""
    hist = np.bincount(np.clip(luma, 0, 255).astype(np.uint8).ravel(), minlength=256)
    p = hist[hist > 0].astype(np.float64) / luma.size
    return float(-(p * np.log2(p)).sum())


def _chroma(rgb: FloatArray, luma: FloatArray) -> tuple[BlockChroma, float]:
    """Mean Cb and Cr (B-Y, R-Y scaled as in JPEG's YCbCr) of the well-exposed pixels of each
    detail block, and the mean chroma magnitude over the frame (colourfulness). Dark and clipped
    pixels carry no reliable colour; a block with too few others has none."""
    # Every other pixel each way: JPEG stores chroma at half resolution anyway (4:2:0).
    rgb, luma = rgb[::2, ::2], luma[::2, ::2]
    cols, rows = DETAIL_GRID
    h, w = luma.shape
    bh, bw = h // rows, w // cols
    rgb, luma = rgb[: rows * bh, : cols * bw], luma[: rows * bh, : cols * bw]
    exposed = ((luma > 24.0) & (luma < 235.0)).astype(np.float32)
    cb = 0.564 * (rgb[..., 2] - luma) * exposed
    cr = 0.713 * (rgb[..., 0] - luma) * exposed
    total = float(exposed.sum())
    saturation = float(np.hypot(cb, cr).sum()) / total if total >= 1 else 0.0

    def per_block(a: FloatArray) -> FloatArray:
        summed: FloatArray = a.reshape(rows, bh, cols, bw).sum(axis=(1, 3), dtype=np.float32)
        return summed

    counts, cb_sum, cr_sum = per_block(exposed), per_block(cb), per_block(cr)
    enough = 0.2 * bh * bw
    blocks: list[tuple[float, float] | None] = []
    for n, b, r in zip(counts.flat, cb_sum.flat, cr_sum.flat, strict=True):
        blocks.append((float(b / n), float(r / n)) if n >= enough and n > 0 else None)
    return tuple(blocks), saturation


def _median_chroma(blocks: BlockChroma) -> tuple[float, float]:
    """Component-wise median chroma of the blocks that have colour (0, 0 when none has)."""
    known = [c for c in blocks if c is not None]
    if len(known) < MIN_COLOUR_BLOCKS:
        return 0.0, 0.0
    return float(np.median([c[0] for c in known])), float(np.median([c[1] for c in known]))


def _colour_shift(blocks: BlockChroma, learned: BlockChroma) -> float:
    """How far the picture's colour moved from the learned one, as the median over blocks of
    each block's shift (0 when too few blocks have colour in both)."""
    if len(blocks) != len(learned):
        return 0.0
    shifts = [
        (now[0] - was[0], now[1] - was[1])
        for now, was in zip(blocks, learned, strict=True)
        if now is not None and was is not None
    ]
    if len(shifts) < MIN_COLOUR_BLOCKS:
        return 0.0
    return math.hypot(
        float(np.median([d[0] for d in shifts])), float(np.median([d[1] for d in shifts]))
    )
