"""The backtest fleet generator knows nothing of the models, and its devices stop reporting at
their failure. The bench itself is not run here."""

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench" / "predict_fleet.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_predict_fleet", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fleet: Any = _load()


def test_generator_imports_nothing_of_secmon() -> None:
    tree = ast.parse(BENCH.read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"server", "agent", "wire", "cli", "bench", "tests"}, imported


def test_every_shape_fails_and_stops_reporting_at_its_failure() -> None:
    devices = fleet.build(5, fleet.FleetSpec(days=130, failing_per_shape=1, healthy_factor=2))
    failing = [d for d in devices if d.shape is not None]
    assert sorted(d.shape for d in failing) == sorted(fleet.SHAPES)
    assert len(devices) == 3 * len(failing)
    start_day = fleet.START / fleet.DAY
    for device in failing:
        last_day = max(row.ts for row in device.rows) / fleet.DAY - start_day
        assert last_day < device.failed_day, device.name
    assert all(d.failed_day is None for d in devices if d.shape is None)
