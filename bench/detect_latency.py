"""Detection latency: a device goes dark → its ticket exists, against Prometheus + Alertmanager.

One run, both systems watching the same TCP listeners on 127.0.0.1:
- ours: a real `secmon server run` (SQLite in a temp dir) and a real `secmon agent run` polling
  every listener with the `tcp` probe at a 10 s interval, shipped defaults otherwise
  (`batch_max_age`, the fault rules: `device.unreachable` confirmed after N failing polls);
- peer: Debian's Prometheus (scrape and rule evaluation 15 s) with blackbox_exporter
  `tcp_connect` probes of the same listeners, an alert `probe_success == 0` with `for: 0s`, and
  Alertmanager (group by instance, group_wait 30 s) posting to a webhook receiver in this process.

Each trial is one device: after both systems saw every device up, each listener is closed at its
own random moment within `--spread` seconds (trials run concurrently, so 50 fit in a few minutes;
the random moments sample every phase of both poll schedules). Latency of a trial:
- ours: `tickets.created_at` of the device's ticket (set by the server in the transaction that
  opens it) minus the moment `Listener.close()` returned; the first time a 0.2 s poll of the
  database saw the row is reported beside it;
- peer: arrival of the first firing notification for the listener at the webhook minus the same
  moment.
Run: `.venv/bin/python bench/detect_latency.py [--trials 50] [--spread 60]` (about 2.5 minutes);
`--quick` is 8 trials over 20 s. Ends with one JSON line; lower is better.
"""

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import yaml
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import OperationalError

from agent.backoff import RECHECK_FRACTION
from peers.server import ServerProcess, provision
from peers.site import AgentProcess, Listener
from server.faults.defaults import default_rules
from server.faults.rules import FaultCode, RuleSet, Unreachable
from server.models import Device, DeviceState, SampleRow, Ticket
from simulate.peers.net import free_port, wait_for_port

DEVICE_CLASS = "switch"  # not a camera: 50 cameras down at once would be one "system paralysed"
INTERVAL_S = 10.0
SLACK_S = 1.0  # the goal allows this much beyond the confirming poll (push + detection)
PEER_FACTOR = 4  # the goal: at least this many times faster than the peer at p99
PEER_SCRAPE_S = 15
PEER_EVAL_S = 15
PEER_GROUP_WAIT_S = 30
DB_POLL_S = 0.2
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
BLACKBOX = shutil.which("prometheus-blackbox-exporter")


# ---- pure helpers (tests/bench/test_detect_latency_helpers.py) ---------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0-100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max, rounded to 0.1 s."""
    return {
        "p50": round(percentile(values, 50), 1),
        "p90": round(percentile(values, 90), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values), 1),
    }


def unreachable_confirmations(rules: RuleSet, device_class: str) -> int:
    """How many failing polls in a row confirm `device.unreachable` for this class."""
    matching = [
        r
        for r in rules.for_class(device_class)
        if r.code is FaultCode.DEVICE_UNREACHABLE and isinstance(r.condition, Unreachable)
    ]
    if len(matching) != 1:
        raise ValueError(f"no single device.unreachable rule for class {device_class!r}")
    return matching[0].confirm_after


def goal_bound(interval_s: float, confirmations: int, slack_s: float = SLACK_S) -> float:
    """The goal for our p99: the first failing poll within one interval, each confirming one a
    re-check (a quarter interval) later, then `slack_s` for the push and detection (13.5 s at
    10 s and 2 confirmations)."""
    return interval_s + (confirmations - 1) * interval_s * RECHECK_FRACTION + slack_s


def takedown_schedule(count: int, spread_s: float, rng: random.Random) -> list[float]:
    """Seconds after the start at which each of `count` devices is taken down, in device order."""
    if count < 1 or spread_s < 0:
        raise ValueError("need at least one trial and a spread ≥ 0")
    return [rng.uniform(0.0, spread_s) for _ in range(count)]


def blackbox_config() -> dict[str, Any]:
    return {"modules": {"tcp_connect": {"prober": "tcp", "timeout": "5s"}}}


