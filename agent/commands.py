"""`secmon agent check|run|relearn`: wire config, probes, outbox, scheduler, pusher and metrics
together."""

import asyncio
import json
import logging
import random
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from agent import AGENT_VERSION
from agent.config import AgentConfig, ConfigError, DeviceConfig, load_config
from agent.heartbeat import Heartbeat
from agent.inventory import InventoryBook
from agent.logfmt import setup_logging
from agent.metrics import AgentMetrics, MetricsServer, serve_metrics
from agent.outbox import AsyncOutbox, Outbox
from agent.probes.mqtt.link import Session as MqttSession
from agent.probes.mqtt.mapping import load_templates
from agent.probes.mqtt.probe import MqttProbe
from agent.probes.mqtt.urgent import LivenessReporter
from agent.probes.onvif.baseline import BaselineStore
from agent.probes.onvif.events import OnvifEventSource
from agent.probes.onvif.picture_hook import PictureHealth
from agent.probes.onvif.probe import OnvifProbe
from agent.probes.registry import ProbeRegistry
from agent.probes.snmp import SnmpProbe
from agent.probes.snmp_profiles import load_profiles
from agent.probes.snmp_receiver import TrapReceiver
from agent.pusher import Pusher, PushSettings
from agent.sampling import Poll, poll_device
from agent.scheduler import Scheduler
from wire.enums import ProbeKind
from wire.ids import uuid7
from wire.schema import Event, Sample

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2
FINAL_FLUSH_S = 5.0


def _load(path: Path, *, private_secrets: bool = False) -> AgentConfig | None:
    try:
        return load_config(path, private_secrets=private_secrets)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return None


def check(config: Path, *, as_json: bool) -> int:
    """Poll every device once and print one line each; 0 when the config is valid, 2 when not."""
    cfg = _load(config)
    if cfg is None:
        return EXIT_CONFIG
    polls = asyncio.run(_poll_all(cfg, probe_registry(cfg, learn=False)))
    for device, poll in zip(cfg.devices, polls, strict=True):
        print(_json_row(device, poll) if as_json else _table_row(device, poll))
    return EXIT_OK


def relearn(config: Path, device_id: str) -> int:
    """Ask the running agent to re-learn a camera's picture (it was re-aimed, or its scene
    changed on purpose) at its next snapshot; 0 when asked, 2 when the config or id is wrong."""
    cfg = _load(config)
    if cfg is None:
        return EXIT_CONFIG
    device = next((d for d in cfg.devices if d.id == device_id), None)
    if device is None or device.protocol != ProbeKind.ONVIF:
        print(f"{config}: no onvif device {device_id!r}", file=sys.stderr)
        return EXIT_CONFIG
    BaselineStore(picture_dir(cfg)).request_relearn(device_id)
    print(f"{device_id}: picture re-learn requested; the next snapshot starts a new baseline")
    return EXIT_OK


def picture_dir(cfg: AgentConfig) -> Path:
    """Where the cameras' picture baselines live (`agent.state_dir`, default beside the outbox)."""
    return cfg.agent.state_path() / "picture"


def probe_registry(cfg: AgentConfig, *, learn: bool = True) -> ProbeRegistry:
    """The default probes, the ONVIF one with picture health on its snapshots. `learn=False`
    (`check`): judged against the baselines the running agent learnt, nothing written."""
    store = BaselineStore(picture_dir(cfg), read_only=not learn)
    registry = ProbeRegistry()
    registry.register(ProbeKind.ONVIF, lambda: OnvifProbe(picture=PictureHealth(store)))
    profiles = load_profiles(cfg.agent.profiles_dir)
    registry.register(ProbeKind.SNMP, lambda: SnmpProbe(profiles))
    templates = load_templates(cfg.agent.mqtt_templates_dir)
    registry.register(ProbeKind.MQTT, lambda: MqttProbe(templates=templates))
    return registry


async def _poll_all(cfg: AgentConfig, registry: ProbeRegistry) -> list[Poll]:
    semaphore = asyncio.Semaphore(cfg.agent.concurrency)

    async def one(device: DeviceConfig) -> Poll:
        async with semaphore:
            return await poll_device(registry.probe_for(device.protocol), device)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(d), name=f"check:{d.id}") for d in cfg.devices]
    finally:
        await registry.aclose()
    return [t.result() for t in tasks]


