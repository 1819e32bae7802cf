"""Read the backtest's long-format CSV (format in docs/predictive-maintenance.md).

Samples: header with `device,ts,check,value`, optional `part` and `failed_at`. Failures, when in
a second file: `device,failed_at`, optional `cause`. A value that is not a number is kept as NaN
(the models count and explain it); a line whose device, time or check cannot be read stops the
read with the file, line and field named.
"""

import csv
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from server.predict.rollup import Sample, day_of

REQUIRED = ("device", "ts", "check", "value")


class CsvError(ValueError):
    def __init__(self, path: Path, line: int, column: str, reason: str) -> None:
        super().__init__(f"{path}:{line}: {column}: {reason}")


@dataclass(slots=True)
class Fleet:
    series: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # device → UTC day number
    causes: dict[str, str] = field(default_factory=dict)


def parse_ts(text: str) -> float:
    """Unix seconds, or ISO 8601 (a time without offset is UTC)."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a time")
    return value


def parse_value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in required if name not in (reader.fieldnames or [])]
        if missing:
            raise CsvError(path, 1, missing[0], "missing column in the header")
        for row in reader:
            yield reader.line_num, row


def _field(path: Path, line: int, row: dict[str, str], name: str) -> str:
    value = row.get(name)
    if value is None or not value.strip():
        raise CsvError(path, line, name, "empty")
    return value.strip()


def _failed_day(path: Path, line: int, text: str) -> int:
    try:
        return day_of(parse_ts(text))
    except ValueError as err:
        raise CsvError(path, line, "failed_at", f"not a time: {text!r}") from err


def read_fleet(samples: Path, failures: Path | None = None) -> Fleet:
    fleet = Fleet()
    series: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for line, row in _rows(samples, REQUIRED):
        device = _field(samples, line, row, "device")
        check = _field(samples, line, row, "check")
        try:
            ts = parse_ts(_field(samples, line, row, "ts"))
        except ValueError as err:
            raise CsvError(samples, line, "ts", f"not a time: {row['ts']!r}") from err
        part = (row.get("part") or "").strip() or None
        series[(device, check)].append(Sample(ts, parse_value(row["value"] or ""), part))
        failed = (row.get("failed_at") or "").strip()
        if failed:
            fleet.failures[device] = _failed_day(samples, line, failed)
    if failures is not None:
        for line, row in _rows(failures, ("device", "failed_at")):
            device = _field(failures, line, row, "device")
            failed = (row.get("failed_at") or "").strip()
            if failed:
                fleet.failures[device] = _failed_day(failures, line, failed)
                cause = (row.get("cause") or "").strip()
                if cause:
                    fleet.causes[device] = cause
    fleet.series = dict(series)
    return fleet
