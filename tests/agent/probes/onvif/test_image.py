"""Snapshot bytes are a picture of a known size, or a clear reason why not."""

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from agent.probes.onvif.image import NotAnImage, inspect

FFMPEG = shutil.which("ffmpeg")


def _png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


@pytest.mark.ffmpeg
@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg not installed (`make test` installs it)")
@pytest.mark.parametrize("size", ["640x360", "1920x1080"])
def test_real_jpeg_gives_its_size(tmp_path: Path, size: str) -> None:
    assert FFMPEG is not None
    out = tmp_path / "frame.jpg"
    subprocess.run(
        [
            *(FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi"),
            *("-i", f"testsrc=size={size}", "-frames:v", "1", str(out)),
        ],
        check=True,
        timeout=60,
    )
    info = inspect(out.read_bytes())
    assert (info.format, f"{info.width}x{info.height}") == ("jpeg", size)
    with pytest.raises(NotAnImage, match="truncated"):
        inspect(out.read_bytes()[: len(out.read_bytes()) // 2])


def test_png_header_gives_its_size() -> None:
    info = inspect(_png(800, 600))
    assert (info.format, info.width, info.height) == ("png", 800, 600)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html><body>401 Unauthorized</body></html>", "not a JPEG or PNG"),
        (b"", "not a JPEG or PNG"),
        (b"\xff\xd8\xff\xd9", "no frame header"),
        (b"\xff\xd8\x00\x00\x00\x00", "no marker"),
        (_png(0, 600), "zero size"),
    ],
)
def test_non_pictures_say_why(data: bytes, message: str) -> None:
    with pytest.raises(NotAnImage, match=message):
        inspect(data)
