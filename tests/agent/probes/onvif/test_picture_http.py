"""Picture health end to end over a real snapshot path: ffmpeg-rendered JPEGs served by an HTTP
server with Digest auth on 127.0.0.1, fetched with httpx's DigestAuth (the agent's HTTP client),
analysed as the probe does, with the baseline kept in a state directory between polls."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.probes.onvif.baseline import BaselineStore, CameraMemory
from agent.probes.onvif.picture import (
    ImageReason,
    PictureOptions,
    PictureReport,
    SnapshotUnreadable,
)
from peers.picture.frames import needs_ffmpeg, render
from tests.agent.probes.onvif.snapshot_server import SnapshotCamera, snapshot_camera

OPTIONS = PictureOptions()
USER, PASSWORD = "viewer", "s3cret-snap"


@pytest.fixture
def camera() -> Iterator[SnapshotCamera]:
    with snapshot_camera(USER, PASSWORD) as cam:
        yield cam


def fetch(camera: SnapshotCamera, password: str = PASSWORD) -> httpx.Response:
    with httpx.Client(auth=httpx.DigestAuth(USER, password), timeout=5.0) as client:
        return client.get(camera.url)


def poll(camera: SnapshotCamera, store: BaselineStore, device_id: str) -> PictureReport:
    """One picture poll: fetch the snapshot, analyse it, remember what was learned."""
    response = fetch(camera)
    response.raise_for_status()
    return store.observe(device_id, response.content, OPTIONS)


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_faults_found_through_the_digest_snapshot_path(
    camera: SnapshotCamera, tmp_path: Path
) -> None:
    frames = tmp_path / "frames"
    store = BaselineStore(tmp_path / "state")

    camera.frames = render("testsrc2", frames, frames=50)
    normal = [poll(camera, store, "cam-http") for _ in range(50)]
    assert [r.reasons for r in normal] == [()] * 50

    found: dict[str, tuple[ImageReason, ...]] = {}
    for scene in ("black", "covered", "blurred", "colour_cast"):
        camera.frames = render(scene, frames, frames=2)
        poll(camera, store, "cam-http")
        found[scene] = poll(camera, store, "cam-http").reasons  # covered needs two in a row
    camera.frames = render("testsrc2", frames, frames=50)[-1:]  # the same picture every time
    poll(camera, store, "cam-http")
    poll(camera, store, "cam-http")
    found["frozen"] = poll(camera, store, "cam-http").reasons  # two unchanged in a row

    assert found == {
        "black": (ImageReason.BLACK,),
        "covered": (ImageReason.COVERED,),
        "blurred": (ImageReason.BLURRED,),
        "colour_cast": (ImageReason.COLOUR_CAST,),
        "frozen": (ImageReason.FROZEN,),
    }
    assert camera.served == 50 + 4 * 2 + 3
    assert camera.rejected == camera.served  # every fetch went through the Digest challenge


def test_wrong_password_gets_no_picture(camera: SnapshotCamera) -> None:
    camera.frames = [b"never served"]

    assert fetch(camera, password="wrong").status_code == 401
    assert httpx.get(camera.url, timeout=5.0).status_code == 401
    assert camera.served == 0


def test_error_page_served_as_a_snapshot_is_a_probe_error(
    camera: SnapshotCamera, tmp_path: Path
) -> None:
    """Some cameras answer 200 with an HTML page when the stream is not configured."""
    camera.frames = [b"<html><body>Video not available</body></html>"]
    camera.content_type = "text/html"
    store = BaselineStore(tmp_path)

    with pytest.raises(SnapshotUnreadable):
        poll(camera, store, "cam-html")
    assert store.load("cam-html") == CameraMemory()  # nothing learned from garbage
