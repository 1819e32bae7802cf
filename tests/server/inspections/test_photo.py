"""Photo limits judged by content: JPEG, PNG or WebP up to 5 MB."""

import pytest

from server.inspections.photo import MAX_BYTES, PhotoRefusedError, photo_type

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 100


def test_image_types_are_judged_by_their_first_bytes() -> None:
    assert photo_type(JPEG) == "image/jpeg"
    assert photo_type(PNG) == "image/png"
    assert photo_type(WEBP) == "image/webp"
    for bad in (b"%PDF-1.7 ...", b"GIF89a....", b"RIFF\x10\x00\x00\x00WAVEfmt ", b"<svg/>"):
        with pytest.raises(PhotoRefusedError, match="only JPEG, PNG or WebP"):
            photo_type(bad)
    with pytest.raises(PhotoRefusedError, match="empty"):
        photo_type(b"")


def test_size_limit() -> None:
    assert photo_type(JPEG[:4] + b"\x00" * (MAX_BYTES - 4)) == "image/jpeg"
    with pytest.raises(PhotoRefusedError, match="the limit is"):
        photo_type(JPEG[:4] + b"\x00" * (MAX_BYTES - 3))
