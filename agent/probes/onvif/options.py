"""The optional `onvif:` block of a camera in the agent config: what to check and how often,
thresholds and deadlines. The address, port (default 80) and credentials (by reference) are the
device's own fields. Validated at start."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

DEFAULT_ONVIF_PORT = 80


class PictureOptions(BaseModel):
    """Per-camera thresholds of the picture checks (the `picture:` block of an ONVIF device;
    how often a snapshot is taken is the probe's `snapshot_interval`).

    Luma and chroma are in 8-bit levels (0-255) of the downscaled analysis image.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    analysis_width: int = Field(
        default=480, ge=64, le=1920, description="Width the snapshot is reduced to, px"
    )
    max_jpeg_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    max_pixels: int = Field(
        default=40_000_000, ge=1024, le=200_000_000, description="Refuse larger frames"
    )
    dark_level: float = Field(
        default=32.0, ge=0, le=255, description="A pixel at or below this luma is near-black"
    )
    black_fraction: float = Field(
        default=0.95, gt=0, le=1, description="Black when this share of pixels is near-black"
    )
    frozen_change_max: float = Field(
        default=0.01,
        ge=0,
        le=255,
        description="Frozen when the median cell changed at most this much since the last snapshot",
    )
    flat_block_std: float = Field(
        default=3.0, ge=0, le=128, description="A detail block with less luma spread is flat"
    )
    covered_flat_fraction: float = Field(
        default=0.9, gt=0, le=1, description="Covered when this share of blocks is flat"
    )
    blur_ratio: float = Field(
        default=0.45,
        gt=0,
        lt=1,
        description="Blurred when fine detail, block by block, falls to this fraction of the "
        "learned baseline (median over the blocks with structure)",
    )
    blur_structure_ratio: float = Field(
        default=0.55,
        gt=0,
        lt=1,
        description="Blurred also when the blocks keep at most this fraction of their learned "
        "contrast while the view stays (defocus on a noisy picture, a fogged dome)",
    )
    covered_block_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Covered when this share of the structured blocks lost 3/4 of their structure",
    )
    moved_match_min: float = Field(
        default=0.5,
        ge=-1,
        lt=1,
        description="Moved (or covered) when the scene fingerprint matches the learned one less",
    )
    persist_snapshots: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Covered and moved only after this many such snapshots in a row",
    )
    frozen_snapshots: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Frozen only after this many unchanged snapshot comparisons in a row",
    )
    colour_by_day: bool = Field(
        default=False,
        description="The camera shows colour by day: a grey daytime picture is a colour cast",
    )
    osd_regions: tuple[tuple[float, float, float, float], ...] = Field(
        default=(),
        max_length=16,
        description="On-screen text boxes left out of the checks: (x, y, width, height) as "
        "fractions of the frame",
    )
    osd_mask: Literal["learn", "off"] = Field(
        default="learn",
        description="learn: blocks that change clock-like or stay identical while the rest "
        "varies are learned as on-screen text and left out of the block measures; off: only "
        "the configured osd_regions are",
    )
    colour_cast_max: float = Field(
        default=20.0, gt=0, le=255, description="Cast when mean chroma moves this far off baseline"
    )
    magenta_min: float = Field(
        default=12.0,
        gt=0,
        le=255,
        description="Cast (stuck IR-cut filter) when both mean Cb and Cr exceed this",
    )
    grey_saturation_max: float = Field(
        default=2.0, ge=0, le=255, description="Cast when colourless in daytime (stuck night mode)"
    )
    baseline_snapshots: int = Field(
        default=8, ge=1, le=1000, description="Normal snapshots learned before blur is judged"
    )
    baseline_alpha: float = Field(
        default=0.02, gt=0, le=1, description="Weight of a new snapshot once the baseline is set"
    )
    learn_ratio_min: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Snapshots softer than this fraction of the baseline are not learned",
    )

    @model_validator(mode="after")
    def _learning_band_above_blur(self) -> "PictureOptions":
        for x, y, w, h in self.osd_regions:
            if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x and 0 < h <= 1 - y):
                raise PydanticCustomError(
                    "picture", "osd_regions must be boxes (x, y, width, height) inside 0..1"
                )
        if self.learn_ratio_min <= self.blur_ratio:
            raise PydanticCustomError(
                "picture", "learn_ratio_min must be above blur_ratio (never learn blurred frames)"
            )
        return self


class OnvifOptions(BaseModel):
    """Defaults suit a camera polled every minute: one request at a time, the picture every
    5 minutes, the recordings every 10."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Media profile token to check; default: the first profile with video",
    )
    stream_check: bool = Field(default=True, description="RTSP OPTIONS+DESCRIBE of the stream")
    snapshot_interval: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="Seconds between snapshots for picture health; 0: no snapshots",
    )
    snapshot_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    clock_drift_threshold: float = Field(
        default=5.0, gt=0, le=86400, description="camera.clock_drift past this offset, s"
    )
    call_timeout: float = Field(
        default=3.0, gt=0, le=60, description="Deadline of each ONVIF, RTSP or HTTP request, s"
    )
    picture: PictureOptions = Field(
        default_factory=PictureOptions,
        description="Thresholds of the picture checks run on each snapshot",
    )
    recording_interval: float = Field(
        default=600.0,
        ge=0,
        le=86400,
        description="Seconds between reads of the Search service's recordings; 0: never",
    )
    recording_stopped_after: float = Field(
        default=900.0,
        gt=0,
        le=30 * 86400,
        description="Recording stopped when the newest footage is older than this, s",
    )


def check_onvif_block(options: OnvifOptions | None, protocol: object) -> OnvifOptions | None:
    """The block is optional for an onvif device (defaults apply) and refused on any other."""
    if options is not None and protocol != "onvif":
        raise PydanticCustomError("onvif", "is only for protocol onvif")
    return options
