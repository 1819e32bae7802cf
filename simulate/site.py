"""The simulated site: real protocol engines on 127.0.0.1 playing a scenario's devices.

SNMP devices are one snmpsim process each (so one can lose power: SIGKILL, and its port stops
answering), serving a data file this module rewrites as values move; the UPS also sends its
traps with net-snmp's `snmptrap`. Cameras are the ONVIF fake (events: tamper, signal loss).
Door controllers and alarm panels are MQTT clients in their own processes on a Mosquitto of
our own, holding last wills. Everything it starts is stopped by `close()`, and its files live
in one temp dir removed there.
"""

import asyncio
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulate.mqtt_device import merge
from simulate.peers.ipycam import PASSWORD as IPYCAM_PASSWORD
from simulate.peers.ipycam import IpyCam, make_test_video, missing_ipycam
from simulate.peers.mosquitto import MOSQUITTO, MosquittoServer
from simulate.peers.net import free_port
from simulate.peers.onvif import FakeOnvifCamera
from simulate.peers.process import terminate
from simulate.peers.snmp import SNMPSIM, Snmpsim, free_udp_port
from simulate.scenario import (
    MQTT_KINDS,
    SNMP_KINDS,
    Action,
    CameraEngine,
    DeviceKind,
    Scenario,
    SimDevice,
    Step,
)
from simulate.snmprec import (
    Contact,
    Disk,
    PoePort,
    PoeSwitch,
    Record,
    Recorder,
    SiteMonitor,
    Ups,
    monitor_records,
    recorder_records,
    render,
    switch_records,
    ups_records,
)

log = logging.getLogger("secmon.simulate")

COMMUNITY = "public"  # the data file's name is snmpsim's community
CAMERA_USER = "admin"
SNMPTRAP = shutil.which("snmptrap")
TICK_S = 2.0  # how often moving values are written
UPS_TRAP_ON_BATTERY = "1.3.6.1.2.1.33.2.1"
DOOR_STATE: dict[str, Any] = {
    "door": "closed", "lock": "locked", "held_open": False, "reader": {"fault": False},
    "tamper": False, "power": {"ac": True}, "battery": {"low": False, "voltage": 13.6},
}  # fmt: skip
PANEL_STATE: dict[str, Any] = {
    "armed": "away", "zones": {"faulted": 0, "bypassed": 0}, "comms_fault": False,
    "power": {"ac": True}, "battery": {"low": False, "voltage": 13.4},
}  # fmt: skip
SNMP_PROFILE = {
    DeviceKind.RECORDER: "synology",
    DeviceKind.UPS: "ups",
    DeviceKind.POE_SWITCH: "poe_switch",
    DeviceKind.SITE_MONITOR: "akcp",
}
AGENT_CLASS = {
    DeviceKind.CAMERA: ("camera", "video"),
    DeviceKind.RECORDER: ("nvr", "video"),
    DeviceKind.UPS: ("ups", "power"),
    DeviceKind.POE_SWITCH: ("switch", "network"),
    DeviceKind.SITE_MONITOR: ("sensor", "alarm"),
    DeviceKind.DOOR_CONTROLLER: ("access_controller", "access"),
    DeviceKind.ALARM_PANEL: ("alarm_panel", "alarm"),
}


def contact_key(label: str) -> str:
    """A contact's label as the check segment the agent gives it (lower case, `_`)."""
    return "".join(c if c.isalnum() else "_" for c in label.lower()).strip("_")


SnmpModel = Recorder | Ups | PoeSwitch | SiteMonitor


@dataclass
class _Snmp:
    device: SimDevice
    model: SnmpModel
    port: int
    data_dir: Path
    peer: Snmpsim | None = None
    mtime: int = 0


@dataclass
class _Camera:
    device: SimDevice
    port: int
    fake: FakeOnvifCamera | None = None
    ipycam: IpyCam | None = None  # engine ipycam: the process while powered
    rtsp_port: int | None = None  # engine ipycam only


@dataclass
class _Mqtt:
    device: SimDevice
    topic: str
    state: dict[str, Any]
    proc: "subprocess.Popen[str] | None" = None


