"""`secmon demo`: a fresh SQLite server, local demo devices and an agent, until Ctrl-C.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml

from demo.targets import Target, free_port, serve_target
from wire.ids import uuid7

log = logging.getLogger("secmon.demo")

CLIENT = "Demo Security Integrator Client"
SITE = "HQ"
ADMIN_USER = "admin"
SECMON = [sys.executable, "-m", "cli.main"]
HISTORY_DAYS = 25  # within the 30 days raw samples are kept


def _targets() -> list[Target]:
    return [
        Target("nvr-01", "Main NVR", "nvr", "video", free_port(), "up"),
        Target("cam-01", "Lobby camera", "camera", "video", free_port(), "up"),
        Target("cam-02", "Car park camera", "camera", "video", free_port(), "flapping"),
        Target("cam-03", "Loading bay camera", "camera", "video", free_port(), "down"),
        Target("alarm-01", "Intrusion panel", "alarm_panel", "alarm", free_port(), "up"),
        Target("ups-01", "Rack UPS", "ups", "power", free_port(), "down"),
    ]


def _secmon(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*SECMON, *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise DemoError(f"secmon {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _agent_config(targets: list[Target], *, data_dir: Path, server_url: str) -> dict[str, object]:
    return {
        "site": SITE,
        "server": {"url": server_url, "token": {"file": str(data_dir / "agent-token")}},
        "agent": {
            "outbox_path": str(data_dir / "outbox.db"),
            "metrics_listen": f"127.0.0.1:{free_port()}",
        },
        "devices": [
            {
                "id": t.device_id,
                "name": t.name,
                "class": t.device_class,
                "subsystem": t.subsystem,
                "protocol": "tcp",
                "address": "127.0.0.1",
                "port": t.port,
                "interval": 10,
                "timeout": 3,
            }
            for t in targets
        ],
    }


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


def run(*, port: int, data_dir: Path) -> int:
    """Set everything up from scratch in `data_dir`, run until interrupted, return an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        return _run(port=port, data_dir=data_dir)
    except DemoError as err:
        log.error("secmon demo: %s", err)
        return 1


def _run(*, port: int, data_dir: Path) -> int:
    check_port_free(port)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    data_dir = data_dir.resolve()
    password = secrets.token_urlsafe(9)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{data_dir / 'secmon.db'}",
        "SECMON_SECRET_KEY": secrets.token_urlsafe(32),
        "SECMON_DEMO_PASSWORD": password,
        "SECMON_INSTANCE": f"demo-{secrets.token_hex(8)}",
        # Forecasts within a minute, not five.
        "SECMON_PREDICT_ROLLUP_SECONDS": "10",
    }
    _secmon(env, "db", "upgrade")
    _secmon(env, "admin", "create-client", CLIENT)
    _secmon(
        env, "admin", "create-site", "--client", CLIENT, "--name", SITE, "--zone", "ring_2",
        "--timezone", "UTC",
    )  # fmt: skip
    token = _secmon(env, "admin", "create-agent-token", "--site", SITE).strip().splitlines()[-1]
    (data_dir / "agent-token").write_text(token.strip() + "\n")
    (data_dir / "agent-token").chmod(0o600)
    _secmon(
        env, "admin", "create-user", "--username", ADMIN_USER, "--role", "admin",
        "--password-env", "SECMON_DEMO_PASSWORD",
    )  # fmt: skip

    link = _secmon(env, "admin", "status-link", "--client", CLIENT).strip().splitlines()[-1]

    targets = _targets()
    url = f"http://127.0.0.1:{port}"
    config_path = data_dir / "agent.yaml"
    config_path.write_text(
        yaml.safe_dump(_agent_config(targets, data_dir=data_dir, server_url=url))
    )

    server = subprocess.Popen([*SECMON, "server", "run", "--port", str(port)], env=env)
    try:
        wait_healthy(url, server, instance=env["SECMON_INSTANCE"])
        print(
            f"\nsecmon demo is running\n"
            f"  server:   {url}  (API docs: {url}/docs)\n"
            f"  console:  {url}/console  (login {ADMIN_USER} / {password})\n"
            f"  status:   {url}{link}  (the client's page, shared by link)\n"
            f"  devices:  {', '.join(f'{t.device_id} ({t.behaviour})' for t in targets)}\n"
            f"  wear:     {HISTORY_DAYS} days of nvr-01 disk sectors and ups-01 battery runtime, "
            f"time-compressed: preventive tickets within a minute\n"
            f"  agent:    {config_path}\n"
            f"Press Ctrl-C to stop.\n",
            flush=True,
        )
        asyncio.run(
            _run_site(
                targets,
                config_path=config_path,
                env=env,
                url=url,
                token=token.strip(),
            )
        )
    except KeyboardInterrupt:
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


def wear_history(now: datetime) -> list[dict[str, object]]:
    """Time-compressed wear: the NVR's disk has gathered reallocated sectors over the last weeks
    and the UPS battery's runtime has been fading, one reading a day, so the forecast job opens
    preventive tickets within a minute of the demo's start."""
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
                "probe": "host",
                "reachable": True,
                "checks": {"host.disk.sda.reallocated_sectors": sectors},
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


async def _run_site(
    targets: list[Target], *, config_path: Path, env: dict[str, str], url: str, token: str
) -> None:
    """Run the demo devices and the agent until the agent exits (or Ctrl-C)."""
    tasks = [asyncio.create_task(serve_target(t), name=f"demo-{t.device_id}") for t in targets]
    tasks.append(asyncio.create_task(_post_history(url, token), name="demo-wear-history"))
    agent = await asyncio.create_subprocess_exec(
        *SECMON, "agent", "run", "--config", str(config_path), env=env
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
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
