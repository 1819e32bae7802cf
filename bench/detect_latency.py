"""Detection latency: a device goes dark → the ticket row exists, vs Prometheus + Alertmanager.

Ours: a real `secmon server run` (SQLite) and `secmon agent run` polling N TCP devices every
10 s (2 failing polls confirm). Each device is a trial: the devices go dark at staggered times
(so the outage falls anywhere in the poll cycle) and latency = the ticket's `created_at` minus
the moment its port closed. Peer, same machine, same kind of outage: Debian's Prometheus +
blackbox exporter (`tcp_connect`) + Alertmanager with default-ish settings — scrape and rule
evaluation every 15 s, `for: 0s`, `group_wait: 30s`, grouped per instance — to a local webhook
receiver; latency = the webhook's arrival minus the moment the port closed.
Run: `.venv/bin/python bench/detect_latency.py [--trials N]`. Ends with one JSON line.
"""

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.models import Device, DeviceState, Ticket
from tests.e2e.site import AgentProcess, Listener, wait_for
from tests.peers.net import free_port
from tests.peers.server import ServerProcess, provision

POLL_S = 10
CONFIRMATIONS = 2
SPREAD_S = 20.0  # outages start over this span, so they land anywhere in the poll cycle
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
BLACKBOX = shutil.which("prometheus-blackbox-exporter")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 2),
        "p90": round(percentile(values, 90), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2),
        "n": len(values),
    }


def darken(listeners: dict[str, Listener], dark_at: dict[str, datetime]) -> None:
    """Close each listener at its own offset over SPREAD_S, recording when its port closed."""
    names = sorted(listeners)
    start = time.monotonic()
    for i, name in enumerate(names):
        delay = start + SPREAD_S * i / len(names) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        listeners[name].close()
        dark_at[name] = datetime.now(UTC)


def run_ours(workdir: Path, trials: int) -> list[float]:
    url = f"sqlite:///{workdir / 'secmon.db'}"
    server = ServerProcess(url, workdir=workdir / "server", env={"SECMON_FAULT_SWEEP_SECONDS": "5"})
    server.start()
    tenant = provision(url)
    listeners = {f"ups-{i:03d}": Listener() for i in range(trials)}
    token_file = workdir / "agent-token"
    token_file.write_text(tenant.token + "\n")
    config = {
        "site": "hq",
        "server": {"url": server.base_url, "token": {"file": str(token_file)}, "timeout": 5},
        "agent": {
            "outbox_path": str(workdir / "outbox.sqlite"),
            "metrics_listen": f"127.0.0.1:{free_port()}",
            "batch_max_age": 1,
        },
        "devices": [
            {
                "id": name,
                "name": name,
                "class": "ups",
                "subsystem": "power",
                "protocol": "tcp",
                "address": "127.0.0.1",
                "port": lst.port,
                "interval": POLL_S,
                "timeout": 2,
            }
            for name, lst in listeners.items()
        ],
    }
    path = workdir / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    agent = AgentProcess(path).start()
    engine = create_engine(url)
    try:

        def all_up() -> bool:
            with Session(engine) as session:
                states = list(session.scalars(select(DeviceState)))
            return len(states) == trials and all(s.status == "up" for s in states)

        wait_for("devices up", all_up, timeout=120)
        dark_at: dict[str, datetime] = {}
        darken(listeners, dark_at)

        def ticket_times() -> dict[str, datetime]:
            with Session(engine) as session:
                rows = session.execute(
                    select(Device.ext_id, Ticket.created_at).join(
                        Ticket, Ticket.device_id == Device.id
                    )
                ).all()
            return dict(rows)

        wait_for("every ticket", lambda: len(ticket_times()) >= trials, timeout=180)
        created = ticket_times()
        return [(created[name] - dark_at[name]).total_seconds() for name in listeners]
    finally:
        agent.stop()
        server.stop()
        engine.dispose()
        for lst in listeners.values():
            if not lst._stop.is_set():
                lst.close()


ARRIVALS: dict[str, datetime] = {}  # instance → first firing webhook (this script only)
ARRIVALS_LOCK = threading.Lock()


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        now = datetime.now(UTC)
        with ARRIVALS_LOCK:
            for alert in body.get("alerts", []):
                if alert.get("status") == "firing":
                    ARRIVALS.setdefault(alert["labels"]["instance"], now)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