def prometheus_config(
    *, targets: Sequence[str], blackbox: str, alertmanager: str, rules_file: str
) -> dict[str, Any]:
    """Scrape blackbox `tcp_connect` probes of `targets`; the usual relabel to the exporter."""
    return {
        "global": {
            "scrape_interval": f"{PEER_SCRAPE_S}s",
            "evaluation_interval": f"{PEER_EVAL_S}s",
        },
        "rule_files": [rules_file],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "blackbox",
                "metrics_path": "/probe",
                "params": {"module": ["tcp_connect"]},
                "static_configs": [{"targets": list(targets)}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": blackbox},
                ],
            }
        ],
    }


def alert_rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "bench",
                "rules": [
                    {
                        "alert": "TargetDown",
                        "expr": 'probe_success{job="blackbox"} == 0',
                        "for": "0s",
                        "labels": {"severity": "page"},
                    }
                ],
            }
        ]
    }


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """One group per instance, so every outage waits its own group_wait, as a new alert would."""
    return {
        "route": {
            "receiver": "bench",
            "group_by": ["instance"],
            "group_wait": f"{PEER_GROUP_WAIT_S}s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        },
        "receivers": [
            {"name": "bench", "webhook_configs": [{"url": webhook_url, "send_resolved": False}]}
        ],
    }


def firing_instances(payload: Mapping[str, Any]) -> list[str]:
    """The `instance` labels of firing alerts in an Alertmanager webhook body."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("webhook body without an alerts list")
    out = []
    for alert in alerts:
        if isinstance(alert, dict) and alert.get("status") == "firing":
            instance = alert.get("labels", {}).get("instance")
            if isinstance(instance, str):
                out.append(instance)
    return out


def agent_config(
    *,
    ports: Mapping[str, int],
    server_url: str,
    token_file: str,
    workdir: str,
    metrics_port: int,
    batch_max_age: float | None = None,
) -> dict[str, Any]:
    """The agent's config: one `tcp` device per listener at the bench interval, defaults else
    (`batch_max_age` only when given)."""
    agent: dict[str, Any] = {
        "outbox_path": f"{workdir}/outbox.sqlite",
        "metrics_listen": f"127.0.0.1:{metrics_port}",
    }
    if batch_max_age is not None:
        agent["batch_max_age"] = batch_max_age
    return {
        "site": "bench",
        "server": {"url": server_url, "token": {"file": token_file}},
        "agent": agent,
        "devices": [
            {
                "id": dev,
                "name": dev,
                "class": DEVICE_CLASS,
                "subsystem": "network",
                "protocol": "tcp",
                "address": "127.0.0.1",
                "port": port,
                "interval": INTERVAL_S,
            }
            for dev, port in ports.items()
        ],
    }


def result_line(
    ours: Mapping[str, float], peer: Mapping[str, float], extra: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "bench": "detect-latency",
        "metric": "p99_dark_to_ticket",
        "unit": "s",
        "ours": ours["p99"],
        "peer": "prometheus+alertmanager",
        "peer_value": peer["p99"],
        "ratio": round(ours["p99"] / peer["p99"], 3),
        "better": "lower",
        **extra,
    }


# ---- I/O ---------------------------------------------------------------------------------------


@dataclass
class Trial:
    device: str
    listener: Listener
    target: str
    down_after: float
    closed_at: datetime | None = None
    ticket_created_at: datetime | None = None
    ticket_seen_at: datetime | None = None
    alert_at: datetime | None = None


@dataclass
class Webhook:
    """Alertmanager's receiver: the first arrival time of a firing alert per instance."""

    port: int = field(default_factory=free_port)
    first: dict[str, datetime] = field(default_factory=dict)
    bodies: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> ThreadingHTTPServer:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                now = datetime.now(UTC)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    instances = firing_instances(json.loads(body))
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with hook.lock:
                    hook.bodies += 1
                    for instance in instances:
                        hook.first.setdefault(instance, now)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, name="webhook", daemon=True).start()
        return server


