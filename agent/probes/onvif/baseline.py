"""What the agent remembers of each camera's picture across restarts: the learned `Baseline` and
the last snapshot's `Fingerprint`, one small JSON file per camera in the agent's state directory.

Writes are atomic (temporary file, fsync, rename), so a crash mid-write leaves the previous file.
A missing or unreadable file means "start learning again", never a failed poll: the baseline is
an optimisation of judgement, not data that must not be lost. Blocking file I/O: call it from a
worker thread (`asyncio.to_thread`), as the probe does with the analysis itself.
"""

import json
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.probes.onvif.picture import (
    DETAIL_GRID,
    Baseline,
    Fingerprint,
    PictureOptions,
    PictureReport,
    SnapshotUnreadable,
    analyse,
)
from wire.schema import CheckValue

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Device ids are already restricted by the config (wire.schema.DeviceId); checked again here
# because the id becomes a file name.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class CameraMemory:
    """One camera's learned picture state."""

    baseline: Baseline = field(default_factory=Baseline)
    previous: Fingerprint | None = None


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
    ) -> PictureReport:
        """One picture poll: judge the snapshot against this camera's memory, then remember its
        fingerprint and, when the picture was normal, what it taught the baseline.

        Raises `SnapshotUnreadable` for a bad snapshot and leaves the memory as it was. A memory
        that cannot be written (disk full) is logged once and kept in memory: the poll's
        result matters more than the file.
        """
        memory = self._memory.get(device_id)
        if memory is None:
            memory = self.load(device_id)
        report = analyse(
            jpeg, memory.baseline, memory.previous, options, streaming=streaming, daytime=daytime
        )
        memory = CameraMemory(memory.baseline.learned(report, options), report.fingerprint)
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


def _encode(memory: CameraMemory) -> dict[str, Any]:
    b = memory.baseline
    return {
        "version": FORMAT_VERSION,
        "baseline": {
            "samples": b.samples,
            "sharpness": b.sharpness,
            "block_chroma": [None if c is None else list(c) for c in b.block_chroma],
        },
        "previous": None if memory.previous is None else memory.previous.to_json(),
    }


def _decode(data: Any) -> CameraMemory:
    """Raises ValueError/TypeError/KeyError for anything `_encode` did not write."""
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError("not a version 1 picture baseline")
    b = data["baseline"]
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
    baseline = Baseline(samples=samples, sharpness=sharpness, block_chroma=tuple(block_chroma))
    previous = data["previous"]
    return CameraMemory(
        baseline=baseline,
        previous=None if previous is None else Fingerprint.from_json(previous),
    )
