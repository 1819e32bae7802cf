"""On-screen display (OSD) blocks learned from the snapshots themselves: a burned-in clock
changes from one snapshot to the next while the scene around it does not, a burned-in label
stays the same while the light on the scene around it changes. Either way the block says
nothing about the lens (a sharp clock over a defocused scene holds sharpness up; a ticking
clock over a frozen sensor makes the frame look alive), so `picture.py` leaves such blocks out
of its block measures and of the frozen check.

Pure numpy. Between two snapshots each fingerprint cell's change is taken relative to the
median change of its structure block (`scene.STRUCTURE_GRID`, 4 x 4 cells): light from clouds,
dusk or a gain step moves a block's cells together, noise moves each a little, text that
changes (or that does not follow the light) moves a few cells far from the rest. A block
stands out when one of its cells is more than `CELL_SIGMAS` robust noise deviations off; its
score is how often it stood out (a running mean, then an EWMA). Blocks standing out in at least
`SCORE_MIN` of the comparisons form the mask, unless so many do that it is the scene that is
busy in places (water, traffic), not an overlay.
"""

import numpy as np
from numpy.typing import NDArray

from agent.probes.onvif.scene import STRUCTURE_GRID

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

BLOCKS = STRUCTURE_GRID[0] * STRUCTURE_GRID[1]
# A cell is off its block by this many robust deviations (1.4826 MAD of all cells' offsets,
# plus a small floor for a frame that did not change at all).
CELL_SIGMAS = 8.0
NOISE_FLOOR = 0.1
# Comparisons before the mask is used; afterwards the score follows with this weight.
LEARN_COMPARISONS = 10
ALPHA = 0.05
# A block is OSD when it stood out in at least this share of the comparisons. A clock's digits
# do not all change every snapshot, and a small one is lost in the noise of some; a block of
# the scene stands out by chance in a few per cent of them (measured on the scene suite).
SCORE_MIN = 0.2
# At most this share of the blocks is an overlay (an OSD clock is ~1.5 % of the frame, a
# camera name and a date a few % more); more is the scene behaving, and nothing is masked.
MAX_SHARE = 0.1


def standing_out(cells: FloatArray, previous: FloatArray) -> BoolArray:
    """Per structure block (row by row), whether one of its fingerprint cells changed far
    from how the rest of the block changed. The fingerprint grid is a whole multiple of the
    structure grid."""
    rows, cols = STRUCTURE_GRID[1], STRUCTURE_GRID[0]
    h, w = cells.shape
    change = (cells - previous).reshape(rows, h // rows, cols, w // cols)
    off = np.abs(change - np.median(change, axis=(1, 3), keepdims=True))
    sigma = 1.4826 * float(np.median(off)) + NOISE_FLOOR
    out: BoolArray = (off.max(axis=(1, 3)) > CELL_SIGMAS * sigma).ravel()
    return out


def learn(scores: FloatArray | None, seen: int, odd: BoolArray) -> tuple[FloatArray, int]:
    """The scores after one more comparison (`odd` from `standing_out`)."""
    before = np.zeros(BLOCKS, np.float32) if scores is None else scores
    weight = 1.0 / (seen + 1) if seen < LEARN_COMPARISONS else ALPHA
    step = np.float32(weight) * (odd.astype(np.float32) - before)
    after: FloatArray = (before + step).astype(np.float32)
    return after, min(seen + 1, 1_000_000)


def judged(scores: FloatArray | None, seen: int) -> BoolArray | None:
    """The blocks to judge (False: learned OSD), or None while learning or when nothing (or
    too much to be an overlay) stands out."""
    if scores is None or seen < LEARN_COMPARISONS:
        return None
    osd = scores >= SCORE_MIN
    count = int(np.count_nonzero(osd))
    if count == 0 or count > MAX_SHARE * BLOCKS:
        return None
    mask: BoolArray = ~osd
    return mask