class TicketWatch(threading.Thread):
    """Polls the server's database every 0.2 s for device tickets (ext id → created_at, seen)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="ticket-watch", daemon=True)
        self.engine = engine
        self.created: dict[str, datetime] = {}
        self.seen: dict[str, datetime] = {}
        self.other: list[str] = []  # tickets without a device or of another code
        self.stop = threading.Event()

    def run(self) -> None:
        known: set[int] = set()
        query = select(Ticket.id, Ticket.code, Ticket.created_at, Device.ext_id).outerjoin(
            Device, Device.id == Ticket.device_id
        )
        while not self.stop.wait(DB_POLL_S):
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(query).all()
            except OperationalError as err:  # a busy database: the next poll tries again
                print(f"ticket watch: {err}", file=sys.stderr)
                continue
            now = datetime.now(UTC)
            for row in rows:
                if row.id in known:
                    continue
                known.add(row.id)
                if row.ext_id is None or row.code != FaultCode.DEVICE_UNREACHABLE.value:
                    self.other.append(f"{row.code} {row.ext_id}")
                    continue
                self.created.setdefault(row.ext_id, row.created_at)
                self.seen.setdefault(row.ext_id, now)


class Daemon:
    """A peer process on a loopback port, logging to a file, stopped by its own pid."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.log = log
        if not wait_for_port(port, timeout=30):
            self.stop()
            raise RuntimeError(f"{argv[0]} did not listen on {port}: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def write_yaml(path: Path, data: Mapping[str, Any]) -> str:
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return str(path)


def start_peer(stack: contextlib.ExitStack, tmp: Path, targets: list[str], hook: Webhook) -> int:
    """Blackbox exporter, Alertmanager and Prometheus; returns Prometheus's port."""
    if not (PROMETHEUS and ALERTMANAGER and BLACKBOX):
        raise SystemExit(
            "needs prometheus, prometheus-alertmanager and prometheus-blackbox-exporter "
            "(make bench installs them)"
        )
    bb_port, am_port, prom_port = free_port(), free_port(), free_port()
    bb = Daemon(
        [
            BLACKBOX,
            f"--config.file={write_yaml(tmp / 'blackbox.yml', blackbox_config())}",
            f"--web.listen-address=127.0.0.1:{bb_port}",
        ],
        bb_port,
        tmp / "blackbox.log",
    )
    stack.callback(bb.stop)
    am_config = alertmanager_config(f"http://127.0.0.1:{hook.port}/alerts")
    am = Daemon(
        [
            ALERTMANAGER,
            f"--config.file={write_yaml(tmp / 'alertmanager.yml', am_config)}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0:9094
        ],
        am_port,
        tmp / "alertmanager.log",
    )
    stack.callback(am.stop)
    rules = write_yaml(tmp / "rules.yml", alert_rules())
    prom_config = prometheus_config(
        targets=targets,
        blackbox=f"127.0.0.1:{bb_port}",
        alertmanager=f"127.0.0.1:{am_port}",
        rules_file=rules,
    )
    prom = Daemon(
        [
            PROMETHEUS,
            f"--config.file={write_yaml(tmp / 'prometheus.yml', prom_config)}",
            f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        prom_port,
        tmp / "prometheus.log",
    )
    stack.callback(prom.stop)
    return prom_port


def peer_up_count(prom_port: int) -> int:
    try:
        reply = httpx.get(
            f"http://127.0.0.1:{prom_port}/api/v1/query",
            params={"query": 'count(probe_success{job="blackbox"} == 1)'},
            timeout=2,
        ).json()
    except (httpx.HTTPError, ValueError):
        return 0
    result = reply.get("data", {}).get("result", [])
    return int(float(result[0]["value"][1])) if result else 0


def ours_up_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(
            conn.execute(select(DeviceState.device_id).where(DeviceState.status == "up")).all()
        )


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass(frozen=True)
class Breakdown:
    """Where our latency goes, from the samples the server stored (medians, seconds)."""

    to_first_failing_poll: float
    first_to_confirming_poll: float
    confirming_poll_to_received: float
    received_to_ticket: float


def breakdown(engine: Engine, trials: Sequence[Trial]) -> Breakdown | None:
    parts: list[list[float]] = [[], [], [], []]
    with engine.connect() as conn:
        ids = {row.ext_id: row.id for row in conn.execute(select(Device.ext_id, Device.id))}
        for trial in trials:
            if trial.closed_at is None or trial.ticket_created_at is None:
                continue
            failing = conn.execute(
                select(SampleRow.ts, SampleRow.received_at)
                .where(
                    SampleRow.device_id == ids[trial.device],
                    SampleRow.reachable.is_(False),
                    SampleRow.events_only.is_(False),
                )
                .order_by(SampleRow.ts)
                .limit(2)
            ).all()
            if len(failing) < 2:
                continue
            (first_ts, _), (second_ts, second_received) = failing
            parts[0].append((first_ts - trial.closed_at).total_seconds())
            parts[1].append((second_ts - first_ts).total_seconds())
            parts[2].append((second_received - second_ts).total_seconds())
            parts[3].append((trial.ticket_created_at - second_received).total_seconds())
    if not parts[0]:
        return None
    medians = [round(percentile(p, 50), 2) for p in parts]
    return Breakdown(*medians)


@contextlib.contextmanager
def listeners(count: int) -> Iterator[dict[str, Listener]]:
    made = {f"sw-{i:03d}": Listener() for i in range(count)}
    try:
        yield made
    finally:
        for listener in made.values():
            with contextlib.suppress(OSError):
                listener.close()


def run(
    trials_count: int, spread_s: float, seed: int, keep: bool, batch_max_age: float | None
) -> dict[str, Any]:
    rng = random.Random(seed)
    confirmations = unreachable_confirmations(default_rules(), DEVICE_CLASS)
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        if keep:
            tmp = Path(tempfile.mkdtemp(prefix="secmon-detect-"))
            print(f"keeping configs and logs in {tmp}", file=sys.stderr)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="secmon-detect-")))
        devs = stack.enter_context(listeners(trials_count))
        schedule = takedown_schedule(trials_count, spread_s, rng)
        trials = [
            Trial(dev, lst, f"127.0.0.1:{lst.port}", after)
            for (dev, lst), after in zip(devs.items(), schedule, strict=True)
        ]

        database_url = f"sqlite:///{tmp / 'secmon.db'}"
        server = ServerProcess(database_url, workdir=tmp / "server").start()
        stack.callback(server.stop)
        tenant = provision(database_url, site="bench")
        engine = create_engine(database_url)
        stack.callback(engine.dispose)

        agent_dir = tmp / "agent"
        agent_dir.mkdir()
        token_file = agent_dir / "agent-token"
        token_file.write_text(tenant.token + "\n")
        config = agent_config(
            ports={t.device: t.listener.port for t in trials},
            server_url=server.base_url,
            token_file=str(token_file),
            workdir=str(agent_dir),
            metrics_port=free_port(),
            batch_max_age=batch_max_age,
        )
        agent = AgentProcess(Path(write_yaml(agent_dir / "agent.yaml", config))).start()
        stack.callback(agent.kill)

        hook = Webhook()
        http = hook.serve()
        stack.callback(http.shutdown)
        prom_port = start_peer(stack, tmp, [t.target for t in trials], hook)

        watch = TicketWatch(engine)
        watch.start()
        stack.callback(watch.stop.set)

        started = time.monotonic()
        wait_until(
            "the server to see every device up", lambda: ours_up_count(engine) == trials_count, 120
        )
        wait_until(
            "Prometheus to see every target up",
            lambda: peer_up_count(prom_port) == trials_count,
            120,
        )
        print(
            f"all {trials_count} devices up on both sides after "
            f"{time.monotonic() - started:.0f} s; taking them down over {spread_s:.0f} s",
            file=sys.stderr,
        )
        if watch.created or hook.first:
            raise RuntimeError(f"tickets or alerts before any outage: {watch.other} {hook.first}")

        t0 = time.monotonic()
        for trial in sorted(trials, key=lambda t: t.down_after):
            time.sleep(max(0.0, t0 + trial.down_after - time.monotonic()))
            trial.listener.close()
            trial.closed_at = datetime.now(UTC)

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with hook.lock:
                alerts = len(hook.first)
            if len(watch.created) >= trials_count and alerts >= trials_count:
                break
            time.sleep(1)
        watch.stop.set()
        watch.join()
        for trial in trials:
            trial.ticket_created_at = watch.created.get(trial.device)
            trial.ticket_seen_at = watch.seen.get(trial.device)
            trial.alert_at = hook.first.get(trial.target)
        parts = breakdown(engine, trials)
    load_after = os.getloadavg()
    if watch.other:
        print(f"other tickets (not counted): {watch.other}", file=sys.stderr)
    extra = {
        "other_tickets": len(watch.other),
        "batch_max_age_s": batch_max_age if batch_max_age is not None else "default",
        "spread_s": spread_s,
        "seed": seed,
        "load1_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
    }
    return report(trials, confirmations, parts, extra)


