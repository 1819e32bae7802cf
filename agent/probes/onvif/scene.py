"""What a camera's scene is made of, measured on one analysis image: per-block structure and
sharpness, the sensor's noise, and a coarse fingerprint of where edges run.

Pure numpy, no state. `picture.py` compares a `Profile` with the camera's learned one: a hand
over the lens removes structure from most blocks (covered), a turned focus ring removes fine
detail from the blocks that had structure (blurred), a camera pushed away changes the edge
layout (moved). All measures are taken on the image halved once more (2 x 2 mean), which halves
the sensor noise, and corrected for the noise that remains, so a featureless frame full of noise
does not look structured or sharp.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]

# Structure blocks: 16 x 9 over the frame (square on 16:9). An on-screen clock of ~1.5 % of the
# frame touches 3-4 of 144 blocks, so medians over blocks ignore it.
STRUCTURE_GRID = (16, 9)
# The scene fingerprint: 8 x 6 cells of the image quartered again; coarse enough that rain,
# noise and defocus leave it alone, fine enough that a camera turned by a few degrees moves it.
MATCH_GRID = (8, 6)
BLOCKS = STRUCTURE_GRID[0] * STRUCTURE_GRID[1]
CELLS = MATCH_GRID[0] * MATCH_GRID[1]
# A block has structure when its contrast, beyond the noise, is this many levels (halved image).
TEXTURE_MIN = 3.0
# Sensor noise at the analysis scale stays below this many levels (std) even with full gain.
NOISE_MAX = 12.0
# Profile layout: one float32 vector so that learning can take medians and blends of it at once.
_MEAN = slice(0, BLOCKS)
_STRUCTURE = slice(BLOCKS, 2 * BLOCKS)
_SHARP = slice(2 * BLOCKS, 3 * BLOCKS)
_LAP = slice(3 * BLOCKS, 4 * BLOCKS)
_ORIENT = slice(4 * BLOCKS, 4 * BLOCKS + 2 * CELLS)
_ENERGY = slice(4 * BLOCKS + 2 * CELLS, 4 * BLOCKS + 3 * CELLS)
_SCALARS = 4 * BLOCKS + 3 * CELLS  # noise, edge density, finest-scale noise variance
PROFILE_SIZE = _SCALARS + 3


@dataclass(frozen=True, eq=False)
class Profile:
    """The scene measures of one snapshot (or the learned median of many), as one vector."""

    values: FloatArray  # PROFILE_SIZE float32

    @property
    def mean(self) -> FloatArray:
        """Mean luma of each structure block."""
        return self.values[_MEAN]

    @property
    def structure(self) -> FloatArray:
        """Each block's spread after removing its own brightness gradient and the noise."""
        return self.values[_STRUCTURE]

    @property
    def grad(self) -> FloatArray:
        """Each block's gradient energy at the analysis scale (noise included)."""
        return self.values[_SHARP]

    @property
    def lap(self) -> FloatArray:
        """Each block's Laplacian energy at the analysis scale (noise included)."""
        return self.values[_LAP]

    @property
    def fine_noise_var(self) -> float:
        """Sensor noise variance at the analysis scale."""
        return float(self.values[_SCALARS + 2])

    def sharp(self, noise_var: float | None = None) -> FloatArray:
        """Each block's sharpness: Laplacian over gradient energy (a spectral centroid, high when
        the detail is fine), each less what noise of `noise_var` alone gives (20 and 4 sigma^2).
        """
        n = self.fine_noise_var if noise_var is None else noise_var
        out: FloatArray = np.maximum(self.lap - 20.0 * n, 0.0) / (
            np.maximum(self.grad - 4.0 * n, 0.0) + 1.0
        )
        return out

    @property
    def orientation(self) -> FloatArray:
        """Each fingerprint cell's dominant edge direction (doubled angle) times its coherence."""
        return self.values[_ORIENT]

    @property
    def energy(self) -> FloatArray:
        """Each fingerprint cell's log edge energy."""
        return self.values[_ENERGY]

    @property
    def noise(self) -> float:
        """Sensor noise, std of luma levels on the halved image."""
        return float(self.values[_SCALARS])

    @property
    def edge_density(self) -> float:
        """Share of halved-image pixels on an edge well above the noise."""
        return float(self.values[_SCALARS + 1])

    def textured(self) -> NDArray[np.bool_]:
        """Blocks with structure worth judging."""
        mask: NDArray[np.bool_] = self.structure >= TEXTURE_MIN
        return mask

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and np.array_equal(self.values, other.values)

    def __hash__(self) -> int:
        return hash(self.values.tobytes())


