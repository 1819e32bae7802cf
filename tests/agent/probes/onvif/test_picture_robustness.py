"""Whatever a camera sends as its snapshot, `analyse` returns a report or raises the one domain
error `SnapshotUnreadable` (a probe error for that camera), never anything else.

The JPEGs here are made by Pillow in memory: these tests need no ffmpeg and run everywhere.
No hypothesis deadlines: tests never assert on wall-clock speed (2 shared cores).
"""

import io
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import TypeAdapter

from agent.probes.base import ProbeFailure, ProtocolError
from agent.probes.onvif.picture import (
    Baseline,
    PictureOptions,
    PictureReport,
    SnapshotUnreadable,
    analyse,
)
from wire.enums import ProbeErrorCode
from wire.schema import CheckName, CheckValue

OPTIONS = PictureOptions()
CHECKS = TypeAdapter(dict[CheckName, CheckValue])
READY = Baseline(samples=100, sharpness=2.0, block_chroma=((1.0, -1.0),) * 48)


def jpeg_of(width: int, height: int, *, seed: int = 0, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


SMALL_JPEG = jpeg_of(64, 48)


def analyse_or_unreadable(data: bytes) -> PictureReport | None:
    """The contract under test: a report whose checks are valid sample values, or the domain
    error; any other exception fails the test."""
    try:
        report = analyse(data, READY, None, OPTIONS)
    except SnapshotUnreadable:
        return None
    CHECKS.validate_python(report.checks())  # finite numbers only: the wire refuses NaN/inf
    return report


def with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with the frame size in its SOF0 header rewritten (what a broken or hostile
    camera could claim); the scan data stays as small as it was."""
    sof = jpeg.index(b"\xff\xc0")
    header = struct.pack(">HH", height, width)
    return jpeg[: sof + 5] + header + jpeg[sof + 9 :]


def test_snapshot_unreadable_is_a_protocol_error_of_the_camera() -> None:
    with pytest.raises(SnapshotUnreadable) as caught:
        analyse(b"<html>401 Unauthorized</html>", None, None, OPTIONS)

    assert isinstance(caught.value, ProtocolError)
    assert isinstance(caught.value, ProbeFailure)
    assert caught.value.code is ProbeErrorCode.PROTOCOL_ERROR
    assert caught.value.reachable  # the camera answered, with garbage
    assert "not a readable JPEG or PNG" in str(caught.value)


@settings(deadline=None)
@given(st.binary(max_size=4096))
def test_garbage_bytes_are_unreadable(data: bytes) -> None:
    with pytest.raises(SnapshotUnreadable):
        analyse(data, READY, None, OPTIONS)


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=len(SMALL_JPEG) - 1))
def test_truncated_jpeg_is_unreadable_or_analysed(cut: int) -> None:
    analyse_or_unreadable(SMALL_JPEG[:cut])


def test_jpeg_cut_in_its_scan_data_is_unreadable() -> None:
    with pytest.raises(SnapshotUnreadable, match="corrupt"):
        analyse(SMALL_JPEG[: len(SMALL_JPEG) // 2], READY, None, OPTIONS)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=2, max_value=len(SMALL_JPEG) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    )
)
def test_corrupted_jpeg_bytes_never_crash(flips: list[tuple[int, int]]) -> None:
    data = bytearray(SMALL_JPEG)
    for position, value in flips:
        data[position] = value
    analyse_or_unreadable(bytes(data))


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=15), st.integers(min_value=1, max_value=15))
def test_tiny_snapshot_is_unreadable(width: int, height: int) -> None:
    with pytest.raises(SnapshotUnreadable, match="too small"):
        analyse(jpeg_of(width, height), READY, None, OPTIONS)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=16, max_value=700),
    st.integers(min_value=16, max_value=400),
    st.sampled_from(["RGB", "L", "CMYK"]),
)
def test_any_sane_size_and_colour_mode_is_analysed(width: int, height: int, mode: str) -> None:
    report = analyse_or_unreadable(jpeg_of(width, height, mode=mode))

    assert report is not None
    assert (report.width, report.height) == (width, height)
    assert all(math.isfinite(v) for v in report.checks().values() if isinstance(v, float))


# Pillow warns between 89 and 179 Mpx (above, it raises); the analysis refuses those sizes.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=16, max_value=65535),
    st.integers(min_value=16, max_value=65535),
)
def test_huge_claimed_dimensions_are_refused_before_decoding(width: int, height: int) -> None:
    data = with_size(SMALL_JPEG, width, height)
    if width * height <= OPTIONS.max_pixels:
        analyse_or_unreadable(data)  # a lie about the size: decoded or corrupt, no crash
        return
    with pytest.raises(SnapshotUnreadable, match="exceeds"):
        analyse(data, READY, None, OPTIONS)


def test_zero_dimension_header_is_unreadable() -> None:
    with pytest.raises(SnapshotUnreadable):
        analyse(with_size(SMALL_JPEG, 0, 480), READY, None, OPTIONS)


def test_oversized_snapshot_is_refused_by_byte_count() -> None:
    options = PictureOptions(max_jpeg_bytes=1024)

    with pytest.raises(SnapshotUnreadable, match="exceeds 1024"):
        analyse(SMALL_JPEG + b"\0" * 2048, READY, None, options)


def test_progressive_jpeg_is_analysed() -> None:
    pixels = np.random.default_rng(3).integers(0, 256, size=(360, 640, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", progressive=True, quality=85)

    report = analyse_or_unreadable(out.getvalue())

    assert report is not None
    assert (report.width, report.height) == (640, 360)


def test_png_snapshot_is_analysed() -> None:
    """A few cameras serve PNG snapshots."""
    pixels = np.random.default_rng(4).integers(0, 256, size=(90, 160, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")

    report = analyse_or_unreadable(out.getvalue())

    assert report is not None
    assert (report.width, report.height) == (160, 90)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "WEBP"])
def test_other_image_formats_are_not_decoded(fmt: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "grey").save(out, format=fmt)

    with pytest.raises(SnapshotUnreadable, match="not a readable"):
        analyse(out.getvalue(), READY, None, OPTIONS)


def test_uniform_grey_frame_gives_finite_checks() -> None:
    """No texture at all: every ratio has a zero denominator somewhere."""
    out = io.BytesIO()
    Image.new("RGB", (320, 180), (128, 128, 128)).save(out, format="JPEG")

    report = analyse_or_unreadable(out.getvalue())

    assert report is not None
    assert report.sharpness == 0.0
    assert report.reasons == ()  # covered is judged on two snapshots in a row
    again = analyse(out.getvalue(), READY, report.fingerprint, OPTIONS)
    assert again.reasons == ("covered",)
