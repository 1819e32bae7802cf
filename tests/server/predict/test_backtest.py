"""Backtest scoring on tiny fleets whose figures are worked out by hand, the CSV reader, and
`secmon predict backtest`."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from server.predict.backtest import DAYS_PER_MONTH, Ticket, ours, replay, score, spans_of
from server.predict.csvfile import CsvError, read_fleet
from server.predict.rollup import DAY_S, Sample
from tests.server.predict.series import DAY0, daily

SECTORS = "host.disk.sda.reallocated_sectors"


def ticket(device: str, opened: int, signal: str = "disk_sectors") -> Ticket:
    return Ticket(device, SECTORS, signal, opened, None, None, None)


def test_score_by_hand() -> None:
    failures = {"f1": 100, "f2": 100, "f3": 100}
    spans = {"f1": (0, 99), "f2": (0, 99), "f3": (0, 99), "h1": (0, 60), "h2": (0, 60)}
    tickets = [
        ticket("f1", 80),  # true, lead 20
        ticket("f1", 90),  # true, but not the first: lead stays 20
        ticket("f2", 60),  # true, lead 40
        ticket("f3", 5),  # 95 days ahead: beyond max_lead, not about this failure
        ticket("f3", 100),  # on the failure day: ignored
        ticket("h1", 30, "temperature"),  # false
    ]
    result = score(tickets, failures, spans, {"f1": "a", "f2": "a", "f3": "b"})
    overall = result.overall
    assert (overall.failures, overall.detected) == (3, 2)
    assert overall.recall == pytest.approx(2 / 3)
    # Considered tickets: the four before failure plus the false one; true: three.
    assert (overall.tickets, overall.true_tickets, overall.false_tickets) == (5, 3, 1)
    assert overall.precision == pytest.approx(3 / 5)
    assert overall.median_lead_days == 30.0
    assert overall.healthy_device_months == pytest.approx(122 / DAYS_PER_MONTH)
    assert overall.false_per_1000_device_months == pytest.approx(1000 / (122 / DAYS_PER_MONTH))
    assert result.per_signal["temperature"].false_tickets == 1
    assert result.per_signal["temperature"].detected == 0
    assert result.per_signal["disk_sectors"].recall == pytest.approx(2 / 3)
    assert result.per_cause["a"].recall == 1.0
    assert result.per_cause["a"].median_lead_days == 30.0
    assert result.per_cause["b"].recall == 0.0
    assert result.per_cause["b"].median_lead_days is None


def rising(days: int, rises: dict[int, float]) -> list[float]:
    values, level = [], 0.0
    for day in range(days):
        level += rises.get(day, 0.0)
        values.append(level)
    return values


def tiny_fleet() -> dict[tuple[str, str], list[Sample]]:
    return {
        # Fails on day 60: sectors rise on days 40 and 41, so the ticket opens on day 41.
        ("disk-1", SECTORS): daily(rising(60, {40: 3, 41: 2})),
        # Healthy and flat for 61 days.
        ("disk-2", SECTORS): daily([0.0] * 61),
        # Never fails, but rises on days 20 and 22: one false ticket on day 22.
        ("disk-3", SECTORS): daily(rising(61, {20: 4, 22: 4})),
    }


def test_replay_and_score_a_tiny_fleet_by_hand() -> None:
    fleet = tiny_fleet()
    tickets = replay(fleet, ours())
    assert [(t.device, t.opened_day - DAY0) for t in tickets] == [("disk-1", 41), ("disk-3", 22)]
    result = score(tickets, {"disk-1": DAY0 + 60}, spans_of(fleet))
    assert result.overall.recall == 1.0
    assert result.overall.precision == 0.5
    assert result.overall.median_lead_days == 19.0
    assert result.overall.healthy_device_months == pytest.approx(122 / DAYS_PER_MONTH)
    assert result.overall.false_per_1000_device_months == pytest.approx(
        1000 / (122 / DAYS_PER_MONTH)
    )


def write_csv(path: Path, fleet: dict[tuple[str, str], list[Sample]]) -> None:
    lines = ["device,ts,check,value"]
    for (device, check), samples in fleet.items():
        lines += [f"{device},{s.ts:.0f},{check},{s.value}" for s in samples]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_cli_backtest_prints_the_same_figures(tmp_path: Path) -> None:
    samples, failures = tmp_path / "fleet.csv", tmp_path / "failures.csv"
    write_csv(samples, tiny_fleet())
    failures.write_text(
        "device,failed_at,cause\ndisk-1,2024-12-03T00:00:00Z,sector_linear\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["predict", "backtest", "--csv", str(samples), "--failures", str(failures), "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["overall"]["recall"] == 1.0
    assert figures["overall"]["precision"] == 0.5
    assert figures["overall"]["median_lead_days"] == 19.0
    assert figures["per_cause"]["sector_linear"]["detected"] == 1
    table = CliRunner().invoke(
        app, ["predict", "backtest", "--csv", str(samples), "--failures", str(failures)]
    )
    assert table.exit_code == 0
    assert "overall" in table.output
    assert "disk_sectors" in table.output


def test_failed_at_column_in_the_samples_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.csv"
    path.write_text(
        "device,ts,check,value,part,failed_at\n"
        f"d1,{DAY0 * DAY_S},{SECTORS},0,SN1,\n"
        f"d1,{(DAY0 + 1) * DAY_S},{SECTORS},nan,SN1,{(DAY0 + 9) * DAY_S}\n"
        f"d2,2024-10-04T06:00:00,{SECTORS},1,,\n",
        encoding="utf-8",
    )
    fleet = read_fleet(path)
    assert fleet.failures == {"d1": DAY0 + 9}
    first, second = fleet.series[("d1", SECTORS)]
    assert first.part == "SN1"
    assert second.value != second.value  # NaN kept for the models to count
    assert fleet.series[("d2", SECTORS)][0].ts == DAY0 * DAY_S + 6 * 3600


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("device,ts,value\nd1,0,1\n", ":1: check: missing column"),
        ("device,ts,check,value\nd1,0,c,1\nd1,yesterday,c,1\n", ":3: ts: not a time"),
        ("device,ts,check,value\n,0,c,1\n", ":2: device: empty"),
        ("device,ts,check,value,failed_at\nd1,0,c,1,soon\n", ":2: failed_at: not a time"),
    ],
)
def test_bad_csv_names_file_line_and_field(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CsvError, match=where):
        read_fleet(path)
    result = CliRunner().invoke(app, ["predict", "backtest", "--csv", str(path)])
    assert result.exit_code == 2
    assert where in result.output


@given(
    st.lists(
        st.tuples(st.sampled_from(["f1", "f2", "h1", "h2"]), st.integers(0, 200)), max_size=20
    ),
    st.dictionaries(st.sampled_from(["f1", "f2"]), st.integers(1, 200)),
)
def test_score_invariants(opened: list[tuple[str, int]], failures: dict[str, int]) -> None:
    spans = dict.fromkeys(("f1", "f2", "h1", "h2"), (0, 199))
    result = score([ticket(d, day) for d, day in opened], failures, spans)
    figures = result.overall
    assert figures.failures == len(failures)
    assert 0 <= figures.detected <= figures.failures
    assert 0.0 <= figures.recall <= 1.0
    assert 0.0 <= figures.precision <= 1.0
    assert figures.true_tickets + figures.false_tickets <= figures.tickets
    healthy = sum(1 for d, _ in opened if d not in failures)
    assert figures.false_tickets == healthy
    if figures.median_lead_days is not None:
        assert 0 < figures.median_lead_days <= 90
