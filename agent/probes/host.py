"""The gateway itself: its filesystems' fill, its disks' SMART (through `smartctl --json`) and the
temperatures Linux exposes under /sys/class/hwmon. The parsing is in `smart.py`.

No smartctl on the machine, or a disk without SMART (a virtual disk), gives the check
`unsupported`; a smartctl answer that is not its JSON gives `error` for that disk only. The
filesystem and sensor checks are read either way.
"""

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from agent.config import DeviceConfig
from agent.probes.base import DeviceUnreachable, ProbeResult
from agent.probes.smart import (
    UNSUPPORTED,
    SmartError,
    disk_key,
    filesystem_checks,
    hwmon_check,
    parse_mounts,
    parse_scan,
    parse_smart,
)
from wire.schema import CheckValue

Runner = Callable[[Sequence[str]], Awaitable[tuple[int, bytes]]]


async def run_command(args: Sequence[str]) -> tuple[int, bytes]:
    """Run a command, return its exit code and standard output (stderr is discarded)."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        out, _ = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out


class HostProbe:
    def __init__(
        self,
        *,
        smartctl: str | None = None,
        run: Runner = run_command,
        mounts: Path = Path("/proc/mounts"),
        hwmon: Path = Path("/sys/class/hwmon"),
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self._smartctl = smartctl
        self._run = run
        self._mounts = mounts
        self._hwmon = hwmon
        self._which = which

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        checks: dict[str, CheckValue] = {}
        try:
            async with asyncio.timeout(device.timeout):
                checks |= await asyncio.to_thread(self._filesystems)
                checks |= await asyncio.to_thread(self._sensors)
                checks |= await self._smart()
        except TimeoutError as err:
            raise DeviceUnreachable(
                f"host checks did not finish within {device.timeout:g} s"
            ) from err
        return ProbeResult(checks=checks)

    def _filesystems(self) -> dict[str, CheckValue]:
        checks: dict[str, CheckValue] = {}
        try:
            text = self._mounts.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {"host.fs": UNSUPPORTED}
        for mount in parse_mounts(text):
            try:
                usage = shutil.disk_usage(mount.path)
            except OSError:
                continue
            checks |= filesystem_checks(mount.path, usage.total, usage.free)
        return checks

    def _sensors(self) -> dict[str, CheckValue]:
        checks: dict[str, CheckValue] = {}
        if not self._hwmon.is_dir():
            return checks
        for chip_dir in sorted(self._hwmon.iterdir()):
            try:
                chip = (chip_dir / "name").read_text(encoding="utf-8").strip() or chip_dir.name
                inputs = sorted(chip_dir.glob("temp*_input"))
            except OSError:
                continue
            for sensor in inputs:
                try:
                    reading = hwmon_check(
                        chip, sensor.name.removesuffix("_input"), sensor.read_text()
                    )
                except OSError:
                    continue
                if reading is not None:
                    checks[reading[0]] = reading[1]
        return checks

    async def _smart(self) -> dict[str, CheckValue]:
        exe = self._smartctl or self._which("smartctl")
        if exe is None:
            return {"host.smart": UNSUPPORTED}
        try:
            _, out = await self._run([exe, "--scan-open", "--json"])
            disks = parse_scan(json.loads(out))
        except (OSError, ValueError) as err:  # SmartError and JSONDecodeError are ValueErrors
            return {"host.smart": f"error: {err}"[:200]}
        checks: dict[str, CheckValue] = {"host.smart": "ok"}
        for name, kind in disks:
            key = disk_key(name)
            args = [exe, "--json", "-a", name, *(["-d", kind] if kind else [])]
            try:
                _, out = await self._run(args)
                checks |= parse_smart(json.loads(out), key)
            except (OSError, ValueError, SmartError):
                checks[f"host.disk.{key}.smart"] = "error"
        return checks
