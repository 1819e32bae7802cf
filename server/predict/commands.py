"""`secmon predict …`: the offline backtest on a CSV, printed as a table or JSON."""

import json
import sys
from dataclasses import asdict
from pathlib import Path

from server.predict.backtest import Figures, Score, ours, replay, score, spans_of
from server.predict.csvfile import CsvError, read_fleet

EXIT_BAD_INPUT = 2


def _row(name: str, figures: Figures, *, tickets: bool = True) -> str:
    """One line; a cause's line leaves out the ticket columns (they are the overall ones)."""
    lead = "-" if figures.median_lead_days is None else f"{figures.median_lead_days:.0f}"
    precision = f"{figures.precision:>9.2f}" if tickets else f"{'-':>9}"
    false = (
        f"{figures.false_tickets:>6} {figures.false_per_1000_device_months:>12.2f}"
        if tickets
        else f"{'-':>6} {'-':>12}"
    )
    return (
        f"{name:<20} {figures.failures:>8} {figures.detected:>8} {figures.recall:>6.2f} "
        f"{precision} {lead:>9} {false}"
    )


def format_score(result: Score) -> str:
    head = (
        f"{'signal':<20} {'failures':>8} {'detected':>8} {'recall':>6} {'precision':>9} "
        f"{'lead_days':>9} {'false':>6} {'false/1000dm':>12}"
    )
    lines = [head, _row("overall", result.overall)]
    lines += [_row(name, figures) for name, figures in result.per_signal.items()]
    if result.per_cause:
        lines.append("by cause of failure (every ticket counts):")
        lines += [_row(name, figures, tickets=False) for name, figures in result.per_cause.items()]
    lines.append(f"healthy device-months: {result.overall.healthy_device_months:.1f}")
    return "\n".join(lines)


def backtest(csv_path: Path, failures_path: Path | None, *, as_json: bool) -> int:
    try:
        fleet = read_fleet(csv_path, failures_path)
    except (CsvError, OSError, UnicodeDecodeError) as err:
        print(f"secmon predict backtest: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    tickets = replay(fleet.series, ours())
    result = score(tickets, fleet.failures, spans_of(fleet.series), fleet.causes)
    if as_json:
        print(json.dumps(asdict(result)))
    else:
        print(format_score(result))
    return 0
