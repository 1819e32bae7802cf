"""The picture analyser as it stood before the scene suite (main at a7d9b3f), kept only as the
bench peer of `bench/onvif_picture.py` so that before/after figures come from one run. Not used
by the agent; do not extend it."""

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
    COLOUR_CAST = "colour_cast"


class SnapshotUnreadable(ProtocolError):  # noqa: N818 - a ProbeFailure, named by cause
    """The camera's snapshot is no usable JPEG (garbage, truncated, absurd size): a probe error
    for that camera, never a crash of the agent."""


@dataclass(frozen=True)
class Fingerprint:
    """What frozen detection keeps of a snapshot: the JPEG digest and the grid of cell means."""

    digest: str
    cells: FloatArray  # FINGERPRINT_GRID[1] x FINGERPRINT_GRID[0], luma cell means

    def to_json(self) -> dict[str, Any]:
        cells = base64.b64encode(self.cells.astype("<f4").tobytes()).decode()
        return {"digest": self.digest, "cells": cells}

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
        return cls(digest=str(data["digest"]), cells=cells.reshape(rows, cols))


BlockChroma = tuple[tuple[float, float] | None, ...]
"""Mean (Cb, Cr) of each DETAIL_GRID block, row by row; None where too few pixels were
well exposed to tell a colour."""


@dataclass(frozen=True)
class Baseline:
    """What this camera normally looks like: its sharpness and the colour of each part of its
    scene, learned from its first normal snapshots and then adapted slowly (EWMA); never from
    abnormal ones."""

    samples: int = 0
    sharpness: float = 0.0
    block_chroma: BlockChroma = ()

    def ready(self, options: PictureOptions) -> bool:
        return self.samples >= options.baseline_snapshots

    def learned(self, report: "PictureReport", options: PictureOptions) -> "Baseline":
        """This baseline moved towards `report`, or unchanged when the report was abnormal or
        suspiciously soft (so that a lens losing focus is not learned as its new normal)."""
        if report.reasons:
            return self
        ratio = report.sharpness_ratio
        if ratio is not None and ratio < options.learn_ratio_min:
            return self
        if self.samples < options.baseline_snapshots:
            weight = 1.0 / (self.samples + 1)  # plain mean of the first snapshots
        else:
            weight = options.baseline_alpha
        return Baseline(
            samples=min(self.samples + 1, 1_000_000),
            sharpness=self.sharpness + weight * (report.sharpness - self.sharpness),
            block_chroma=_blend(self.block_chroma, report.block_chroma, weight),
        )


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
    sharpness_ratio: float | None  # None: baseline still learning
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

    @property
    def abnormal(self) -> bool:
        return bool(self.reasons)

    def checks(self) -> dict[str, CheckValue]:
        """The sample's check values; `camera.image_abnormal` is what the server's rule reads."""

        def r(value: float | None, digits: int = 3) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "camera.image_abnormal": self.abnormal,
            "camera.image_abnormal.reasons": ",".join(self.reasons),
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
        }


