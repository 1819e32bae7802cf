"""`secmon simulate SCENARIO`: the simulated site, the agent config that watches it, the
scenario's timeline, and the instructor's cues, until Ctrl-C.

Cues are files (`simulate/cues.py`): `secmon cue NAME` or the console's training page drops one
in `<data dir>/cues/`, the running simulator plays the cue's steps.
"""

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

import yaml

from simulate.cues import announce, take_cues
from simulate.peers.snmp import free_udp_port
from simulate.scenario import Scenario, clock
from simulate.site import Site

log = logging.getLogger("secmon.simulate")

CUE_POLL_S = 0.5


def tour(scenario: Scenario, *, time_scale: float) -> list[str]:
    """The timeline's notes as cues for a watcher: "00:45  cam-07 unplugged …"."""
    lines = [f"  {clock(s.at * time_scale)}  {s.note}" for s in scenario.timeline if s.note]
    if scenario.cues:
        lines.append("  instructor cues (console: Training, or secmon cue NAME --data-dir …):")
        lines += [f"    {name}" for name in scenario.cues]
    return lines


def agent_config(
    site: Site, *, data_dir: Path, server_url: str, token_file: Path, interval: float
) -> Path:
    """Write the agent config that watches this site (and its secrets) into `data_dir`."""
    site.trap_port = free_udp_port()
    config: dict[str, Any] = {
        "site": "HQ",
        "server": {"url": server_url, "token": {"file": str(token_file)}},
        "agent": {
            "outbox_path": str(data_dir / "outbox.db"),
            "snmp_trap_listen": f"127.0.0.1:{site.trap_port}",
        },
        "devices": site.agent_devices(interval=interval, secrets_dir=data_dir),
    }
    path = data_dir / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


async def play(site: Site, *, data_dir: Path, origin: float | None = None) -> None:
    """The timeline from `origin` (monotonic; default now), then the cues, until cancelled."""
    start = time.monotonic() if origin is None else origin
    scenario = site.scenario
    watcher = asyncio.create_task(_watch_cues(site, data_dir), name="simulate-cues")
    try:
        for step in sorted(scenario.timeline, key=lambda s: s.at):
            await asyncio.sleep(max(0.0, start + step.at * site.time_scale - time.monotonic()))
            await site.apply(step, origin=start)
        if scenario.timeline:
            log.info("scenario %s: timeline played", scenario.name)
        await watcher
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _watch_cues(site: Site, data_dir: Path) -> None:
    announce(data_dir, site.scenario.cues)
    while True:
        for name in take_cues(data_dir):
            steps = site.scenario.cues.get(name)
            if steps is None:
                log.warning("cue %r is not in scenario %s: ignored", name, site.scenario.name)
                continue
            log.info("cue %s", name)
            origin = time.monotonic()
            for step in steps:
                await site.apply(step, origin=origin)
        await asyncio.sleep(CUE_POLL_S)


def stop_on_signals(*signals: signal.Signals) -> None:
    """Ctrl-C and SIGTERM (by default) cancel the running main task, so its `finally` stops
    the site: whatever the signals' inherited handling (a background shell ignores SIGINT)."""
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    for sig in signals or (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)


def run(
    scenario: Scenario,
    *,
    data_dir: Path,
    server_url: str,
    token_file: Path,
    interval: float,
    time_scale: float,
) -> int:
    """`secmon simulate`: run the site until Ctrl-C; the agent is the operator's to run."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(
            _simulate(
                scenario,
                data_dir=data_dir,
                server_url=server_url,
                token_file=token_file.resolve(),
                interval=interval,
                time_scale=time_scale,
            )
        )
    return 0


async def _simulate(
    scenario: Scenario,
    *,
    data_dir: Path,
    server_url: str,
    token_file: Path,
    interval: float,
    time_scale: float,
) -> None:
    stop_on_signals()
    site = await Site.start(scenario, time_scale=time_scale)
    try:
        config = agent_config(
            site, data_dir=data_dir, server_url=server_url, token_file=token_file, interval=interval
        )
        lines = [f"simulated site {scenario.name!r} is running", *site.skipped]
        lines += [f"  {device:<10} {where}" for device, where in site.endpoints().items()]
        lines += [f"agent config: {config}  (secmon agent run --config {config})"]
        lines += tour(scenario, time_scale=time_scale)
        print("\n".join(lines) + "\nPress Ctrl-C to stop.", flush=True)
        await play(site, data_dir=data_dir)
    finally:
        await site.close()
