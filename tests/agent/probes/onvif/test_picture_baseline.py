"""The per-camera picture memory survives an agent restart, and a damaged file costs a relearn,
never a failed poll."""

import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from agent.probes.onvif.baseline import FORMAT_VERSION, BaselineStore, CameraMemory
from agent.probes.onvif.picture import (
    FINGERPRINT_GRID,
    Baseline,
    Fingerprint,
    ImageReason,
    PictureOptions,
    SnapshotUnreadable,
)
from peers.picture.frames import needs_ffmpeg, render

OPTIONS = PictureOptions()
BLOCKS = tuple(None if i % 7 == 0 else (i / 3, -i / 7) for i in range(48))


def noise_jpeg(seed: int) -> bytes:
    """A textured 160x90 JPEG (uniform noise): a picture no check finds abnormal."""
    pixels = np.random.default_rng(seed).integers(40, 220, size=(90, 160, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def fingerprint(seed: int) -> Fingerprint:
    cols, rows = FINGERPRINT_GRID
    cells = np.random.default_rng(seed).uniform(0, 255, size=(rows, cols)).astype(np.float32)
    return Fingerprint(digest=f"{seed:032x}", cells=cells)


def test_memory_round_trips_exactly(tmp_path: Path) -> None:
    previous = fingerprint(1)
    memory = CameraMemory(Baseline(samples=12, sharpness=2.6101, block_chroma=BLOCKS), previous)
    BaselineStore(tmp_path).save("cam-1", memory)

    loaded = BaselineStore(tmp_path).load("cam-1")  # a new store: the agent restarted

    assert loaded.baseline == memory.baseline
    assert loaded.previous is not None
    assert loaded.previous.digest == previous.digest
    assert np.array_equal(loaded.previous.cells, previous.cells)


def test_unknown_camera_starts_learning(tmp_path: Path) -> None:
    assert BaselineStore(tmp_path / "not-yet").load("cam-1") == CameraMemory()


def test_cameras_are_kept_apart(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.save("cam-1", CameraMemory(Baseline(samples=3, sharpness=1.0)))
    store.save("cam-2", CameraMemory(Baseline(samples=5, sharpness=2.0)))

    assert store.load("cam-1").baseline.sharpness == 1.0
    assert store.load("cam-2").baseline.sharpness == 2.0


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    for samples in range(3):
        store.save("cam-1", CameraMemory(Baseline(samples=samples), fingerprint(samples)))

    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam-1.picture.json"]


def test_failed_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BaselineStore(tmp_path)
    store.save("cam-1", CameraMemory(Baseline(samples=7, sharpness=3.0)))

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        store.save("cam-1", CameraMemory(Baseline(samples=8, sharpness=9.0)))
    monkeypatch.undo()

    assert store.load("cam-1").baseline == Baseline(samples=7, sharpness=3.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam-1.picture.json"]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "baseline": {"samples": -1, "sharpness": 1, '
        b'"block_chroma": []}, "previous": null}',
        b'{"version": 1, "baseline": {"samples": 1, "sharpness": "NaN", '
        b'"block_chroma": []}, "previous": null}',
        b'{"version": 1, "baseline": {"samples": 1, "sharpness": 1, '
        b'"block_chroma": []}, "previous": {"digest": "x", "cells": "AAAA"}}',
        b'{"version": 1, "baseline": {"samples": 1, "sharpness": 1, '
        b'"block_chroma": [[1, 2]]}, "previous": null}',
        b'{"version": 1, "baseline": {"samples": 1, "sharpness": 1, '
        b'"block_chroma": [' + b"[1, 2, 3], " * 47 + b"[1, 2]]}, " + b'"previous": null}',
        b'{"version": 1, "baseline": {"samples": 1, "sharpness": 1, '
        b'"block_chroma": "12"}, "previous": null}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_corrupt_file_means_learning_again(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "cam-1.picture.json").write_bytes(content)

    with caplog.at_level(logging.WARNING):
        memory = BaselineStore(tmp_path).load("cam-1")

    assert memory == CameraMemory()
    assert "cam-1: picture baseline" in caplog.text


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60, deadline=None
)
@given(
    st.binary(max_size=300)
    | st.builds(
        lambda baseline, previous: json.dumps(
            {"version": 1, "baseline": baseline, "previous": previous}
        ).encode(),
        st.dictionaries(st.text(max_size=12), st.none() | st.integers() | st.floats()),
        st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=20)),
    )
)
def test_any_file_content_loads_without_raising(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "cam-1.picture.json").write_bytes(content)

    assert isinstance(BaselineStore(tmp_path).load("cam-1"), CameraMemory)


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden", "x" * 65])
def test_device_id_that_is_no_file_name_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="cannot name a baseline file"):
        BaselineStore(tmp_path).save(bad, CameraMemory())