def seconds(after: datetime | None, before: datetime | None) -> float | None:
    if after is None or before is None:
        return None
    return (after - before).total_seconds()


def report(
    trials: Sequence[Trial],
    confirmations: int,
    parts: Breakdown | None,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    ours = [d for t in trials if (d := seconds(t.ticket_created_at, t.closed_at)) is not None]
    seen = [d for t in trials if (d := seconds(t.ticket_seen_at, t.closed_at)) is not None]
    peer = [d for t in trials if (d := seconds(t.alert_at, t.closed_at)) is not None]
    if not ours or not peer:
        raise RuntimeError(f"no complete trials: {len(ours)} tickets, {len(peer)} alerts")
    o, s, p = summary(ours), summary(seen), summary(peer)
    bound = goal_bound(INTERVAL_S, confirmations)
    ratio = o["p99"] / p["p99"]
    print(
        f"ours (ticket created_at - close), {len(ours)} trials: {o}\n"
        f"ours (ticket first seen by a {DB_POLL_S} s DB poll): {s}\n"
        f"Prometheus + Alertmanager (webhook arrival - close), {len(peer)} trials: {p}\n"
        f"breakdown of ours (medians): {parts}\n"
        f"goal: ours p99 ≤ {INTERVAL_S:g} s + {confirmations - 1} x {RECHECK_FRACTION:g} x "
        f"{INTERVAL_S:g} s + {SLACK_S:g} s = {bound:g} s → "
        f"{'met' if o['p99'] <= bound else 'MISSED'}; ≥ {PEER_FACTOR}x faster than the peer at "
        f"p99 → {'met' if ratio <= 1 / PEER_FACTOR else 'MISSED'} ({1 / ratio:.2f}x)",
        file=sys.stderr,
    )
    extra: dict[str, Any] = {
        "trials": len(trials),
        "ours_missing": len(trials) - len(ours),
        "peer_missing": len(trials) - len(peer),
        "ours_s": o,
        "ours_seen_s": s,
        "peer_s": p,
        "interval_s": INTERVAL_S,
        "confirmations": confirmations,
        "goal_p99_bound_s": bound,
        "goal_p99_met": o["p99"] <= bound,
        "goal_peer_factor": PEER_FACTOR,
        "goal_peer_factor_met": ratio <= 1 / PEER_FACTOR,
        "breakdown_median_s": None if parts is None else parts.__dict__,
        "peer_settings": {
            "scrape_s": PEER_SCRAPE_S,
            "eval_s": PEER_EVAL_S,
            "for_s": 0,
            "group_wait_s": PEER_GROUP_WAIT_S,
        },
        **settings,
    }
    return result_line(o, p, extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--trials", type=int, default=50, help="devices taken down (≥ 50 to report)"
    )
    parser.add_argument(
        "--spread", type=float, default=60.0, help="take-downs spread over this many seconds"
    )
    parser.add_argument("--quick", action="store_true", help="8 trials over 20 s")
    parser.add_argument("--seed", type=int, default=None, help="seed of the take-down moments")
    parser.add_argument(
        "--batch-max-age",
        type=float,
        default=None,
        help="agent batch_max_age in s (default: the agent's shipped default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.spread = 8, 20.0
    if args.trials < 1:
        parser.error("--trials must be ≥ 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    print(
        f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    print(json.dumps(run(args.trials, args.spread, seed, args.keep, args.batch_max_age)))


if __name__ == "__main__":
    main()
