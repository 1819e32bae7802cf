"""`secmon demo`: a fresh SQLite server, the simulated site of a scenario (`secmon simulate`:
snmpsim, ONVIF, Mosquitto on 127.0.0.1) and an agent watching it, until Ctrl-C.

Everything runs through the same commands an installer uses (`secmon db upgrade`, `secmon admin`,
`secmon server run`, `secmon agent run`), so the demo also shows how to set secmon up.
"""

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from configfile import ConfigError
from simulate.runner import agent_config, play, stop_on_signals, tour
from simulate.scenario import Scenario, load_scenario
from simulate.site import Site
from wire.ids import uuid7

log = logging.getLogger("secmon.demo")

CLIENT = "Demo Security Integrator Client"
SITE = "HQ"
# The demo's logins, one per role a newcomer wants to see: the service manager, a technician
# working the tickets, and the client reading the status page.
USERS = {"manager": "manager", "technician": "technician", "client": "client"}
SECMON = [sys.executable, "-m", "cli.main"]
HISTORY_DAYS = 25  # within the 30 days raw samples are kept


def _secmon(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*SECMON, *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise DemoError(f"secmon {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


class DemoError(RuntimeError):
    """The demo cannot start; the message says why and what to do."""


def check_port_free(port: int) -> None:
    """Refuse a port another program listens on before starting anything on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as err:
            raise DemoError(
                f"port {port} is in use by another program ({err.strerror}); "
                f"stop it or choose another port: secmon demo --port {port + 1}"
            ) from err


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes], *, instance: str, deadline_s: float = 60
) -> None:
    """Wait until the server started as `proc` answers; another server on the URL is an error.

    The server echoes `instance` (SECMON_INSTANCE) on /healthz, so an answer without it comes
    from some other program holding the port, however healthy it looks.
    """
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if proc.poll() is not None:
            raise DemoError(f"server exited with code {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = httpx.get(f"{url}/healthz", timeout=1)
            if answer.status_code == 200:
                if answer.json().get("instance") == instance:
                    return
                raise DemoError(f"{url} answers, but it is not this demo's server")
        time.sleep(0.3)
    raise DemoError(f"server did not become healthy within {deadline_s:.0f} s")


def run(
    *,
    port: int,
    data_dir: Path,
    scenario: str = "demo",
    time_scale: float = 1.0,
    interval: float = 5,
) -> int:
    """Set everything up from scratch in `data_dir`, run until interrupted, return an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        return _run(
            port=port,
            data_dir=data_dir,
            scenario=load_scenario(scenario),
            time_scale=time_scale,
            interval=interval,
        )
    except (DemoError, ConfigError) as err:
        log.error("secmon demo: %s", err)
        return 1


def _run(
    *, port: int, data_dir: Path, scenario: Scenario, time_scale: float, interval: float
) -> int:
    check_port_free(port)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    data_dir = data_dir.resolve()
    passwords = {user: secrets.token_urlsafe(9) for user in USERS}
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{data_dir / 'secmon.db'}",
        "SECMON_SECRET_KEY": secrets.token_urlsafe(32),
        "SECMON_INSTANCE": f"demo-{secrets.token_hex(8)}",
        # Forecasts within a minute, not five; inspection rounds every 20 s, not 10 min.
        "SECMON_PREDICT_ROLLUP_SECONDS": "10",
        "SECMON_INSPECTION_SECONDS": "20",
    }
    if scenario.cues:  # the console's Training page fires them (server/api/console_training.py)
        env["SECMON_TRAINING_DIR"] = str(data_dir)
    _secmon(env, "db", "upgrade")
    _secmon(env, "admin", "create-client", CLIENT)
    _secmon(
        env, "admin", "create-site", "--client", CLIENT, "--name", SITE, "--zone", "ring_2",
        "--timezone", "UTC",
    )  # fmt: skip
    token = _secmon(env, "admin", "create-agent-token", "--site", SITE).strip().splitlines()[-1]
    (data_dir / "agent-token").write_text(token.strip() + "\n")
    (data_dir / "agent-token").chmod(0o600)
    for user, role in USERS.items():
        extra = ["--client", CLIENT] if role == "client" else []
        _secmon(
            {**env, "SECMON_DEMO_PASSWORD": passwords[user]},
            *("admin", "create-user", "--username", user, "--role", role, *extra),
            *("--password-env", "SECMON_DEMO_PASSWORD"),
        )
    link = _secmon(env, "admin", "status-link", "--client", CLIENT).strip().splitlines()[-1]
    url = f"http://127.0.0.1:{port}"

    server = subprocess.Popen([*SECMON, "server", "run", "--port", str(port)], env=env)
    try:
        wait_healthy(url, server, instance=env["SECMON_INSTANCE"])
        asyncio.run(
            _run_site(
                scenario,
                data_dir=data_dir,
                env=env,
                url=url,
                token=token.strip(),
                banner=lambda site, config: _banner(
                    site,
                    url=url,
                    link=link,
                    passwords=passwords,
                    config=config,
                    data_dir=data_dir,
                ),
                login=("manager", passwords["manager"]),
                time_scale=time_scale,
                interval=interval,
            )
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        # Stopping already: a Ctrl-C that reaches the demo now (it reaches the agent too, which
        # may finish first) must not cut the server's shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)
    return 0


def _banner(
    site: Site,
    *,
    url: str,
    link: str,
    passwords: dict[str, str],
    config: Path,
    data_dir: Path,
) -> str:
    logins = ", ".join(f"{user} / {passwords[user]}" for user in USERS if USERS[user] != "client")
    client = next(user for user, role in USERS.items() if role == "client")
    devices = ", ".join(d.id for d in site.scenario.devices if d.id in site.endpoints())
    lines = [
        "",
        f"secmon demo is running: scenario {site.scenario.name!r}",
        f"  server:   {url}  (API docs: {url}/docs)",
        f"  console:  {url}/console  (login {logins})",
        f"  status:   {url}{link}  (the client's page, shared by link; "
        f"client login {client} / {passwords[client]})",
        f"  devices:  {devices}",
        *(f"  note:     {why}" for why in site.skipped),
        f"  wear:     {HISTORY_DAYS} days of nvr-01 disk sectors and ups-01 battery runtime, "
        "time-compressed: preventive tickets within a minute",
        "  inspection: this month's, telemetry rows pre-filled, within a few minutes "
        f"({url}/api/v1/inspections)",
        f"  agent:    {config}",
        "The scenario starts once the agent has reported every device.",
    ]
    if site.scenario.cues:
        lines.append(
            f"  cues:     {url}/console/training (manager login), "
            f"or secmon cue NAME --data-dir {data_dir}"
        )
    return "\n".join(lines) + "\nPress Ctrl-C to stop.\n"


def wear_history(now: datetime) -> list[dict[str, object]]:
    """Time-compressed wear: the NVR's second disk has gathered bad sectors over the last weeks
    and the UPS battery's runtime has been fading, one reading a day, so the forecast job opens
    preventive tickets within a minute of the demo's start. The live simulated devices carry on
    from where this history ends (simulate/scenarios/demo.yaml: bad_sectors,
    battery_runtime_min)."""
    samples: list[dict[str, object]] = []
    sectors = 0
    for age in range(HISTORY_DAYS, 0, -1):
        day = HISTORY_DAYS - age
        if day >= 10 and day % 3 == 0:
            sectors += 4
        ts = (now - timedelta(days=age)).isoformat()
        samples.append(
            {
                "id": str(uuid7()),
                "device_id": "nvr-01",
                "ts": ts,
                "probe": "snmp",
                "reachable": True,
                "checks": {"syno.disk.disk_2.bad_sectors": sectors},
            }
        )
        samples.append(
            {
                "id": str(uuid7()),
                "device_id": "ups-01",
                "ts": ts,
                "probe": "snmp",
                "reachable": True,
                "checks": {"ups.battery.minutes_remaining": 30 - 0.6 * max(0, day - 8)},
            }
        )
    return samples


async def _post_history(url: str, token: str) -> None:
    """Send the wear history once the agent has registered the devices (until then the server
    answers that it does not know them)."""
    body = {"samples": wear_history(datetime.now(UTC))}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(120):
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.post(f"{url}/api/v1/ingest", json=body, headers=headers)
                if answer.status_code == 200:
                    log.info("demo: %d days of disk and battery wear sent", HISTORY_DAYS)
                    return
            await asyncio.sleep(1)
    log.error("demo: the wear history was not accepted")


async def _scenario(
    site: Site, *, url: str, login: tuple[str, str], data_dir: Path, time_scale: float
) -> None:
    """Play the scenario from the moment the server has seen every device answer: the status
    page is green then, and the tour's times count from there."""
    expected = set(site.endpoints())
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, IndexError):
                if expected <= await _devices_up(client, login):
                    break
            await asyncio.sleep(1)
    print(
        f"\nscenario {site.scenario.name!r} starts now; watch (minutes:seconds from now):\n"
        + "\n".join(tour(site.scenario, time_scale=time_scale)),
        flush=True,
    )
    await play(site, data_dir=data_dir)


async def _devices_up(client: httpx.AsyncClient, login: tuple[str, str]) -> set[str]:
    """The ids of the site's devices the server holds as up."""
    username, password = login
    form = {"username": username, "password": password}
    token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    site_id = (await client.get("/api/v1/sites", headers=headers)).json()[0]["id"]
    rows = (await client.get(f"/api/v1/sites/{site_id}/devices", headers=headers)).json()
    return {d["ext_id"] for d in rows if d["state"]["status"] == "up"}


async def _run_site(
    scenario: Scenario,
    *,
    data_dir: Path,
    env: dict[str, str],
    url: str,
    token: str,
    banner: Callable[[Site, Path], str],
    login: tuple[str, str],
    time_scale: float,
    interval: float,
) -> None:
    """Run the simulated site and the agent until the agent exits (or Ctrl-C, or SIGTERM)."""
    stop_on_signals(signal.SIGTERM)  # Ctrl-C keeps asyncio's own handling (KeyboardInterrupt)
    try:
        site = await Site.start(scenario, time_scale=time_scale)
    except (RuntimeError, OSError) as err:  # a peer that did not come up: it says why
        raise DemoError(f"the simulated site did not start: {err}") from err
    tasks: list[asyncio.Task[None]] = []
    try:
        config = agent_config(
            site,
            data_dir=data_dir,
            server_url=url,
            token_file=data_dir / "agent-token",
            interval=interval,
        )
        agent = await asyncio.create_subprocess_exec(
            *SECMON, "agent", "run", "--config", str(config), env=env
        )
        print(banner(site, config), flush=True)
        tasks.append(asyncio.create_task(_post_history(url, token), name="demo-wear-history"))
        tasks.append(
            asyncio.create_task(
                _scenario(site, url=url, login=login, data_dir=data_dir, time_scale=time_scale),
                name="demo-scenario",
            )
        )
        try:
            code = await agent.wait()
            if code == 0:  # stopped as asked: Ctrl-C reaches the agent too
                log.info("agent stopped, stopping the demo")
            else:
                log.error("agent exited with code %s", code)
        finally:
            if agent.returncode is None:
                agent.send_signal(signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(15):
                        await agent.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await site.close()