def run_peer(workdir: Path, trials: int) -> list[float]:
    assert PROMETHEUS
    assert ALERTMANAGER
    assert BLACKBOX
    listeners = {f"127.0.0.1:{lst.port}": lst for lst in (Listener() for _ in range(trials))}
    hook_port, bb_port, am_port, prom_port = (free_port() for _ in range(4))
    receiver = ThreadingHTTPServer(("127.0.0.1", hook_port), _Receiver)
    threading.Thread(target=receiver.serve_forever, name="webhook", daemon=True).start()
    (workdir / "blackbox.yml").write_text(
        yaml.safe_dump({"modules": {"tcp": {"prober": "tcp", "timeout": "2s"}}})
    )
    (workdir / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "hook",
                    "group_by": ["instance"],
                    "group_wait": "30s",
                    "group_interval": "5m",
                    "repeat_interval": "4h",
                },
                "receivers": [
                    {"name": "hook", "webhook_configs": [{"url": f"http://127.0.0.1:{hook_port}/"}]}
                ],
            }
        )
    )
    (workdir / "rules.yml").write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "down",
                        "rules": [
                            {"alert": "TargetDown", "expr": "probe_success == 0", "for": "0s"}
                        ],
                    }
                ]
            }
        )
    )
    (workdir / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
                "rule_files": [str(workdir / "rules.yml")],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                },
                "scrape_configs": [
                    {
                        "job_name": "blackbox",
                        "metrics_path": "/probe",
                        "params": {"module": ["tcp"]},
                        "static_configs": [{"targets": sorted(listeners)}],
                        "relabel_configs": [
                            {"source_labels": ["__address__"], "target_label": "__param_target"},
                            {"source_labels": ["__param_target"], "target_label": "instance"},
                            {"target_label": "__address__", "replacement": f"127.0.0.1:{bb_port}"},
                        ],
                    }
                ],
            }
        )
    )
    logs = (workdir / "peers.log").open("ab")
    procs = [
        subprocess.Popen(
            [
                BLACKBOX,
                f"--config.file={workdir / 'blackbox.yml'}",
                f"--web.listen-address=127.0.0.1:{bb_port}",
            ],
            stdout=logs,
            stderr=logs,
        ),
        subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={workdir / 'alertmanager.yml'}",
                f"--storage.path={workdir / 'am'}",
                "--cluster.listen-address=",
                f"--web.listen-address=127.0.0.1:{am_port}",
            ],
            stdout=logs,
            stderr=logs,
        ),
        subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'prom'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=logs,
            stderr=logs,
        ),
    ]
    try:

        def all_up() -> bool:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{prom_port}/api/v1/query",
                    params={"query": "probe_success == 1"},
                    timeout=2,
                )
            except httpx.HTTPError:
                return False
            return r.status_code == 200 and len(r.json()["data"]["result"]) == trials

        wait_for("peer targets up", all_up, timeout=120)
        dark_at: dict[str, datetime] = {}
        darken(listeners, dark_at)
        wait_for("every webhook", lambda: len(ARRIVALS) >= trials, timeout=240)
        return [(ARRIVALS[i] - dark_at[i]).total_seconds() for i in listeners]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        receiver.shutdown()
        logs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="secmon-detect-") as tmp:
        ours = run_ours(Path(tmp) / "ours", args.trials)
        print(f"ours (poll {POLL_S} s x {CONFIRMATIONS}): {summary(ours)}", file=sys.stderr)
        peer: list[float] | None = None
        if not args.skip_peer and PROMETHEUS and ALERTMANAGER and BLACKBOX:
            (Path(tmp) / "peer").mkdir()
            peer = run_peer(Path(tmp) / "peer", args.trials)
            print(f"prometheus+alertmanager: {summary(peer)}", file=sys.stderr)
    result: dict[str, Any] = {
        "bench": "detect_latency",
        "metric": "p99 seconds from a device going dark to the ticket row (peer: webhook)",
        "unit": "s",
        "ours": summary(ours)["p99"],
        "peer": "prometheus 2.42 + blackbox 0.23 + alertmanager 0.25 (scrape/eval 15 s, "
        "for 0s, group_wait 30s)",
        "peer_value": summary(peer)["p99"] if peer else None,
        "ratio": round(summary(ours)["p99"] / summary(peer)["p99"], 3) if peer else None,
        "better": "lower",
        "ours_summary": summary(ours),
        "peer_summary": summary(peer) if peer else None,
        "goal_p99_s": POLL_S * CONFIRMATIONS + 2,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