@dataclass
class Site:
    """Start with `await Site.start(scenario)`; `apply(step)` acts; `await close()` stops all."""

    scenario: Scenario
    workdir: Path
    time_scale: float = 1.0
    skipped: list[str] = field(default_factory=list)  # why some devices are not simulated
    camera_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    _snmp: dict[str, _Snmp] = field(default_factory=dict)
    _cameras: dict[str, _Camera] = field(default_factory=dict)
    _mqtt: dict[str, _Mqtt] = field(default_factory=dict)
    _broker: MosquittoServer | None = None
    _tasks: set["asyncio.Task[None]"] = field(default_factory=set)
    _started: float = field(default_factory=time.monotonic)
    trap_port: int | None = None  # the agent's trap listener, once known

    @classmethod
    async def start(cls, scenario: Scenario, *, time_scale: float = 1.0) -> "Site":
        site = cls(scenario, Path(tempfile.mkdtemp(prefix="secmon-site-")), time_scale)
        try:
            await site._start_all()
        except BaseException:
            await site.close()
            raise
        return site

    # -- start and stop ----------------------------------------------------------------------

    async def _start_all(self) -> None:
        devices = self.scenario.devices
        snmp = [d for d in devices if d.kind in SNMP_KINDS]
        if snmp and not SNMPSIM.exists():
            self.skipped.append(f"SNMP devices skipped: snmpsim is not installed ({SNMPSIM})")
            snmp = []
        for device in snmp:
            data_dir = self.workdir / device.id / "data"
            data_dir.mkdir(parents=True)
            self._snmp[device.id] = _Snmp(
                device,
                _model(device, [c.id for c in self.scenario.children(device.id)]),
                free_udp_port(),
                data_dir,
            )
            self._write(self._snmp[device.id])
        mqtt = [d for d in devices if d.kind in MQTT_KINDS]
        if mqtt and MOSQUITTO is None:
            self.skipped.append(
                "MQTT devices skipped: Mosquitto is not installed (apt-get install mosquitto)"
            )
            mqtt = []
        if mqtt:
            self._broker = MosquittoServer()
            await asyncio.to_thread(self._broker.start)
        for device in mqtt:
            initial = DOOR_STATE if device.kind is DeviceKind.DOOR_CONTROLLER else PANEL_STATE
            self._mqtt[device.id] = _Mqtt(device, f"site/{device.id}", dict(initial))
        ipycam_missing = missing_ipycam()
        for device in devices:
            if device.kind is not DeviceKind.CAMERA:
                continue
            camera = _Camera(device, free_port())
            if device.engine is CameraEngine.IPYCAM:
                if ipycam_missing is None:
                    camera.rtsp_port = free_port()
                else:
                    self.skipped.append(f"{device.id}: the ONVIF fake stands in: {ipycam_missing}")
            self._cameras[device.id] = camera
        if any(c.rtsp_port is not None for c in self._cameras.values()):
            # One clip for every ipycam camera, rendered once (ffmpeg), with sensor-like noise.
            await asyncio.to_thread(
                make_test_video, self.workdir / "camera.mp4", filters=",noise=alls=12:allf=t"
            )
        await asyncio.gather(*(self._power(d.id, on=True) for d in self._all()))
        self._spawn(self._tick(), "simulate-values")
        log.info("simulated site up: %d devices", len(self._all()))

    async def close(self) -> None:
        """Stop every process, thread and port of the site. The stopping runs in a thread and
        is shielded: a second Ctrl-C arriving meanwhile cannot leave half of it running."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.shield(asyncio.to_thread(self._stop_all))

    def _stop_all(self) -> None:
        for snmp in self._snmp.values():
            if snmp.peer is not None:
                snmp.peer.kill()
                snmp.peer = None
        for camera in self._cameras.values():
            if camera.fake is not None:
                camera.fake.close()
                camera.fake = None
            if camera.ipycam is not None:
                camera.ipycam.stop()
                camera.ipycam = None
        for mqtt in self._mqtt.values():
            if mqtt.proc is not None:
                terminate(mqtt.proc, grace=2)
                mqtt.proc = None
        if self._broker is not None:
            self._broker.close()
            self._broker = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _all(self) -> list[SimDevice]:
        held = {*self._snmp, *self._cameras, *self._mqtt}
        return [d for d in self.scenario.devices if d.id in held]

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what the agent needs --------------------------------------------------------------

    def agent_devices(self, *, interval: float, secrets_dir: Path) -> list[dict[str, Any]]:
        """The agent config's `devices:` for what runs; secrets are written to `secrets_dir`."""
        for name, value in (
            ("camera-password", self.camera_password),
            ("ipycam-password", IPYCAM_PASSWORD),
            ("snmp-community", COMMUNITY),
        ):
            path = secrets_dir / name
            path.write_text(value + "\n", encoding="utf-8")
            path.chmod(0o600)
        out: list[dict[str, Any]] = []
        # The agent tells traps apart by source address, and every device here is 127.0.0.1:
        # the UPS, the one device that sends traps, comes first so that they are its own.
        order = sorted(self._all(), key=lambda d: d.kind is not DeviceKind.UPS)
        for device in order:
            device_class, subsystem = AGENT_CLASS[device.kind]
            entry: dict[str, Any] = {
                "id": device.id, "name": device.name, "class": device_class,
                "subsystem": subsystem, "address": "127.0.0.1",
                "interval": interval, "timeout": round(interval * 0.8, 1),
            }  # fmt: skip
            if device.parent is not None and device.parent in self._snmp:
                entry["parent"] = device.parent
            if (snmp := self._snmp.get(device.id)) is not None:
                entry |= {"protocol": "snmp", "port": snmp.port}
                options: dict[str, Any] = {
                    "community": {"file": str(secrets_dir / "snmp-community")},
                    "profile": SNMP_PROFILE[device.kind],
                }
                if device.contacts:
                    options["contacts"] = {
                        contact_key(label): {"kind": _contact_kind(label)}
                        for label in device.contacts
                    }
                entry["snmp"] = options
            elif (camera := self._cameras.get(device.id)) is not None:
                real = camera.rtsp_port is not None
                password = "ipycam-password" if real else "camera-password"
                entry |= {
                    "protocol": "onvif", "port": camera.port,
                    "credentials": {
                        "username": CAMERA_USER,
                        "password": {"file": str(secrets_dir / password)},
                    },
                    # ipycam: its RTSP stream is checked; the fake has no media service. No
                    # snapshots (picture health learns over days) or recordings either way.
                    "onvif": {"stream_check": real, "snapshot_interval": 0,
                              "recording_interval": 0},
                }  # fmt: skip
            else:
                mqtt = self._mqtt[device.id]
                assert self._broker is not None
                template = (
                    "access_controller"
                    if device.kind is DeviceKind.DOOR_CONTROLLER
                    else "alarm_panel"
                )
                entry |= {
                    "protocol": "mqtt",
                    "port": self._broker.port,
                    "mqtt": {"template": template, "topic": mqtt.topic},
                }
            out.append(entry)
        return out

    def rtsp_port(self, device_id: str) -> int | None:
        """The RTSP port of a camera run by ipycam (None for the fake: it has no stream)."""
        camera = self._cameras.get(device_id)
        return None if camera is None else camera.rtsp_port

    def endpoints(self) -> dict[str, str]:
        """device id → how to reach it (for the tour and for tests)."""
        out = {
            d: f"snmp udp 127.0.0.1:{s.port} community {COMMUNITY}" for d, s in self._snmp.items()
        }
        out |= {
            d: f"onvif http://127.0.0.1:{c.port}/onvif/device_service"
            for d, c in self._cameras.items()
        }
        if self._broker is not None:
            out |= {
                d: f"mqtt 127.0.0.1:{self._broker.port} {m.topic}/#" for d, m in self._mqtt.items()
            }
        return out

    # -- actions -------------------------------------------------------------------------------

    async def apply(self, step: Step, *, origin: float | None = None) -> None:
        """Do what one scenario step says; `origin` (monotonic) anchors a flap's `until`."""
        device_id = step.device
        if device_id not in {d.id for d in self._all()}:
            log.info("%s: not simulated here, %s skipped", device_id, step.action)
            return
        if step.note:
            log.info("scenario: %s", step.note)
        match step.action:
            case Action.DOWN | Action.UP:
                await self._power(device_id, on=step.action is Action.UP)
            case Action.FLAP:
                assert step.period is not None
                assert step.until is not None
                start = origin if origin is not None else time.monotonic()
                stop = start + step.until * self.time_scale
                self._spawn(self._flap(device_id, step.period, stop), f"simulate-flap-{device_id}")
            case Action.ON_BATTERY | Action.ON_MAINS:
                ups = self._snmp[device_id].model
                assert isinstance(ups, Ups)
                ups.on_battery = step.action is Action.ON_BATTERY
                ups.seconds_on_battery = 0.0
                self._write(self._snmp[device_id])
                log.info("%s: %s", device_id, "on battery" if ups.on_battery else "back on mains")
                if ups.on_battery:
                    await self._trap(device_id, ups)
            case Action.ALARM | Action.CLEAR:
                monitor = self._snmp[device_id].model
                assert isinstance(monitor, SiteMonitor)
                for contact in monitor.contacts:
                    if contact.label == step.contact:
                        contact.alarm = step.action is Action.ALARM
                self._write(self._snmp[device_id])
                log.info("%s: contact %s %s", device_id, step.contact, step.action)
            case Action.TAMPER:
                await self._camera_event(
                    device_id, "tns1:VideoSource/GlobalSceneChange/ImagingService", "true"
                )
            case Action.SIGNAL_LOSS | Action.SIGNAL_BACK:
                state = "true" if step.action is Action.SIGNAL_LOSS else "false"
                await self._camera_event(device_id, "tns1:VideoSource/SignalLoss", state)
            case Action.STREAM_DOWN | Action.STREAM_UP:
                cam = self._cameras[device_id].ipycam
                if cam is not None:
                    down = step.action is Action.STREAM_DOWN
                    await asyncio.to_thread(cam.stop_stream if down else cam.start_stream)
                    log.info("%s: RTSP stream %s", device_id, "closed" if down else "open")
            case Action.AC_LOST | Action.AC_BACK:
                ac = step.action is Action.AC_BACK
                self._mqtt_command(device_id, {"state": {"power": {"ac": ac}}})
                if not ac:
                    self._mqtt_command(device_id, {"event": "ac_lost"})

    async def _flap(self, device_id: str, period: float, stop: float) -> None:
        on = False
        while time.monotonic() < stop:
            await self._power(device_id, on=on)
            on = not on
            await asyncio.sleep(min(period * self.time_scale, max(0.0, stop - time.monotonic())))
        await self._power(device_id, on=True)

    async def _power(self, device_id: str, *, on: bool, quiet: bool = False) -> None:
        """Power a device on or off; a PoE switch powers the cameras on its ports with it."""
        if (snmp := self._snmp.get(device_id)) is not None:
            if on and snmp.peer is None:
                self._write(snmp)
                peer = Snmpsim(
                    snmp.data_dir.parent, snmp.data_dir, ready_community=COMMUNITY, port=snmp.port
                )
                await asyncio.to_thread(peer.start)
                snmp.peer = peer
            elif not on and snmp.peer is not None:
                await asyncio.to_thread(snmp.peer.kill)
                snmp.peer = None
            else:
                return
            if snmp.device.kind is DeviceKind.POE_SWITCH and not quiet:
                children = [c.id for c in self.scenario.children(device_id)]
                await asyncio.gather(*(self._power(c, on=on) for c in children))
        elif (camera := self._cameras.get(device_id)) is not None:
            if camera.rtsp_port is not None:
                if on and camera.ipycam is None:
                    cam = IpyCam(
                        self.workdir / device_id, serial=f"SIM-{device_id}",
                        onvif_port=camera.port, rtsp_port=camera.rtsp_port,
                        video=self.workdir / "camera.mp4",
                    )  # fmt: skip
                    camera.ipycam = await asyncio.to_thread(cam.start)
                elif not on and camera.ipycam is not None:
                    await asyncio.to_thread(camera.ipycam.stop)
                    camera.ipycam = None
                else:
                    return
            elif on and camera.fake is None:
                fake = FakeOnvifCamera(
                    username=CAMERA_USER, password=self.camera_password,
                    serial=f"SIM-{device_id}", port=camera.port,
                )  # fmt: skip
                camera.fake = await asyncio.to_thread(fake.start)
            elif not on and camera.fake is not None:
                await asyncio.to_thread(camera.fake.close)
                camera.fake = None
            else:
                return
        elif (mqtt := self._mqtt.get(device_id)) is not None:
            if on and mqtt.proc is None:
                assert self._broker is not None
                mqtt.proc = await asyncio.to_thread(self._start_mqtt, mqtt, self._broker.port)
            elif not on and mqtt.proc is not None:
                mqtt.proc.kill()  # a lost connection, no DISCONNECT: the broker sends the will
                await asyncio.to_thread(mqtt.proc.wait, 10)
                mqtt.proc = None
            else:
                return
        if not quiet:
            log.info("%s: %s", device_id, "powered on" if on else "powered off")

    @staticmethod
    def _start_mqtt(mqtt: _Mqtt, port: int) -> "subprocess.Popen[str]":
        state = json.dumps(mqtt.state)
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulate.mqtt_device", str(port), mqtt.topic, state],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "online":
            terminate(proc, grace=2)
            raise RuntimeError(f"{mqtt.device.id}: the simulated MQTT device did not come online")
        return proc

    def _mqtt_command(self, device_id: str, command: dict[str, Any]) -> None:
        mqtt = self._mqtt[device_id]
        if "state" in command:
            mqtt.state = merge(mqtt.state, command["state"])
        if mqtt.proc is None or mqtt.proc.stdin is None:
            return  # off: it tells the broker when it is back
        mqtt.proc.stdin.write(json.dumps(command) + "\n")
        mqtt.proc.stdin.flush()

    async def _camera_event(self, device_id: str, topic: str, state: str) -> None:
        fake = self._cameras[device_id].fake
        if fake is None:
            return
        got = await asyncio.to_thread(
            fake.inject,
            topic,
            source={"VideoSourceConfigurationToken": "vs0"},
            data={"State": state},
        )
        log.info("%s: ONVIF event %s State=%s to %d subscriber(s)", device_id, topic, state, got)

    async def _trap(self, device_id: str, ups: Ups) -> None:
        """upsTrapOnBattery (RFC 1628) to the agent's trap listener, by net-snmp's snmptrap."""
        if self.trap_port is None:
            return
        if SNMPTRAP is None:
            log.info(
                "%s: no snmptrap (Debian package snmp): the agent sees it at its next poll",
                device_id,
            )
            return
        remaining = round(ups.runtime_min * ups.charge_percent / 100)
        args = [
            SNMPTRAP, "-v2c", "-c", COMMUNITY, f"127.0.0.1:{self.trap_port}", "",
            UPS_TRAP_ON_BATTERY,
            "1.3.6.1.2.1.33.1.2.3.0", "i", str(remaining),
            "1.3.6.1.2.1.33.1.2.2.0", "i", "0",
        ]  # fmt: skip
        done = await asyncio.to_thread(
            subprocess.run, args, capture_output=True, text=True, check=False, timeout=10,
            env={**os.environ, "MIBS": ""},
        )  # fmt: skip
        if done.returncode != 0:
            log.warning("%s: snmptrap failed: %s", device_id, done.stderr.strip())

    # -- moving values -------------------------------------------------------------------------

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            minutes = (now - last) / 60 / self.time_scale  # scenario minutes gone by
            last = now
            for snmp in self._snmp.values():
                _advance(snmp.model, snmp.device, minutes)
                if snmp.peer is not None:
                    self._write(snmp)

    def _write(self, snmp: _Snmp) -> None:
        """Rewrite the device's data file. snmpsim notices a new file by its whole-second
        mtime, so each write gets a later second than the last (index rebuilt, not stale)."""
        elapsed = (time.monotonic() - self._started) / self.time_scale
        text = render(_records(snmp.model, elapsed))
        path = snmp.data_dir / f"{COMMUNITY}.snmprec"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        snmp.mtime = max(int(time.time()), snmp.mtime + 1)
        os.utime(tmp, (snmp.mtime, snmp.mtime))
        os.replace(tmp, path)