def test_stored_file_is_small_json(tmp_path: Path) -> None:
    BaselineStore(tmp_path).save("cam-1", CameraMemory(Baseline(samples=1), fingerprint(2)))
    path = tmp_path / "cam-1.picture.json"

    assert json.loads(path.read_bytes())["version"] == FORMAT_VERSION
    assert path.stat().st_size < 16 * 1024


@pytest.mark.ffmpeg
@needs_ffmpeg
def test_restarted_agent_keeps_judging_without_relearning(tmp_path: Path) -> None:
    """Learn, "restart" (a new store object reading the file), then: the snapshot the camera
    repeats is frozen at its second repeat, and a defocused picture
    is blurred at once."""
    normal = render("testsrc2", tmp_path / "frames", frames=OPTIONS.baseline_snapshots + 1)
    blurred = render("blurred", tmp_path / "frames", frames=1)
    state_dir = tmp_path / "state"

    store = BaselineStore(state_dir)
    before = [store.observe("cam-7", jpeg, OPTIONS).reasons for jpeg in normal]
    assert before == [()] * len(normal)

    restarted = BaselineStore(state_dir)
    assert restarted.load("cam-7").baseline.ready(OPTIONS)
    restarted.observe("cam-7", normal[-1], OPTIONS)  # unchanged once: not yet frozen
    frozen = restarted.observe("cam-7", normal[-1], OPTIONS)
    blur = restarted.observe("cam-7", blurred[0], OPTIONS)

    assert frozen.reasons == (ImageReason.FROZEN,)
    assert blur.reasons == (ImageReason.BLURRED,)


def test_unreadable_snapshot_leaves_the_memory_as_it_was(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    first = store.observe("cam-1", noise_jpeg(0), OPTIONS)
    stored = (tmp_path / "cam-1.picture.json").read_bytes()

    with pytest.raises(SnapshotUnreadable):
        store.observe("cam-1", noise_jpeg(1)[:200], OPTIONS)

    assert (tmp_path / "cam-1.picture.json").read_bytes() == stored
    again = store.observe("cam-1", noise_jpeg(0), OPTIONS)
    assert first.frame_change is None
    assert again.frame_change == 0.0  # compared with the last readable snapshot


def test_memory_that_cannot_be_saved_is_logged_once_and_polls_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = BaselineStore(tmp_path)

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    with caplog.at_level(logging.INFO):
        monkeypatch.setattr(os, "replace", disk_full)
        reports = [store.observe("cam-1", noise_jpeg(i), OPTIONS) for i in range(3)]
        monkeypatch.undo()
        last = store.observe("cam-1", noise_jpeg(3), OPTIONS)

    assert [r.frame_change is None for r in reports] == [True, False, False]  # kept in memory
    assert caplog.text.count("picture baseline not saved") == 1
    assert caplog.text.count("picture baseline saved again") == 1
    assert BaselineStore(tmp_path).load("cam-1").previous == last.fingerprint


def test_checks_of_a_poll_say_whether_the_picture_could_be_judged(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)

    good = store.checks("cam-1", noise_jpeg(0), OPTIONS)
    bad = store.checks("cam-1", b"\xff\xd8\xff\xe0 cut short", OPTIONS)

    assert good["picture.ok"] is True
    assert good["camera.image_abnormal"] is False
    assert bad == {"picture.ok": False, "picture.error": bad["picture.error"]}
    assert "JPEG" in str(bad["picture.error"])
    assert store.load("cam-1").baseline.samples == 1  # the bad one taught nothing