def _endpoint(device: DeviceConfig) -> str:
    return f"{device.address}:{device.port}" if device.port is not None else device.address


def _table_row(device: DeviceConfig, poll: Poll) -> str:
    sample = poll.sample
    if sample.error is not None:
        status, message = f"ERROR {sample.error.code.value}", sample.error.message
    elif sample.unmonitored is not None:
        status, message = "UNMONITORED", sample.unmonitored
    else:
        status, message = "ok", _checks_summary(sample)
    latency = f"{sample.latency_ms:.1f} ms" if sample.latency_ms is not None else "-"
    row = (
        f"{device.id:<20} {device.device_class.value:<18} {_endpoint(device):<24} "
        f"{status:<28} {latency:>10}  {message}"
    ).rstrip()
    identity = poll.identity
    if identity is not None and identity.profiles is not None:
        row += f"\n{'':<20} profiles {identity.profiles}: {identity.profile_reason or ''}"
    return row


def _checks_summary(sample: Sample, *, width: int = 100) -> str:
    """The device's state in a few words (name=value, as many as fit): what an MQTT device
    last said, or what an SNMP poll read; --json has them all."""
    parts: list[str] = []
    used = 0
    for name, value in sample.checks.items():
        part = f"{name}={json.dumps(value)}"
        if used + len(part) > width:
            parts.append("...")
            break
        parts.append(part)
        used += len(part) + 1
    return " ".join(parts)


def _json_row(device: DeviceConfig, poll: Poll) -> str:
    sample = poll.sample
    return json.dumps(
        {
            "device_id": device.id,
            "class": device.device_class.value,
            "protocol": device.protocol.value,
            "address": device.address,
            "port": device.port,
            "ok": sample.error is None,
            "reachable": sample.reachable,
            "error": sample.error.code.value if sample.error else None,
            "message": sample.error.message if sample.error else "",
            "latency_ms": sample.latency_ms,
            "unmonitored": sample.unmonitored,
            "checks": sample.checks,
            "identity": poll.identity.model_dump(exclude_none=True) if poll.identity else None,
        }
    )


def events_only_sample(device_id: str, event: Event, *, probe: ProbeKind) -> Sample:
    """What a device said on its own (a trap, an MQTT event message): no poll, no state."""
    return Sample(
        id=uuid7(),
        device_id=device_id,
        ts=event.ts,  # when the message arrived
        probe=probe,
        reachable=True,  # it did send us something; the server ignores this (events_only)
        events=[event],
        events_only=True,
    )


