"""Device state changes worth one log line each (`cam-01: unreachable`, `cam-01: back after 4m`);
polls that change nothing log nothing."""

from dataclasses import dataclass

from wire.schema import Sample

OK = "ok"


def status_of(sample: Sample) -> str:
    return OK if sample.error is None else sample.error.code.value


def label(status: str) -> str:
    """`device.unreachable` → `unreachable`: the short name people read in logs."""
    return status.rpartition(".")[2]


def format_duration(seconds: float) -> str:
    """Compact human duration: 35s, 4m, 1h05m, 2d03h."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


@dataclass
class _Seen:
    status: str
    since: float


class StatusTracker:
    """Remembers each device's last status; `observe` returns a message only on a change."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def observe(self, sample: Sample, now: float) -> str | None:
        status = status_of(sample)
        device = sample.device_id
        seen = self._seen.get(device)
        if seen is not None and seen.status == status:
            return None
        self._seen[device] = _Seen(status=status, since=now)
        detail = sample.error.message if sample.error and sample.error.message else ""
        if status == OK:
            if seen is None:
                return None
            return f"{device}: back after {format_duration(now - seen.since)}"
        if seen is None or seen.status == OK:
            return _with_detail(f"{device}: {label(status)}", detail)
        return _with_detail(f"{device}: {label(status)} (was {label(seen.status)})", detail)


def _with_detail(message: str, detail: str) -> str:
    return f"{message}: {detail}" if detail else message