def analyse(
    jpeg: bytes,
    baseline: Baseline | None,
    previous: Fingerprint | None,
    options: PictureOptions,
    *,
    streaming: bool | None = None,
    daytime: bool | None = None,
) -> PictureReport:
    """Measure one snapshot (JPEG, or PNG) and judge it; raises `SnapshotUnreadable` for
    anything that is not a sane picture.

    `streaming` is the poll's stream check: a picture is frozen only while the camera claims to
    stream (False: the stream is down, a fault of its own, and frozen is not judged; None: not
    checked, judged). `daytime` (if the caller knows the site's day) enables the colourless
    check: a camera stuck in night mode shows grey in daylight.
    """
    rgb, width, height = _decode(jpeg, options)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]

    luma_mean = float(luma.mean())
    dark_fraction = float(np.count_nonzero(luma <= options.dark_level)) / luma.size

    cells = _grid_means(luma, FINGERPRINT_GRID)
    fingerprint = Fingerprint(digest=hashlib.blake2b(jpeg, digest_size=16).hexdigest(), cells=cells)
    frame_change: float | None = None
    if previous is not None and previous.cells.shape == cells.shape:
        if previous.digest == fingerprint.digest:
            frame_change = 0.0
        else:
            frame_change = float(np.median(np.abs(cells - previous.cells)))

    sharpness, edge_density = _sharpness(luma)
    flat_fraction = _flat_fraction(luma, options.flat_block_std)
    entropy = _entropy(luma)
    block_chroma, saturation = _chroma(rgb, luma)
    chroma_cb, chroma_cr = _median_chroma(block_chroma)

    ready = baseline is not None and baseline.ready(options)
    sharpness_ratio: float | None = None
    colour_cast = math.hypot(chroma_cb, chroma_cr)
    if baseline is not None and ready:
        sharpness_ratio = sharpness / baseline.sharpness if baseline.sharpness > 0 else None
        colour_cast = _colour_shift(block_chroma, baseline.block_chroma)

    reasons: list[ImageReason] = []
    black = dark_fraction >= options.black_fraction
    covered = not black and flat_fraction >= options.covered_flat_fraction
    if black:
        reasons.append(ImageReason.BLACK)
    elif covered:
        reasons.append(ImageReason.COVERED)
    else:
        # A uniform frame never changes and has no sharpness or colour worth judging, so these
        # are judged only on a real picture.
        unchanged = frame_change is not None and frame_change <= options.frozen_change_max
        if unchanged and streaming is not False:
            reasons.append(ImageReason.FROZEN)
        if sharpness_ratio is not None and sharpness_ratio <= options.blur_ratio:
            reasons.append(ImageReason.BLURRED)
        colourless = saturation <= options.grey_saturation_max
        # Medians over blocks: a purple coat or a red van filling part of the view moves the
        # mean colour, a stuck IR-cut filter shifts every part of the picture.
        magenta = min(chroma_cb, chroma_cr) >= options.magenta_min
        # A colourless frame (night mode) moves the mean chroma to zero from wherever the
        # scene had it; that is the grey check's business, not a cast.
        off_baseline = ready and not colourless and colour_cast >= options.colour_cast_max
        grey = daytime is True and colourless
        if magenta or off_baseline or grey:
            reasons.append(ImageReason.COLOUR_CAST)

    return PictureReport(
        width=width,
        height=height,
        luma_mean=luma_mean,
        dark_fraction=dark_fraction,
        frame_change=frame_change,
        sharpness=sharpness,
        sharpness_ratio=sharpness_ratio,
        flat_fraction=flat_fraction,
        edge_density=edge_density,
        entropy=entropy,
        chroma_cb=chroma_cb,
        chroma_cr=chroma_cr,
        colour_cast=colour_cast,
        saturation=saturation,
        block_chroma=block_chroma,
        reasons=tuple(reasons),
        fingerprint=fingerprint,
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


def _sharpness(luma: FloatArray) -> tuple[float, float]:
    """Contrast-free sharpness (Laplacian energy over gradient energy) and edge density.

    A ratio of second- to first-derivative energy drops when fine detail goes (defocus, a dirty
    dome) but does not change when the scene is simply darker or lower in contrast.
    """
    gx = np.diff(luma, axis=1)[:-1, :]
    gy = np.diff(luma, axis=0)[:, :-1]
    grad_energy = float(np.mean(gx * gx + gy * gy))
    centre = luma[1:-1, 1:-1]
    lap = luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * centre
    lap_energy = float(np.mean(lap * lap))
    sharpness = lap_energy / grad_energy if grad_energy > 1e-6 else 0.0
    magnitude = np.abs(gx) + np.abs(gy)
    edge_density = float(np.count_nonzero(magnitude >= 24.0)) / magnitude.size
    return sharpness, edge_density


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