def _contact_kind(label: str) -> str:
    key = contact_key(label)
    for kind in ("smoke", "flood", "door", "tamper"):
        if kind in key:
            return kind
    return "generic"


def _model(device: SimDevice, cameras: list[str]) -> SnmpModel:
    match device.kind:
        case DeviceKind.RECORDER:
            return Recorder(device.name, [Disk("Disk 1"), Disk("Disk 2", device.bad_sectors)])
        case DeviceKind.UPS:
            return Ups(device.name, runtime_min=device.battery_runtime_min)
        case DeviceKind.POE_SWITCH:
            return PoeSwitch(
                device.name, [PoePort(c) for c in cameras] + [PoePort(None)] * (8 - len(cameras))
            )
        case _:
            return SiteMonitor(device.name, [Contact(label) for label in device.contacts])


def _records(model: SnmpModel, elapsed: float) -> list[Record]:
    if isinstance(model, Recorder):
        return recorder_records(model, elapsed)
    if isinstance(model, Ups):
        return ups_records(model, elapsed)
    if isinstance(model, PoeSwitch):
        return switch_records(model, elapsed)
    return monitor_records(model, elapsed)


def _advance(model: SnmpModel, device: SimDevice, minutes: float) -> None:
    """Time-compressed wear and discharge over `minutes` of scenario time."""
    if isinstance(model, Recorder) and device.wear_sectors_per_minute:
        model.disks[-1].bad_sectors += device.wear_sectors_per_minute * minutes
    elif isinstance(model, Ups):
        model.runtime_min = max(1.0, model.runtime_min - device.fade_minutes_per_minute * minutes)
        if model.on_battery:
            model.seconds_on_battery += minutes * 60
            model.charge_percent = max(
                0.0, model.charge_percent - 100 * minutes / model.runtime_min
            )
        else:
            model.charge_percent = min(100.0, model.charge_percent + 10 * minutes)