def _halve(a: FloatArray) -> FloatArray:
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    out: FloatArray = a[:h:2, :w:2] + a[1:h:2, :w:2] + a[:h:2, 1:w:2] + a[1:h:2, 1:w:2]
    return out * np.float32(0.25)


def _blocks(a: FloatArray, grid: tuple[int, int]) -> FloatArray:
    """`a` cut into rows x bh x cols x bw (edge pixels short of a block are dropped)."""
    cols, rows = grid
    bh, bw = a.shape[0] // rows, a.shape[1] // cols
    return a[: rows * bh, : cols * bw].reshape(rows, bh, cols, bw)


def measure(luma: FloatArray) -> Profile:
    """The profile of one analysis image (luma, at least 64 x 36 pixels)."""
    half = _halve(luma)
    quarter = _halve(half)
    # Noise of the halved image: the part of it that its own 2 x 2 means do not explain, in
    # the quietest tenth of the blocks (where the scene has least fine detail). Measured on the
    # halved image rather than the full one because JPEG removes most noise at the finest scale.
    h4, w4 = quarter.shape
    fine = half[: 2 * h4 : 2, : 2 * w4 : 2] - quarter
    fine_var = (_blocks(fine * fine, STRUCTURE_GRID)).mean(axis=(1, 3))
    noise = float(np.sqrt(np.percentile(fine_var, 10) * (4.0 / 3.0)))

    # Structure on the quarter image: noise is a quarter of the sensor's there, and what a
    # cover or a turned camera changes is the coarse layout, not the finest detail.
    blocks = _blocks(quarter, STRUCTURE_GRID)
    bh, bw = blocks.shape[1], blocks.shape[3]
    y = np.arange(bh, dtype=np.float32) - (bh - 1) / 2
    x = np.arange(bw, dtype=np.float32) - (bw - 1) / 2
    mean = blocks.mean(axis=(1, 3))
    centred = blocks - mean[:, None, :, None]
    # Least-squares plane per block: slopes along y and x; what remains is structure.
    sy = np.einsum("rycx,y->rc", centred, y) / max(float((y * y).sum()) * bw, 1.0)
    sx = np.einsum("rycx,x->rc", centred, x) / max(float((x * x).sum()) * bh, 1.0)
    var = (centred * centred).mean(axis=(1, 3))
    resid = var - sy * sy * float((y * y).mean()) - sx * sx * float((x * x).mean())
    structure_var = np.maximum(resid - noise * noise / 4.0, 0.0)

    # Detail at the analysis scale: gradient energy beyond what the noise gives there (4 sigma^2,
    # two differences of two samples), over the block's coarse structure, so that light and
    # contrast do not count and a lens losing focus does (fine detail goes first).
    h2, w2 = half.shape
    finest = luma[: 2 * h2 : 2, : 2 * w2 : 2] - half
    finest_var = _blocks(finest * finest, STRUCTURE_GRID).mean(axis=(1, 3))
    # Capped: past this, what is "quiet" in the busiest scenes is fine texture, not noise.
    fine_noise_var = min(float(np.percentile(finest_var, 10)) * (4.0 / 3.0), NOISE_MAX**2)
    fx = luma[:, 1:] - luma[:, :-1]
    fy = luma[1:, :] - luma[:-1, :]
    f2 = fx[:-1, :] * fx[:-1, :] + fy[:, :-1] * fy[:, :-1]
    fine_grad = _blocks(f2, STRUCTURE_GRID).mean(axis=(1, 3))
    centre = luma[1:-1, 1:-1]
    lap = luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * centre
    fine_lap = _blocks(lap * lap, STRUCTURE_GRID).mean(axis=(1, 3))
    noise_var = noise * noise
    gx = np.zeros_like(half)
    gy = np.zeros_like(half)
    gx[:, :-1] = half[:, 1:] - half[:, :-1]
    gy[:-1, :] = half[1:, :] - half[:-1, :]
    g2 = gx * gx + gy * gy
    edge_level = max(12.0, 6.0 * noise)
    edge_density = float(np.count_nonzero(g2 >= edge_level * edge_level)) / g2.size

    qx = np.zeros_like(quarter)
    qy = np.zeros_like(quarter)
    qx[:, 1:-1] = quarter[:, 2:] - quarter[:, :-2]
    qy[1:-1, :] = quarter[2:, :] - quarter[:-2, :]
    jxx = _blocks(qx * qx, MATCH_GRID).mean(axis=(1, 3))
    jyy = _blocks(qy * qy, MATCH_GRID).mean(axis=(1, 3))
    jxy = _blocks(qx * qy, MATCH_GRID).mean(axis=(1, 3))
    total = jxx + jyy + 2.0 * noise_var + 1.0
    orient = np.concatenate([((jxx - jyy) / total).ravel(), (2.0 * jxy / total).ravel()])
    energy = np.log1p(jxx + jyy).ravel()

    values = np.concatenate(
        [
            mean.ravel(),
            np.sqrt(structure_var).ravel(),
            fine_grad.ravel(),
            fine_lap.ravel(),
            orient,
            energy,
            np.array([noise, edge_density, fine_noise_var]),
        ]
    ).astype(np.float32)
    return Profile(values)


