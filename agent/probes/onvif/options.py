"""The optional `onvif:` block of a camera in the agent config: what to check and how often,
thresholds and deadlines. The address, port (default 80) and credentials (by reference) are the
device's own fields. Validated at start."""

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from agent.probes.onvif.picture import PictureOptions

DEFAULT_ONVIF_PORT = 80


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
