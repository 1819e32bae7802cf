"""Codec and resolution from DESCRIBE answers: recorded SDPs of the real peers, SPS units of real
ffmpeg encodes, and garbage that must fail with SdpError only."""

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes.onvif.sdp import SdpError, h264_sps_size, parse_sdp

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "onvif"
FFMPEG = shutil.which("ffmpeg")


@pytest.mark.parametrize(
    ("name", "control"),
    [("gst-rtsp-server-1.22-h264.sdp", "stream=0"), ("ipycam-1.3-h264.sdp", "trackID=0")],
)
def test_recorded_sdp_gives_codec_and_size_from_the_sps(name: str, control: str) -> None:
    track = parse_sdp((FIXTURES / name).read_text())
    assert (track.codec, track.payload_type, track.clock_rate) == ("h264", 96, 90000)
    assert (track.width, track.height) == (640, 360)
    assert track.control == control


def test_stated_framesize_wins_and_other_codecs_are_named() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=Media Presentation\r\nt=0 0\r\n"
        "m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        "m=video 0 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\na=framesize:98 2688-1520\r\n"
    )
    track = parse_sdp(sdp)
    assert (track.codec, track.width, track.height) == ("h265", 2688, 1520)


def test_axis_dimensions_and_static_jpeg_payload() -> None:
    sdp = "v=0\ns=x\nm=video 0 RTP/AVP 26\na=x-dimensions:1280,720\n"
    track = parse_sdp(sdp)
    assert (track.codec, track.width, track.height, track.clock_rate) == ("jpeg", 1280, 720, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<html>404</html>", "not an SDP"),
        ("v=0\ns=audio only\nm=audio 0 RTP/AVP 0\n", "no m=video"),
        ("v=0\nm=video 0 RTP/AVP\n", "bad media line"),
    ],
)
def test_unusable_bodies_are_sdp_errors(text: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        parse_sdp(text)


def test_broken_sps_leaves_size_unknown() -> None:
    sdp = "v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\na=fmtp:96 sprop-parameter-sets=Z0I=\n"
    track = parse_sdp(sdp)
    assert (track.codec, track.width, track.height) == ("h264", None, None)


@given(st.text(max_size=400))
def test_any_text_parses_or_is_an_sdp_error(text: str) -> None:
    try:
        track = parse_sdp(text)
    except SdpError:
        return
    assert track.payload_type >= 0


@given(st.binary(max_size=64))
def test_any_bytes_as_sps_give_a_size_or_value_error(data: bytes) -> None:
    try:
        width, height = h264_sps_size(b"\x67" + data)
    except (ValueError, IndexError):
        return
    assert width > 0
    assert height > 0


def _sps_of(tmp_path: Path, size: str, *options: str) -> bytes:
    assert FFMPEG is not None
    out = tmp_path / f"{size}.h264"
    subprocess.run(
        [
            *(FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"),
            *("-i", f"testsrc=size={size}:rate=5", "-frames:v", "1", "-c:v", "libx264"),
            *options,
            *("-f", "h264", str(out)),
        ],
        check=True,
        timeout=60,
    )
    for unit in out.read_bytes().split(b"\x00\x00\x01"):
        if unit and unit[0] & 0x1F == 7:
            return unit.rstrip(b"\x00")
    raise AssertionError("no SPS in the encode")


@pytest.mark.ffmpeg
@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg not installed (`make test` installs it)")
@pytest.mark.parametrize(
    ("size", "options"),
    [
        ("1920x1080", ("-profile:v", "high", "-pix_fmt", "yuv420p")),  # cropped from 1088
        ("352x288", ("-profile:v", "baseline", "-pix_fmt", "yuv420p")),
        ("1280x720", ("-profile:v", "high444", "-pix_fmt", "yuv444p")),  # chroma format 3
        (
            "2560x1440",
            ("-profile:v", "main", "-pix_fmt", "yuv420p", "-x264-params", "interlaced=1"),
        ),
    ],
)
def test_sps_of_real_encodes(tmp_path: Path, size: str, options: tuple[str, ...]) -> None:
    width, height = (int(n) for n in size.split("x"))
    assert h264_sps_size(_sps_of(tmp_path, size, *options)) == (width, height)
