"""What the agent remembers of each camera's picture across restarts: the learned `Baseline` of
each mode (day colour, IR night) and the last snapshot's `Fingerprint`, one small JSON file per
camera in the agent's state directory.

An operator re-learn (after a camera was re-aimed on purpose) forgets a camera's baselines:
either `BaselineStore.relearn` in the agent's process, or a request file
`<device>.picture.relearn` in the state directory (`request_relearn`, used by
`secmon agent relearn`), which the next snapshot of that camera honours and removes.

Writes are atomic (temporary file, fsync, rename), so a crash mid-write leaves the previous file.
A missing or unreadable file means "start learning again", never a failed poll: the baseline is
an optimisation of judgement, not data that must not be lost. Blocking file I/O: call it from a
worker thread (`asyncio.to_thread`), as the probe does with the analysis itself.
"""

import base64
import json
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.probes.onvif.picture import (
    DETAIL_GRID,
    Baseline,
    Fingerprint,
    Mode,
    PictureOptions,
    PictureReport,
    SnapshotUnreadable,
    judge,
    measure,
)
from agent.probes.onvif.scene import PROFILE_SIZE, Profile
from wire.schema import CheckValue

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
RELEARN_SUFFIX = ".relearn"
# Device ids are already restricted by the config (wire.schema.DeviceId); checked again here
# because the id becomes a file name.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class CameraMemory:
    """One camera's learned picture state: the day (colour) baseline, the previous snapshot,
    and the IR (night mode) baseline."""

    baseline: Baseline = field(default_factory=Baseline)
    previous: Fingerprint | None = None
    night: Baseline = field(default_factory=Baseline)

    def for_mode(self, mode: Mode) -> Baseline:
        return self.night if mode is Mode.IR else self.baseline


