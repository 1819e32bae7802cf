"""What a stream is, from its DESCRIBE answer (SDP, RFC 8866): codec of the first video track
and its resolution, read from `a=framesize`/`a=x-dimensions` when the camera states it, else
from the H.264 sequence parameter set in `sprop-parameter-sets` (RFC 6184). Pure."""

import base64
import binascii
import re
from dataclasses import dataclass

# Static RTP payload types (RFC 3551) that cameras use without an rtpmap line.
_STATIC_VIDEO = {26: "jpeg", 32: "mpv", 34: "h263"}
_CODEC_NAMES = {"h264": "h264", "h265": "h265", "hevc": "h265", "jpeg": "jpeg", "mp4v-es": "mpeg4"}
# H.264 profiles whose SPS carries chroma format and bit depth (spec 7.3.2.1.1).
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class SdpError(ValueError):
    """The body is not an SDP with a video track."""


@dataclass(frozen=True)
class VideoTrack:
    codec: str  # lower case: h264, h265, jpeg, mpeg4, or the rtpmap name as given
    payload_type: int
    clock_rate: int | None
    width: int | None
    height: int | None
    control: str | None


def parse_sdp(text: str) -> VideoTrack:
    """The first video media section of an SDP."""
    lines = [line.strip() for line in text.splitlines()]
    if not any(line.startswith("v=") for line in lines):
        raise SdpError("not an SDP (no v= line)")
    start = next((i for i, line in enumerate(lines) if line.startswith("m=video ")), None)
    if start is None:
        raise SdpError("no m=video section")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines))
    fields = lines[start].split()
    if len(fields) < 4 or not fields[3].isdigit():
        raise SdpError(f"bad media line: {lines[start]!r}")
    payload = int(fields[3])
    attributes = [line[2:] for line in lines[start + 1 : end] if line.startswith("a=")]

    def attribute(name: str) -> str | None:
        prefix = f"{name}:{payload} "
        return next((a[len(prefix) :].strip() for a in attributes if a.startswith(prefix)), None)

    rtpmap = attribute("rtpmap")
    codec, clock = _STATIC_VIDEO.get(payload, f"pt{payload}"), None
    if rtpmap:
        name, _, rest = rtpmap.partition("/")
        codec = _CODEC_NAMES.get(name.lower(), name.lower())
        rate = rest.partition("/")[0]
        clock = int(rate) if rate.isdigit() else None
    width, height = _stated_size(attribute("framesize"), attributes)
    if width is None and codec == "h264":
        width, height = _h264_size(attribute("fmtp"))
    control = next((a[8:] for a in attributes if a.startswith("control:")), None)
    return VideoTrack(
        codec=codec,
        payload_type=payload,
        clock_rate=clock,
        width=width,
        height=height,
        control=control,
    )


def _stated_size(framesize: str | None, attributes: list[str]) -> tuple[int | None, int | None]:
    if framesize:  # a=framesize:96 1920-1080
        match = re.fullmatch(r"(\d+)-(\d+)", framesize)
        if match:
            return int(match.group(1)), int(match.group(2))
    for attribute in attributes:  # a=x-dimensions:1920,1080 (Axis, Bosch)
        match = re.fullmatch(r"x-dimensions:\s*(\d+),\s*(\d+)", attribute)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None, None


def _h264_size(fmtp: str | None) -> tuple[int | None, int | None]:
    if not fmtp:
        return None, None
    match = re.search(r"sprop-parameter-sets=([A-Za-z0-9+/=]+)", fmtp)
    if not match:
        return None, None
    try:
        sps = base64.b64decode(match.group(1).split(",")[0] + "==")
        return h264_sps_size(sps)
    except (binascii.Error, ValueError, IndexError):
        return None, None


class _Bits:
    """MSB-first bit reader with Exp-Golomb codes (H.264 spec 9.1)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def bit(self) -> int:
        byte = self._data[self._pos >> 3]  # IndexError past the end: a truncated SPS
        value = (byte >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("Exp-Golomb code too long")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def h264_sps_size(nal: bytes) -> tuple[int, int]:
    """Picture width and height (after cropping) from an H.264 SPS NAL unit."""
    if not nal or nal[0] & 0x1F != 7:
        raise ValueError("not an H.264 SPS NAL unit")
    rbsp = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention bytes
    bits = _Bits(rbsp)
    profile = bits.bits(8)
    bits.bits(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma = 1
    if profile in _HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            bits.bit()  # separate_colour_plane_flag
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.bit() else (0, 0, 0, 0)
    crop_x = 2 if chroma in (1, 2) else 1
    crop_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise ValueError("SPS gives no picture size")
    return width, height


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, following = 8, 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last