def scene_match(now: Profile, learned: Profile) -> float:
    """How much this snapshot's edge layout agrees with the learned one, -1..1 (1: same view).

    The mean of two correlations over fingerprint cells: of the edge directions (unchanged by
    light, defocus and noise) and of where the edge energy is (unchanged by overall contrast).
    """
    a, b = now.orientation, learned.orientation
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    orient = float((a * b).sum()) / norm if norm > 1e-9 else 0.0
    ea, eb = now.energy - now.energy.mean(), learned.energy - learned.energy.mean()
    enorm = float(np.sqrt((ea * ea).sum() * (eb * eb).sum()))
    energy = float((ea * eb).sum()) / enorm if enorm > 1e-9 else 0.0
    return 0.5 * (orient + energy)


@dataclass(frozen=True)
class Comparison:
    """One snapshot's profile against the learned one: the measures behind covered, blurred and
    moved. None where the learned scene has too little structure to tell."""

    covered_share: float | None  # share of structured blocks whose structure is gone
    structure_ratio: float | None  # median over structured blocks of structure now / learned
    sharpness_ratio: float | None  # median over structured blocks of fine detail now / learned
    edge_ratio: float | None  # edge density now / learned
    brightness_ratio: float  # mean luma now / learned
    scene_match: float
    # blocks with structure now / in the learned scene, wherever they are: a turned camera's
    # new view has its own, a cover leaves few
    texture_ratio: float | None = None


MIN_JUDGED_BLOCKS = 6
MIN_SHARP = 0.05  # a block whose detail is all noise has no sharpness to lose


def compare(now: Profile, learned: Profile, mask: NDArray[np.bool_] | None = None) -> Comparison:
    """`now` against `learned`; `mask` (True: judge) leaves out configured OSD blocks."""
    judged = learned.textured()
    if mask is not None:
        judged &= mask
    n = int(np.count_nonzero(judged))
    # Contrast relative to brightness: clouds and dusk scale both, a cover removes contrast.
    contrast_now = now.structure / (now.mean + 20.0)
    contrast_was = learned.structure / (learned.mean + 20.0)
    brightness = (float(now.mean.mean()) + 1.0) / (float(learned.mean.mean()) + 1.0)
    edge_ratio = (now.edge_density + 1e-4) / (learned.edge_density + 1e-4)
    if n < MIN_JUDGED_BLOCKS:
        return Comparison(None, None, None, edge_ratio, brightness, scene_match(now, learned))
    ratio = contrast_now[judged] / np.maximum(contrast_was[judged], 1e-6)
    # Structure that moved (people, cars, a moving pattern) is lost in some blocks and found in
    # others; a cover only loses it. Blocks that gained structure offset those that lost it.
    lost = int(np.count_nonzero(ratio < 0.25))
    gained_blocks = (contrast_now > 2.0 * contrast_was) & (now.structure >= TEXTURE_MIN)
    if mask is not None:
        gained_blocks &= mask
    covered_share = max(lost - int(np.count_nonzero(gained_blocks)), 0) / n
    textured_now = now.textured() if mask is None else now.textured() & mask
    texture_ratio = int(np.count_nonzero(textured_now)) / n
    # Sharpness only where the structure still is: blocks whose structure moved away (people,
    # cars) say nothing of the lens; a defocus softens the structure but leaves it in place.
    # Both sides lose the same noise: the lower estimate (a busy scene overstates its noise).
    noise_var = min(now.fine_noise_var, learned.fine_noise_var)
    was = learned.sharp(noise_var)
    kept = judged & now.textured() & (was >= MIN_SHARP)  # and had detail above the noise
    sharp_ratio: float | None = None
    if int(np.count_nonzero(kept)) >= MIN_JUDGED_BLOCKS:
        sharp_ratio = float(np.median(now.sharp(noise_var)[kept] / was[kept]))
    return Comparison(
        covered_share=covered_share,
        structure_ratio=float(np.median(ratio)),
        sharpness_ratio=sharp_ratio,
        edge_ratio=edge_ratio,
        brightness_ratio=brightness,
        scene_match=scene_match(now, learned),
        texture_ratio=texture_ratio,
    )