class EventForwarder:
    """Callback for unsolicited events (SNMP traps, MQTT event messages): each becomes an
    events-only sample in the outbox and an urgent push, so it reaches the server at once, not
    at the next poll or batch age. Runs on the event loop; one writer task at a time stores
    what has come in since its last write in one transaction, in arrival order (a backlog of
    queued MQTT events is not thousands of concurrent writes)."""

    def __init__(self, *, outbox: AsyncOutbox, pusher: Pusher, probe: ProbeKind) -> None:
        self._outbox = outbox
        self._pusher = pusher
        self._probe = probe
        self._waiting: list[tuple[Sample, Callable[[], None] | None]] = []
        self._writer: asyncio.Task[None] | None = None

    def __call__(
        self, device_id: str, event: Event, stored: Callable[[], None] | None = None
    ) -> None:
        """`stored` is called once the sample is committed (not if the write fails)."""
        sample = events_only_sample(device_id, event, probe=self._probe)
        self._waiting.append((sample, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name=f"{self._probe}-events")

    async def _write(self) -> None:
        what = f"{self._probe} event"
        while self._waiting:
            waiting, self._waiting = self._waiting, []
            samples = [sample for sample, _ in waiting]
            try:
                await self._outbox.put(samples)
            except sqlite3.Error:
                devices = sorted({s.device_id for s in samples})
                log.exception(
                    "cannot store %d %s(s) in outbox",
                    len(samples),
                    what,
                    extra={"devices": devices},
                )
                continue
            for _, stored in waiting:
                if stored is not None:
                    stored()
            for sample in samples:
                log.debug(
                    "%s queued: %s", what, sample.events[0].kind, extra={"device": sample.device_id}
                )
            self._pusher.wake(urgent=True)

    async def drain(self) -> None:
        """Wait for the outbox writes under way (at shutdown, after the source is closed)."""
        if self._writer is not None:
            await self._writer


@dataclass(frozen=True)
class TrapListener:
    """The receiver of `agent.snmp_trap_listen` and where its events go."""

    receiver: TrapReceiver
    forwarder: EventForwarder

    @classmethod
    async def start(
        cls, cfg: AgentConfig, *, pusher: Pusher, outbox: AsyncOutbox
    ) -> "TrapListener | None":
        """Started, or None when off. A port that cannot be bound raises OSError: the agent
        does not run without the listener it was told to run."""
        address = cfg.agent.trap_address()
        if address is None:
            return None
        if not any(d.protocol is ProbeKind.SNMP for d in cfg.devices):
            log.warning("SNMP trap listener on, but no SNMP device configured: traps are ignored")
        forwarder = EventForwarder(outbox=outbox, pusher=pusher, probe=ProbeKind.SNMP)
        receiver = TrapReceiver(
            cfg.devices, on_event=forwarder, profiles=load_profiles(cfg.agent.profiles_dir)
        )
        port = await receiver.start(*address)
        log.info("listening for SNMP traps", extra={"listen": f"{address[0]}:{port}"})
        return cls(receiver=receiver, forwarder=forwarder)

    async def close(self) -> None:
        """Stop listening, then let the traps already received reach the outbox."""
        self.receiver.close()
        await self.forwarder.drain()


def run(config: Path) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean stop, 2 on a bad config, 1 if the outbox
    cannot be opened."""
    cfg = _load(config, private_secrets=True)
    if cfg is None:
        return EXIT_CONFIG
    handler = setup_logging(cfg.site)
    try:
        asyncio.run(run_agent(cfg))
    except (OSError, sqlite3.Error) as err:
        log.error("cannot run: %s", err, extra={"outbox": str(cfg.agent.outbox_path)})
        return EXIT_RUNTIME
    finally:
        logging.getLogger().removeHandler(handler)
    return EXIT_OK


async def run_agent(
    cfg: AgentConfig,
    *,
    stop: asyncio.Event | None = None,
    registry: ProbeRegistry | None = None,
    metrics_registry: CollectorRegistry | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    rng: random.Random | None = None,
) -> None:
    """The agent's life: start, poll and push until `stop` (or a signal), stop cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    outbox = Outbox(cfg.agent.outbox_path, max_bytes=cfg.agent.outbox_max_bytes)
    async_outbox = AsyncOutbox(outbox)
    metrics = AgentMetrics(metrics_registry or CollectorRegistry())
    metrics.watch_outbox(outbox)
    server: MetricsServer | None = None
    address = cfg.agent.metrics_address()
    if address is not None:
        server = serve_metrics(address, metrics.registry)
    inventory = InventoryBook(cfg.devices, agent_version=AGENT_VERSION)
    mqtt_probe: MqttProbe | None = None
    traps: TrapListener | None = None
    onvif_source: OnvifEventSource | None = None
    log.info(
        "agent starting",
        extra={
            "devices": len(cfg.devices),
            "server": cfg.server.url,
            "outbox": str(cfg.agent.outbox_path),
            "queued": outbox.depth(),
        },
    )
    try:
        async with httpx.AsyncClient(timeout=cfg.server.timeout) as client:
            pusher = Pusher(
                outbox=async_outbox,
                client=client,
                settings=PushSettings(
                    server_url=cfg.server.url,
                    token=cfg.server.token.reveal(),
                    call_timeout=cfg.server.timeout,
                    batch_size=cfg.agent.batch_size,
                    batch_max_age=cfg.agent.batch_max_age,
                    backoff_cap=cfg.agent.push_backoff_max,
                ),
                inventory=inventory,
                metrics=metrics,
                rng=rng,
            )
            traps = await TrapListener.start(cfg, pusher=pusher, outbox=async_outbox)
            mqtt_events = EventForwarder(outbox=async_outbox, pusher=pusher, probe=ProbeKind.MQTT)
            # The running agent keeps a persistent MQTT session, so the broker queues what
            # devices publish while it is down; `check` keeps the throwaway default and never
            # takes it over. Event messages are pushed at once, like traps.
            # An LWT "offline" or a lost broker is reported at once too, not at the next poll.
            liveness = LivenessReporter(
                devices=cfg.devices, outbox=async_outbox, wake=lambda: pusher.wake(urgent=True)
            )
            mqtt_probe = mqtt = MqttProbe(
                MqttSession.for_agent(cfg.site),
                devices=cfg.devices,
                on_event=mqtt_events,
                on_liveness=liveness,
                templates=load_templates(cfg.agent.mqtt_templates_dir),
            )
            liveness.attach(mqtt)
            if registry is None:
                registry = probe_registry(cfg)
                registry.register(ProbeKind.MQTT, lambda: mqtt)
                mqtt.start()
            # ONVIF cameras' own events (tamper, video loss, ...): a PullPoint subscription
            # per camera, each notification pushed at once like a trap.
            onvif_events = EventForwarder(outbox=async_outbox, pusher=pusher, probe=ProbeKind.ONVIF)
            # Its calls but the held pull wait for the probe's per-camera lock: a camera sees
            # one poll or subscription request at a time, besides the waiting pull.
            onvif_probe = registry.probe_for(ProbeKind.ONVIF)
            onvif_source = OnvifEventSource(
                cfg.devices,
                on_event=onvif_events,
                lock_for=onvif_probe.lock_for if isinstance(onvif_probe, OnvifProbe) else None,
                # A subscription made again counts in the camera's `onvif.reconnects`.
                on_reconnect=onvif_probe.note_reconnect
                if isinstance(onvif_probe, OnvifProbe)
                else None,
            )
            onvif_source.start()
            scheduler = Scheduler(
                devices=cfg.devices,
                registry=registry,
                outbox=async_outbox,
                concurrency=cfg.agent.concurrency,
                inventory=inventory,
                metrics=metrics,
                on_sample=lambda urgent: pusher.wake(urgent=urgent),
                on_inventory_change=pusher.wake,
                rng=rng,
            )
            # An urgent liveness report is that device's poll: the next one is timed from it.
            liveness.after_store(scheduler.polled_elsewhere)
            poll_task = asyncio.create_task(scheduler.run(stop), name="scheduler")
            silence_task = asyncio.create_task(
                liveness.watch_silence(mqtt.newly_silent, stop), name="mqtt-silence"
            )
            push_task = asyncio.create_task(pusher.run(stop), name="pusher")
            heartbeat = Heartbeat(
                client=client,
                server_url=cfg.server.url,
                token=cfg.server.token.reveal(),
                outbox=async_outbox,
                agent_version=AGENT_VERSION,
                call_timeout=cfg.server.timeout,
            )
            heartbeat_task = asyncio.create_task(heartbeat.run(stop), name="heartbeat")
            stopped = asyncio.create_task(stop.wait(), name="stop-signal")
            # A crashed scheduler or pusher stops the agent too (and its error is raised below).
            await asyncio.wait([stopped, poll_task, push_task], return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            log.info("stopping: letting in-flight polls finish")
            if traps is not None:
                await traps.close()
            await onvif_source.close()  # unsubscribes
            await onvif_events.drain()
            await poll_task
            await silence_task
            liveness.stop()
            await liveness.drain()
            await registry.aclose()
            # Event messages from now on stay with the broker (unacknowledged) for the next
            # start; those taken in are stored, and acknowledged before the links disconnect.
            mqtt.stop_events()
            await mqtt_events.drain()
            await asyncio.to_thread(mqtt.close)
            await push_task
            await heartbeat_task
            left = await pusher.flush(FINAL_FLUSH_S)
            log.info("agent stopped", extra={"queued": left})
    finally:
        if traps is not None:
            traps.receiver.close()  # idempotent; here for a crash before the clean stop
        if mqtt_probe is not None:
            await asyncio.to_thread(mqtt_probe.close)  # idempotent, as above
        if onvif_source is not None:
            await onvif_source.close()  # idempotent, as above
        for sig in signals:
            loop.remove_signal_handler(sig)
        if server is not None:
            server.close()
        outbox.close()