class BaselineStore:
    """Per-camera picture memory under `directory` (created on first save), cached in memory.
    `read_only` (for `secmon agent check`): judge against the stored memory, write nothing."""

    def __init__(self, directory: Path, *, read_only: bool = False) -> None:
        self.directory = directory
        self.read_only = read_only
        self._memory: dict[str, CameraMemory] = {}
        self._save_failing: set[str] = set()

    def observe(
        self,
        device_id: str,
        jpeg: bytes,
        options: PictureOptions,
        *,
        streaming: bool | None = None,
        daytime: bool | None = None,
        ir_active: bool | None = None,
    ) -> PictureReport:
        """One picture poll: judge the snapshot against this camera's memory in its mode (IR when
        `ir_active`, or when unknown when the picture has no colour), then remember its
        fingerprint and, when the picture was normal, what it taught that mode's baseline.

        Raises `SnapshotUnreadable` for a bad snapshot and leaves the memory as it was. A memory
        that cannot be written (disk full) is logged once and kept in memory: the poll's
        result matters more than the file.
        """
        memory = self._memory.get(device_id)
        if memory is None or self._relearn_requested(device_id):
            memory = self.load(device_id)
        measured = measure(jpeg, options)
        mode = measured.mode(options, ir_active)
        report = judge(
            measured,
            memory.for_mode(mode),
            memory.previous,
            options,
            streaming=streaming,
            daytime=daytime,
            other_mode=memory.for_mode(Mode.DAY if mode is Mode.IR else Mode.IR),
        )
        report = replace(report, mode=mode)
        learned = memory.for_mode(mode).learned(report, options)
        if mode is Mode.IR:
            memory = CameraMemory(memory.baseline, report.fingerprint, learned)
        else:
            memory = CameraMemory(learned, report.fingerprint, memory.night)
        self._memory[device_id] = memory
        if self.read_only:
            return report
        try:
            self.save(device_id, memory)
        except OSError as err:
            if device_id not in self._save_failing:
                self._save_failing.add(device_id)
                log.warning("%s: picture baseline not saved: %s", device_id, err)
        else:
            if device_id in self._save_failing:
                self._save_failing.discard(device_id)
                log.info("%s: picture baseline saved again", device_id)
        return report

    def checks(
        self,
        device_id: str,
        jpeg: bytes,
        options: PictureOptions,
        *,
        streaming: bool | None = None,
        daytime: bool | None = None,
    ) -> dict[str, CheckValue]:
        """`observe` as a poll's check values: a snapshot that cannot be analysed is
        `picture.ok: false` with the reason, not a failed poll, since the camera did answer."""
        try:
            report = self.observe(device_id, jpeg, options, streaming=streaming, daytime=daytime)
        except SnapshotUnreadable as err:
            log.debug("%s: picture: %s", device_id, err)
            return {"picture.ok": False, "picture.error": str(err)[:200]}
        return {"picture.ok": True, **report.checks()}

    def memory(self, device_id: str) -> CameraMemory:
        """What this store currently remembers of the camera (loaded if not yet in memory)."""
        memory = self._memory.get(device_id)
        return self.load(device_id) if memory is None else memory

    def relearn(self, device_id: str) -> None:
        """Forget what this camera's picture normally looks like (it was re-aimed or its scene
        changed on purpose): the next snapshots are learned afresh."""
        self._memory[device_id] = CameraMemory()
        if not self.read_only:
            self.path(device_id).unlink(missing_ok=True)
            self._relearn_path(device_id).unlink(missing_ok=True)

    def request_relearn(self, device_id: str) -> None:
        """Ask the agent process that owns this directory to re-learn the camera at its next
        snapshot (a request file, so that another process, `secmon agent relearn`, can ask)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._relearn_path(device_id).touch()

    def _relearn_path(self, device_id: str) -> Path:
        return self.path(device_id).with_suffix(RELEARN_SUFFIX)

    def _relearn_requested(self, device_id: str) -> bool:
        if self.read_only or not self._relearn_path(device_id).exists():
            return False
        log.info("%s: picture baseline re-learn requested", device_id)
        self.relearn(device_id)
        return True

    def path(self, device_id: str) -> Path:
        if not _SAFE_ID.match(device_id):
            raise ValueError(f"device id {device_id!r} cannot name a baseline file")
        return self.directory / f"{device_id}.picture.json"

    def load(self, device_id: str) -> CameraMemory:
        """The stored memory, or a fresh one when there is none or it cannot be read."""
        path = self.path(device_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return CameraMemory()
        except OSError as err:
            log.warning("%s: picture baseline unreadable, learning again: %s", device_id, err)
            return CameraMemory()
        try:
            return _decode(json.loads(raw))
        except (ValueError, TypeError, KeyError, OverflowError) as err:
            log.warning(
                "%s: picture baseline %s is corrupt, learning again: %s", device_id, path, err
            )
            return CameraMemory()

    def save(self, device_id: str, memory: CameraMemory) -> None:
        """Replace the stored memory atomically."""
        path = self.path(device_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        data = json.dumps(_encode(memory), separators=(",", ":")).encode()
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=f".{device_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)


def _encode_baseline(b: Baseline) -> dict[str, Any]:
    return {
        "samples": b.samples,
        "sharpness": b.sharpness,
        "block_chroma": [None if c is None else list(c) for c in b.block_chroma],
        "profile": None if b.profile is None else _encode_profile(b.profile),
        "learning": [_encode_profile(p) for p in b.learning],
        "change_floor": b.change_floor,
        "match_floor": b.match_floor,
    }


def _encode_profile(p: Profile) -> str:
    return base64.b64encode(p.values.astype("<f4").tobytes()).decode()


def _decode_profile(data: Any) -> Profile:
    raw = base64.b64decode(str(data), validate=True)
    if len(raw) != PROFILE_SIZE * 4:
        raise ValueError(f"a scene profile has {PROFILE_SIZE} values")
    values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not np.isfinite(values).all():
        raise ValueError("a scene profile must be finite")
    return Profile(values)


def _encode(memory: CameraMemory) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "baseline": _encode_baseline(memory.baseline),
        "night": _encode_baseline(memory.night),
        "previous": None if memory.previous is None else memory.previous.to_json(),
    }


def _decode(data: Any) -> CameraMemory:
    """Raises ValueError/TypeError/KeyError for anything `_encode` did not write."""
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} picture baseline")
    previous = data["previous"]
    return CameraMemory(
        baseline=_decode_baseline(data["baseline"]),
        previous=None if previous is None else Fingerprint.from_json(previous),
        night=_decode_baseline(data["night"]),
    )


def _decode_baseline(b: Any) -> Baseline:
    samples, sharpness = b["samples"], float(b["sharpness"])
    if not isinstance(samples, int) or samples < 0:
        raise ValueError("samples must be a non-negative integer")
    if not math.isfinite(sharpness) or sharpness < 0:
        raise ValueError("sharpness must be finite and not negative")
    blocks = b["block_chroma"]
    if not isinstance(blocks, list) or len(blocks) not in (0, DETAIL_GRID[0] * DETAIL_GRID[1]):
        raise ValueError("block_chroma must list every detail block")
    block_chroma: list[tuple[float, float] | None] = []
    for block in blocks:
        if block is None:
            block_chroma.append(None)
            continue
        if not isinstance(block, list) or len(block) != 2:
            raise ValueError("block chroma must be [cb, cr]")
        cb, cr = float(block[0]), float(block[1])
        if not (math.isfinite(cb) and math.isfinite(cr)):
            raise ValueError("block chroma must be finite")
        block_chroma.append((cb, cr))
    learning = b.get("learning", [])
    if not isinstance(learning, list) or len(learning) > 1000:
        raise ValueError("learning must list at most 1000 profiles")
    floor = b.get("change_floor")
    if floor is not None and (not math.isfinite(float(floor)) or float(floor) < 0):
        raise ValueError("change_floor must be finite and not negative")
    match_floor = b.get("match_floor")
    if match_floor is not None and not -1 <= float(match_floor) <= 1:
        raise ValueError("match_floor must be within -1..1")
    profile = b.get("profile")
    return Baseline(
        samples=samples,
        sharpness=sharpness,
        block_chroma=tuple(block_chroma),
        profile=None if profile is None else _decode_profile(profile),
        learning=tuple(_decode_profile(p) for p in learning),
        change_floor=None if floor is None else float(floor),
        match_floor=None if match_floor is None else float(match_floor),
    )
