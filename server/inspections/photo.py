"""What a row's photo may be: a JPEG, PNG or WebP (judged by its first bytes, not by the name
or the declared type) of at most `MAX_BYTES`. Pure."""

from server.inspections.record import RecordError

MAX_BYTES = 5 * 1024 * 1024
MAX_PER_ROW = 5
SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/webp", b"WEBP", 8),  # RIFF....WEBP
)


class PhotoRefusedError(RecordError):
    """Too large, or not an image type we keep; the message says which."""


def photo_type(data: bytes) -> str:
    """The image type of `data`, or PhotoRefusedError."""
    if len(data) > MAX_BYTES:
        raise PhotoRefusedError(f"the photo is {len(data)} bytes; the limit is {MAX_BYTES}")
    if not data:
        raise PhotoRefusedError("the photo is empty")
    for content_type, magic, offset in SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (offset == 0 or data[:4] == b"RIFF"):
            return content_type
    raise PhotoRefusedError("only JPEG, PNG or WebP photos are kept")
