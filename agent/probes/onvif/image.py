"""What a snapshot is before anyone looks at its pixels: format and size from the file header
(JPEG SOF segment, PNG IHDR). Cheap and pure, so a camera that answers with an HTML error page,
an empty body or a truncated JPEG is told apart from a picture on every snapshot."""

import struct
from dataclasses import dataclass

# SOF markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PNG = b"\x89PNG\r\n\x1a\n"


class NotAnImage(ValueError):  # noqa: N818 - a kind of bad value, named by what it is
    """The bytes are not a JPEG or PNG picture we can read the size of."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpeg" or "png"
    width: int
    height: int


def inspect(data: bytes) -> ImageInfo:
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data.startswith(_PNG) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return _checked("png", width, height)
    head = data[:16].decode("ascii", errors="replace")
    raise NotAnImage(f"not a JPEG or PNG ({len(data)} bytes, starting {head!r})")


def _jpeg(data: bytes) -> ImageInfo:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise NotAnImage(f"JPEG: no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise NotAnImage("JPEG: truncated (no end-of-image marker)")
            return _checked("jpeg", width, height)
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        pos += 2 + length
    raise NotAnImage("JPEG: no frame header")


def _checked(kind: str, width: int, height: int) -> ImageInfo:
    if width == 0 or height == 0:
        raise NotAnImage(f"{kind}: zero size {width}x{height}")
    return ImageInfo(format=kind, width=width, height=height)
