"""The simulated site answers real clients (net-snmp's snmpget, mosquitto_sub, the ONVIF
client against the fake and against ipycam), an instructor's cue changes what they see (mains
lost, a switch and the camera behind it powered off, a door controller's last will, a stream
gone), and closing it leaves no process, port or file.
"""

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from simulate.cues import send_cue
from simulate.peers.ipycam import PASSWORD as IPYCAM_PASSWORD
from simulate.peers.ipycam import missing_ipycam
from simulate.peers.mosquitto import MOSQUITTO
from simulate.peers.net import wait_for_port
from simulate.peers.snmp import SNMPGET, SNMPSIM, snmp_get
from simulate.runner import play
from simulate.scenario import load_scenario
from simulate.site import COMMUNITY, Site

MOSQUITTO_SUB = shutil.which("mosquitto_sub")
OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"  # UPS-MIB upsOutputSource: normal(3), battery(5)
pytestmark = [
    pytest.mark.skipif(
        not SNMPSIM.exists(), reason="snmpsim not installed (pip install -e .[dev])"
    ),
    pytest.mark.skipif(SNMPGET is None, reason="net-snmp snmpget missing (apt-get install snmp)"),
    pytest.mark.skipif(
        MOSQUITTO is None or MOSQUITTO_SUB is None,
        reason="mosquitto and mosquitto-clients missing (make test installs them)",
    ),
]

SCENARIO = """\
name: small
devices:
  - {id: ups-01, name: UPS, kind: ups}
  - {id: sw-01, name: Switch, kind: poe_switch}
  - {id: cam-01, name: Camera, kind: camera, parent: sw-01}
  - {id: door-01, name: Door, kind: door_controller}
  - {id: cam-02, name: Real camera, kind: camera, engine: ipycam}
cues:
  mains-lost: [{device: ups-01, action: on_battery}]
  switch-cut: [{device: sw-01, action: down}]
  door-dies: [{device: door-01, action: down}]
  stream-lost: [{device: cam-02, action: stream_down}]
"""


def children() -> set[int]:
    """Live (not zombie) child processes of this test process."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                found.add(int(stat.parent.name))
    return found


def snmpget(port: int, oid: str) -> str | None:
    assert SNMPGET is not None
    done = subprocess.run(
        [SNMPGET, "-v2c", "-c", COMMUNITY, "-t", "1", "-r", "0", "-On", "-Oqv",
         f"127.0.0.1:{port}", oid],
        capture_output=True, text=True, check=False, env={**os.environ, "MIBS": ""},
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else None


def retained(port: int, topic: str) -> dict[str, str]:
    assert MOSQUITTO_SUB is not None
    done = subprocess.run(
        [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-C", "1", "-W", "5"],
        capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
    payload: dict[str, str] = json.loads(done.stdout)
    return payload


async def until(predicate: Callable[[], bool], within: float = 20) -> None:
    """Poll `predicate` (blocking: it asks another process) off the loop until it holds."""
    async with asyncio.timeout(within):
        while not await asyncio.to_thread(predicate):  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.2)


def port_free(port: int, kind: int) -> bool:
    """Nobody holds the port (TCP: nobody listens; TIME_WAIT left by closed peers is fine,
    as for any server that binds with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_site_answers_real_clients_plays_cues_and_leaves_nothing(tmp_path: Path) -> None:
    from onvif import ONVIFCamera

    (tmp_path / "small.yaml").write_text(SCENARIO)
    before = children()
    site = await Site.start(load_scenario(tmp_path / "small.yaml"))
    player = None
    try:
        devices = {d["id"]: d for d in site.agent_devices(interval=5, secrets_dir=tmp_path)}
        assert devices["cam-01"]["parent"] == "sw-01"
        ups, switch, camera = (devices[d]["port"] for d in ("ups-01", "sw-01", "cam-01"))
        broker = devices["door-01"]["port"]
        assert snmpget(ups, OUTPUT_SOURCE) == "3"
        assert snmpget(switch, "1.3.6.1.2.1.105.1.3.1.1.3.1") == "1"  # pethMainPseOperStatus on
        onvif = ONVIFCamera("127.0.0.1", camera, "admin", site.camera_password, adjust_time=True)
        await onvif.update_xaddrs()
        info = await (await onvif.create_devicemgmt_service()).GetDeviceInformation()
        assert info.SerialNumber == "SIM-cam-01"
        await onvif.close()
        assert retained(broker, "site/door-01/status") == {"state": "online"}
        assert retained(broker, "site/door-01/state")["door"] == "closed"
        rtsp = site.rtsp_port("cam-02")
        if missing_ipycam() is None:
            assert rtsp is not None
            assert wait_for_port(rtsp, timeout=5)
            real = ONVIFCamera("127.0.0.1", devices["cam-02"]["port"], "admin", IPYCAM_PASSWORD)
            await real.update_xaddrs()
            info = await (await real.create_devicemgmt_service()).GetDeviceInformation()
            assert info.SerialNumber == "SIM-cam-02"
            await real.close()
        else:
            assert rtsp is None
            assert any(note.startswith("cam-02: the ONVIF fake stands in") for note in site.skipped)

        player = asyncio.create_task(play(site, data_dir=tmp_path))
        await until(lambda: (tmp_path / "cues.json").exists())
        send_cue(tmp_path, "mains-lost")
        await until(lambda: snmpget(ups, OUTPUT_SOURCE) == "5")  # the rewritten data file
        send_cue(tmp_path, "switch-cut")
        await until(lambda: snmp_get(switch, COMMUNITY, ["1.3.6.1.2.1.1.3.0"], timeout=0.5) is None)
        await until(lambda: port_free(camera, socket.SOCK_STREAM))  # the camera lost PoE too
        send_cue(tmp_path, "door-dies")
        await until(lambda: retained(broker, "site/door-01/status") == {"state": "offline"})
        if rtsp is not None:
            send_cue(tmp_path, "stream-lost")
            await until(lambda: port_free(rtsp, socket.SOCK_STREAM))
    finally:
        if player is not None:
            player.cancel()
            await asyncio.gather(player, return_exceptions=True)
        await site.close()
    assert children() <= before
    assert port_free(ups, socket.SOCK_DGRAM)
    assert port_free(broker, socket.SOCK_STREAM)
    assert not site.workdir.exists()
