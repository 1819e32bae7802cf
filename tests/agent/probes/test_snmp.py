"""The SNMP probe against real agents on 127.0.0.1: Debian net-snmp `snmpd` (v1, v2c, v3) and
snmpsim serving our own fixtures (tests/fixtures/snmp, see tests/fixtures/README.md)."""

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    UdpTransportTarget,
    set_cmd,
)
from pysnmp.proto.rfc1902 import Counter32, Integer32, TimeTicks

from agent.config import DeviceConfig
from agent.probes.base import AuthFailed, ProbeFailure
from agent.probes.snmp import SnmpProbe, pysnmp_engine
from agent.probes.snmp_profiles import PROFILE_DIR, parse_profiles
from agent.sampling import poll_device
from peers.devices import make_device
from simulate.peers.snmp import (
    V2C_COMMUNITY,
    V3_AUTH_KEY,
    V3_AUTHONLY_USER,
    V3_PRIV_KEY,
    V3_SHA2_USER,
    V3_USER,
    Snmpd,
    Snmpsim,
    free_udp_port,
    missing_snmpd,
    missing_snmpsim,
)
from wire.enums import DeviceClass, ProbeErrorCode

# pysnmp 7.1 calls pysmi's old camelCase names when pysmi (a dev dependency of snmpsim) is there.
pytestmark = pytest.mark.filterwarnings("ignore:.* is deprecated. Please use:DeprecationWarning")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "snmp"
SECMON = Path(sys.executable).with_name("secmon")


class FakeClock:
    """Monotonic seconds moved by the test, so rates need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    reason = missing_snmpd()
    if reason:
        pytest.skip(reason)
    with Snmpd(tmp_path_factory.mktemp("snmpd")) as agent:
        assert isinstance(agent, Snmpd)
        yield agent


@pytest.fixture(scope="module")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    reason = missing_snmpsim()
    if reason:
        pytest.skip(reason)
    with Snmpsim(tmp_path_factory.mktemp("snmpsim"), FIXTURES, ready_community="ups-apc") as sim:
        assert isinstance(sim, Snmpsim)
        yield sim


@pytest.fixture(scope="module")
def failing_snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """The `delay` and `error` variations in a process of their own: `delay` sleeps and would
    stall every other fixture device, and failure paths stay apart from the healthy ones."""
    reason = missing_snmpsim()
    if reason:
        pytest.skip(reason)
    with Snmpsim(
        tmp_path_factory.mktemp("snmpsim-failing"),
        FIXTURES / "failing",
        ready_community="camera-slow",
    ) as sim:
        assert isinstance(sim, Snmpsim)
        yield sim


@pytest.fixture
async def probe() -> AsyncIterator[SnmpProbe]:
    snmp = SnmpProbe()
    yield snmp
    snmp.close()


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNMP_AUTH", V3_AUTH_KEY)
    monkeypatch.setenv("SNMP_PRIV", V3_PRIV_KEY)
    monkeypatch.setenv("SNMP_WRONG", "not-the-password")
    monkeypatch.setenv("SNMP_PUBLIC", V2C_COMMUNITY)


def snmp_device(port: int, snmp: dict[str, Any] | None = None, **kw: Any) -> DeviceConfig:
    data: dict[str, Any] = {
        "id": "dev-1",
        "protocol": "snmp",
        "class": "nvr",
        "port": port,
        # generous: a new SNMP engine's first request loads pysnmp's MIBs (≈0.5 s, over 1.5 s
        # on a busy machine); the failure tests set their own short timeout after warm_up()
        "timeout": 6,
        "interval": 10,
    }
    if snmp is not None:
        data["snmp"] = snmp
    data.update(kw)
    return make_device(**data)


async def warm_up(probe: SnmpProbe, port: int) -> None:
    """One poll of snmpd with a long deadline, so that a short-deadline test measures the
    device, not the engine's one-off start-up in this event loop."""
    await probe.poll(snmp_device(port, timeout=9))


def _community_env(community: str) -> str:
    return "SNMPSIM_" + community.upper().replace("-", "_")


@pytest.fixture(scope="module", autouse=True)
def sim_communities() -> Iterator[None]:
    """Each fixture's community (its file name) in an environment variable, as configs name it."""
    with pytest.MonkeyPatch.context() as patch:
        for path in [*FIXTURES.glob("*.snmprec"), *FIXTURES.glob("failing/*.snmprec")]:
            patch.setenv(_community_env(path.stem), path.stem)
        yield


def sim_device(sim: Snmpsim, community: str, **snmp: Any) -> DeviceConfig:
    """An snmpsim device is picked by community (= fixture file name)."""
    ref = {"env": _community_env(community)}
    return snmp_device(sim.port, {"community": ref, **snmp}, id=community, **{"class": "ups"})


# The SETs' pysnmp engine, one per test's event loop: building an engine compiles pysnmp's own
# MIB modules (its .pyc lookup misses on Python 3), half a second of CPU each time.
_set_engines: dict[asyncio.AbstractEventLoop, Any] = {}


@pytest.fixture(autouse=True)
async def _close_set_engine() -> AsyncIterator[None]:
    yield
    engine = _set_engines.pop(asyncio.get_running_loop(), None)
    if engine is not None:
        engine.close_dispatcher()


async def snmp_set(port: int, community: str, oid: str, value: Any) -> None:
    """SET through snmpsim's writecache variation: how a test flips a device's state."""
    loop = asyncio.get_running_loop()
    engine = _set_engines.get(loop) or _set_engines.setdefault(loop, pysnmp_engine())
    target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=1, retries=1)
    indication, status, _, _ = await set_cmd(
        engine,
        CommunityData(community),
        target,
        ContextData(),
        ObjectType(ObjectIdentity(oid), value),
        lookupMib=False,
    )
    assert not indication, indication
    assert not int(status), status


# --- net-snmp snmpd: versions, security, and failures -----------------------------------------


async def test_v2c_poll_of_snmpd_gives_generic_health(snmpd: Snmpd, probe: SnmpProbe) -> None:
    result = await probe.poll(snmp_device(snmpd.port))
    checks = result.checks
    # net-snmp answers HOST-RESOURCES-MIB (hrSystemUptime): its layer is stacked on generic
    assert checks["snmp.profiles"] == "generic+host_resources"
    assert isinstance(checks["system.uptime_s"], int)
    assert checks["system.rebooted"] is False
    assert isinstance(checks["ucd.load_1m"], int | float)
    assert 0 <= float(checks["ucd.mem.used_percent"] or 0) <= 100
    assert 0 <= float(checks["hr_storage.root.used_percent"] or 0) <= 100
    assert 0 <= int(checks["ucd.disk.root.used_percent"] or 0) <= 100
    oper = [v for k, v in checks.items() if k.startswith("if.") and k.endswith(".oper_up")]
    assert oper
    assert all(isinstance(v, bool) for v in oper)
    assert result.latency_ms is not None
    assert result.latency_ms >= 0
    assert result.identity is not None
    assert result.identity.model is not None
    assert result.identity.model.startswith("Linux")


async def test_second_poll_gives_interface_error_rates(snmpd: Snmpd, probe: SnmpProbe) -> None:
    device = snmp_device(snmpd.port)
    first = await probe.poll(device)
    rates = [k for k in first.checks if k.endswith("in_errors_per_s")]
    assert rates
    assert all(first.checks[k] is None for k in rates)
    await asyncio.sleep(0.05)
    second = await probe.poll(device)
    assert all(isinstance(second.checks[k], float) for k in rates)


async def test_v1_poll_of_snmpd(snmpd: Snmpd, probe: SnmpProbe) -> None:
    result = await probe.poll(snmp_device(snmpd.port, {"version": "1"}))
    assert isinstance(result.checks["system.uptime_s"], int)
    assert any(k.startswith("if.") for k in result.checks)


async def test_v3_auth_priv_sha_aes(snmpd: Snmpd, probe: SnmpProbe, secrets: None) -> None:
    options = {
        "version": "3",
        "user": V3_USER,
        "auth_protocol": "sha",
        "auth_key": {"env": "SNMP_AUTH"},
        "priv_protocol": "aes",
        "priv_key": {"env": "SNMP_PRIV"},
    }
    result = await probe.poll(snmp_device(snmpd.port, options))
    assert isinstance(result.checks["system.uptime_s"], int)
    assert any(k.startswith("hr_storage.") for k in result.checks)


async def test_v3_auth_no_priv_sha256(snmpd: Snmpd, probe: SnmpProbe, secrets: None) -> None:
    options = {
        "version": "3",
        "user": V3_AUTHONLY_USER,
        "auth_protocol": "sha256",
        "auth_key": {"env": "SNMP_AUTH"},
    }
    result = await probe.poll(snmp_device(snmpd.port, options))
    assert isinstance(result.checks["system.uptime_s"], int)


async def test_v3_auth_priv_sha512_aes256(snmpd: Snmpd, probe: SnmpProbe, secrets: None) -> None:
    """SHA-2 authentication with AES-256 privacy (Blumenthal key extension, as net-snmp)."""
    options = {
        "version": "3",
        "user": V3_SHA2_USER,
        "auth_protocol": "sha512",
        "auth_key": {"env": "SNMP_AUTH"},
        "priv_protocol": "aes256",
        "priv_key": {"env": "SNMP_PRIV"},
    }
    result = await probe.poll(snmp_device(snmpd.port, options))
    assert isinstance(result.checks["system.uptime_s"], int)
    assert any(k.startswith("hr_storage.") for k in result.checks)


async def test_v3_sha2_user_with_the_wrong_auth_protocol_is_auth_failed(
    snmpd: Snmpd, probe: SnmpProbe, secrets: None
) -> None:
    """The right keys with SHA-256 instead of SHA-512: the digest is wrong, snmpd reports it."""
    options = {
        "version": "3",
        "user": V3_SHA2_USER,
        "auth_protocol": "sha256",
        "auth_key": {"env": "SNMP_AUTH"},
        "priv_protocol": "aes256",
        "priv_key": {"env": "SNMP_PRIV"},
    }
    poll = await poll_device(probe, snmp_device(snmpd.port, options))
    assert poll.sample.error is not None
    assert poll.sample.error.code is ProbeErrorCode.AUTH_FAILED


async def test_v3_wrong_auth_key_is_auth_failed(
    snmpd: Snmpd, probe: SnmpProbe, secrets: None
) -> None:
    options = {
        "version": "3",
        "user": V3_USER,
        "auth_key": {"env": "SNMP_WRONG"},
        "priv_key": {"env": "SNMP_PRIV"},
    }
    device = snmp_device(snmpd.port, options)
    with pytest.raises(AuthFailed, match="digest") as info:
        await probe.poll(device)
    assert info.value.reachable
    poll = await poll_device(probe, device)
    assert poll.sample.error is not None
    assert poll.sample.error.code is ProbeErrorCode.AUTH_FAILED
    assert poll.sample.reachable


async def test_a_wrong_key_on_one_device_does_not_break_another_with_the_same_user(
    snmpd: Snmpd, probe: SnmpProbe, secrets: None
) -> None:
    """pysnmp keeps one local entry per user name: without care, the second device's wrong
    key would replace the first one's good key inside the shared engine."""
    good = {"version": "3", "user": V3_USER, "auth_key": {"env": "SNMP_AUTH"},
            "priv_key": {"env": "SNMP_PRIV"}}  # fmt: skip
    wrong = {**good, "auth_key": {"env": "SNMP_WRONG"}}
    right_device = snmp_device(snmpd.port, good, id="nvr-good")
    wrong_device = snmp_device(snmpd.port, wrong, id="nvr-typo")
    for _ in range(2):  # at the same time, as the scheduler polls them
        right, typo = await asyncio.gather(
            poll_device(probe, right_device), poll_device(probe, wrong_device)
        )
        assert right.sample.error is None, right.sample.error
        assert isinstance(right.sample.checks["system.uptime_s"], int)
        assert typo.sample.error is not None
        assert typo.sample.error.code is ProbeErrorCode.AUTH_FAILED


async def test_v3_unknown_user_is_auth_failed(
    snmpd: Snmpd, probe: SnmpProbe, secrets: None
) -> None:
    options = {"version": "3", "user": "intruder", "auth_key": {"env": "SNMP_AUTH"}}
    with pytest.raises(AuthFailed, match=r"(?i)unknown usm user"):
        await probe.poll(snmp_device(snmpd.port, options))


async def test_v3_below_the_users_security_level_is_auth_failed(
    snmpd: Snmpd, probe: SnmpProbe, secrets: None
) -> None:
    """`secmon` is an authPriv user: snmpd answers authorizationError to authNoPriv."""
    options = {"version": "3", "user": V3_USER, "auth_key": {"env": "SNMP_AUTH"}}
    with pytest.raises(AuthFailed):
        await probe.poll(snmp_device(snmpd.port, options))


async def test_wrong_community_is_unreachable_because_snmpd_stays_silent(
    snmpd: Snmpd, probe: SnmpProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1/v2c agents drop a wrong community without an answer: indistinguishable from a dead
    device, so it is `device.unreachable` (documented in agent/probes/snmp.py)."""
    monkeypatch.setenv("SNMP_BAD_COMMUNITY", "not-public")
    await warm_up(probe, snmpd.port)
    device = snmp_device(snmpd.port, {"community": {"env": "SNMP_BAD_COMMUNITY"}}, timeout=1)
    poll = await poll_device(probe, device)
    assert poll.sample.error is not None
    assert poll.sample.error.code is ProbeErrorCode.UNREACHABLE
    assert not poll.sample.reachable


async def test_nothing_listening_is_unreachable_within_the_deadline(
    snmpd: Snmpd, probe: SnmpProbe
) -> None:
    await warm_up(probe, snmpd.port)
    device = snmp_device(free_udp_port(), timeout=1)
    poll = await poll_device(probe, device)
    assert poll.sample.error is not None
    # the tries (half of the poll's deadline) give up before the deadline itself fires
    assert poll.sample.error.code is ProbeErrorCode.UNREACHABLE


async def test_device_answering_system_but_too_slow_on_a_table_is_unreachable(
    failing_snmpsim: Snmpsim, snmpd: Snmpd, probe: SnmpProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first GET answers at once, the ifOperStatus walk takes 2.5 s: over the deadline."""
    monkeypatch.setenv("SLOW_COMMUNITY", "camera-slow")
    await warm_up(probe, snmpd.port)
    device = snmp_device(
        failing_snmpsim.port, {"community": {"env": "SLOW_COMMUNITY"}, "retries": 0}, timeout=1
    )
    poll = await poll_device(probe, device)
    assert poll.sample.error is not None
    assert poll.sample.error.code is ProbeErrorCode.UNREACHABLE
    assert "camera-slow" not in poll.sample.error.message  # no secret in messages
    assert "ExceptionGroup" not in poll.sample.error.message  # one reason, not a bundle


async def test_garbage_answers_are_a_failure_not_a_crash(snmpd: Snmpd, probe: SnmpProbe) -> None:
    """A UDP service that is not SNMP (e.g. a camera's discovery port) answers junk."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()

    async def answer_junk() -> None:
        while True:
            _, addr = await loop.sock_recvfrom(sock, 4096)
            await loop.sock_sendto(sock, b"\x30\x03\x02\x01\xff garbage", addr)

    await warm_up(probe, snmpd.port)
    task = asyncio.create_task(answer_junk(), name="junk-responder")
    try:
        poll = await poll_device(probe, snmp_device(sock.getsockname()[1], timeout=1))
    finally:
        task.cancel()
        sock.close()
    assert poll.sample.error is not None
    assert poll.sample.error.code in {ProbeErrorCode.UNREACHABLE, ProbeErrorCode.PROTOCOL_ERROR}


# --- snmpsim fixtures: profiles and quirks -------------------------------------------------------


async def test_ups_on_battery_is_recognised_by_sys_object_id(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    result = await probe.poll(sim_device(snmpsim, "ups-onbattery"))
    checks = result.checks
    assert checks["snmp.profile"] == "ups"
    assert checks["ups.on_battery"] is True
    assert checks["ups.output_source"] == "battery"
    assert checks["ups.battery.status"] == "low"
    assert checks["ups.battery.minutes_remaining"] == 7
    assert checks["ups.battery.charge_percent"] == 38
    assert checks["ups.battery.temperature_c"] == 29
    assert checks["ups.battery.voltage_v"] == pytest.approx(48.2)
    assert checks["ups.input.voltage_v"] == 0
    assert checks["ups.alarms"] == 2
    assert checks["ups.self_test.result"] == "error"  # upsTestResultsSummary doneError(3)
    assert checks["ups.self_test.failed"] is True
    assert result.identity is not None
    assert result.identity.vendor == "EATON"
    assert result.identity.model == "5PX 1500i RT2U G2"
    assert result.identity.firmware == "INV: 1.09.0005"


async def test_apc_battery_needs_replacing(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    result = await probe.poll(sim_device(snmpsim, "ups-apc"))
    checks = result.checks
    assert checks["snmp.profile"] == "ups_apc"
    assert checks["ups.battery.replace"] is True
    assert checks["ups.on_battery"] is False
    assert checks["ups.output_status"] == "online"
    assert checks["ups.battery.minutes_remaining"] == pytest.approx(25.0)
    assert checks["ups.input.voltage_v"] == 231
    assert checks["ups.self_test.result"] == "failed"  # upsAdvTestDiagnosticsResults failed(2)
    assert checks["ups.self_test.failed"] is True
    # the card's universal I/O probes: a temperature-only probe and one that lost contact
    assert checks["apc.probe.comms_room.celsius"] == 24
    assert checks["apc.probe.comms_room.humidity_percent"] is None  # -1: no humidity sensor
    assert checks["apc.probe.comms_room.alarm"] == "normal"
    assert checks["apc.probe.rack_4_rear.celsius"] is None  # -1: lost communication
    assert checks["apc.probe.rack_4_rear.alarm"] == "critical"
    assert result.identity is not None
    assert result.identity.vendor == "APC"
    assert result.identity.serial == "AS0000000001"


async def test_a_passed_self_test_is_no_failure(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "ups-riello"))).checks
    assert checks["ups.self_test.result"] == "pass"  # upsTestResultsSummary donePass(1)
    assert checks["ups.self_test.failed"] is False


async def test_sentinels_are_unknown_not_numbers(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    """NetAgent-style card: -273 °C with no probe, -1 minutes on mains, all-ones gauges."""
    result = await probe.poll(sim_device(snmpsim, "ups-nosensor"))
    checks = result.checks
    assert checks["snmp.profile"] == "ups"
    assert checks["ups.battery.temperature_c"] is None
    assert checks["ups.battery.minutes_remaining"] is None
    assert checks["ups.battery.voltage_v"] is None  # 2147483647
    assert checks["ups.output.load_percent"] is None  # 4294967295
    assert checks["ups.on_battery"] is False
    assert checks["ups.input.voltage_v"] == 229
    assert checks["ups.input.frequency_hz"] == pytest.approx(50.0)
    assert checks["ups.self_test.result"] == "none"  # noTestsInitiated(6)
    assert checks["ups.self_test.failed"] is None  # no test yet says nothing of the battery
    assert result.identity is not None
    assert result.identity.vendor is None  # an empty upsIdentManufacturer is no vendor


async def test_numbers_inside_strings_on_a_camera_without_system_group(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    result = await probe.poll(sim_device(snmpsim, "camera-hik", profile="hikvision"))
    checks = result.checks
    assert "system.uptime_s" not in checks
    assert checks["hik.cpu_percent"] == 23
    assert checks["hik.mem.size_mb"] == 256
    assert checks["hik.mem.used_percent"] == 71
    assert checks["hik.disk.size_gb"] == 0.0
    assert result.identity is not None
    assert result.identity.model == "DS-2CD2043G2-I"
    assert result.identity.firmware == "V5.7.3 build 220112"


async def test_device_without_system_group_is_recognised_by_what_it_answers(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """No sysObjectID, no sysDescr: HIK-DEVICE-MIB answering its device type is enough."""
    result = await probe.poll(sim_device(snmpsim, "camera-hik"))
    assert result.checks["snmp.profiles"] == "generic+hikvision"
    assert result.checks["hik.cpu_percent"] == 23
    assert "system.uptime_s" not in result.checks
    assert result.unmonitored is None
    assert result.identity is not None
    assert result.identity.profiles == "generic+hikvision"
    assert result.identity.profile_reason is not None
    assert result.identity.profile_reason.startswith(
        "hikvision: sentinel 1.3.6.1.4.1.39165.1.1.0 answered"
    )


async def test_v1_agent_refusing_a_missing_oid_is_asked_again_without_it(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """v1 answers noSuchName for the whole GET when one OID (here sysUpTime) is missing."""
    device = sim_device(snmpsim, "camera-hik", version="1", profile="hikvision")
    for _ in range(2):  # first poll (system GET apart) and later polls (one GET)
        result = await probe.poll(device)
        assert result.checks["hik.cpu_percent"] == 23


async def test_temperature_string_with_two_units(snmpsim: Snmpsim) -> None:
    sources = {
        str(p): p.read_text()
        for p in [*PROFILE_DIR.glob("*.yaml"), *(FIXTURES / "profiles").glob("*.yaml")]
    }
    probe = SnmpProbe(parse_profiles(sources))
    try:
        result = await probe.poll(sim_device(snmpsim, "sensor-env"))
    finally:
        probe.close()
    checks = result.checks
    assert checks["snmp.profile"] == "env_monitor"
    assert checks["env.temp1_c"] == 28
    assert checks["env.temp1_f"] == 82
    assert checks["env.humidity_percent"] == 41
    assert checks["env.temp2_c"] is None  # "-273 C/-459 F": probe unplugged


async def test_poe_switch_ports_and_budget(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "switch-poe"))).checks
    assert checks["snmp.profile"] == "poe_switch"  # pethMainPseOperStatus.1 answered
    assert checks["poe.pse.pse1.budget_used_percent"] == 77.5
    assert checks["poe.pse.pse1.status"] == "on"
    assert checks["poe.port.port1_1.detection"] == "delivering"
    assert checks["poe.port.port1_1.class"] == 3
    assert checks["poe.port.port1_2.detection"] == "fault"
    # the rest of the RFC 3621 port table
    assert checks["poe.port.port1_1.admin_enabled"] is True
    assert checks["poe.port.port1_2.admin_enabled"] is False
    assert checks["poe.port.port1_1.priority"] == "critical"
    assert checks["poe.port.port1_1.type"] == "Camera Lobby"
    assert checks["poe.port.port1_2.type"] is None
    assert checks["poe.port.port1_2.overload_count"] == 31
    assert checks["poe.port.port1_2.power_denied_count"] == 2
    assert checks["poe.port.port1_2.mps_absent_count"] == 7
    assert checks["poe.port.port1_2.short_count"] == 4
    assert checks["poe.pse.pse1.usage_threshold_percent"] == 90
    assert checks["if.gigabitethernet_1_0_2.oper_up"] is False  # generic checks come too
    # ENTITY-SENSOR-MIB: 473 with precision 1 is 47.3 °C; the fan (type rpm) is not a temperature
    assert checks["sensor.cpu_temp.celsius"] == pytest.approx(47.3)
    assert checks["sensor.poe_module_temp.celsius"] == 51
    assert checks["sensor.poe_module_temp.status"] == "unavailable"
    assert not any(k.startswith("sensor.psu_fan") for k in checks)
    # the SFP's diagnostics (dBm sensors, precision 2): receive and transmit optical power
    assert checks["optic.sfp_9_rx_power.dbm"] == pytest.approx(-24.37)
    assert checks["optic.sfp_9_tx_power.dbm"] == pytest.approx(-5.12)
    assert checks["optic.sfp_9_rx_power.status"] == "ok"
    assert checks["snmp.profiles"] == "generic+entity_sensor+poe_switch"


async def test_synology_is_recognised_by_an_oid_only_it_answers(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """DSM reports net-snmp's generic sysObjectID: sysObjectID alone would say generic."""
    result = await probe.poll(sim_device(snmpsim, "nas-synology"))
    checks = result.checks
    assert checks["snmp.profile"] == "synology"
    assert checks["syno.system_failed"] is False
    assert checks["syno.disk.disk_1.status"] == "normal"
    assert checks["syno.disk.disk_2.status"] == "crashed"
    assert checks["syno.disk.disk_2.bad_sectors"] == 1288
    assert checks["syno.disk.disk_2.temperature_c"] is None  # -2147483648: not read
    assert checks["syno.disk.disk_1.remaining_life_percent"] is None  # -1: spinning disk
    assert result.identity is not None
    assert (result.identity.model, result.identity.firmware) == ("DS920+", "DSM 7.2-64570")


DAHUA_STATUS = "1.3.6.1.4.1.1004849.2.1.2.8.0"


async def test_dahua_identity_status_and_disks(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    await snmp_set(snmpsim.port, "nvr-dahua", DAHUA_STATUS, Integer32(1))
    device = sim_device(snmpsim, "nvr-dahua")
    result = await probe.poll(device)
    checks = result.checks
    assert checks["snmp.profile"] == "dahua"
    assert result.identity is not None
    assert result.identity.vendor == "Dahua"
    assert result.identity.model == "DH-NVR2108HS-8P-4KS3"
    assert result.identity.serial == "7B0000PAZ00000"
    assert result.identity.firmware == "4.001.0000000.3"
    assert checks["dahua.device_ok"] is True
    assert checks["dahua.cpu_percent"] == 11
    assert checks["dahua.video_channels"] == 8
    assert checks["dahua.disk.hdd_1.status"] == "Normal"
    assert checks["dahua.disk.hdd_2.status"] == "Error"  # free text: reported, not judged
    assert checks["if.eth0.oper_up"] is True  # the generic checks come too

    await snmp_set(snmpsim.port, "nvr-dahua", DAHUA_STATUS, Integer32(0))  # deviceStatus bad
    second = await probe.poll(device)
    assert second.checks["dahua.device_ok"] is False
    assert [e.kind for e in second.events] == ["device.status"]
    await snmp_set(snmpsim.port, "nvr-dahua", DAHUA_STATUS, Integer32(1))


async def test_hikvision_nvr_disks_from_host_resources(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    result = await probe.poll(sim_device(snmpsim, "nvr-hik"))
    checks = result.checks
    assert checks["snmp.profile"] == "hikvision_nvr"  # by sysDescr: Hikvision … NVR
    assert checks["hik.cpu_percent"] == 9  # "9 PERCENT"
    assert checks["hik.mem.size_mb"] == 1024  # "1024 MB"
    assert checks["hr_storage.hdd1.size_gib"] == 4096.0
    assert checks["hr_storage.hdd1.free_gib"] == 1024.0
    assert checks["hr_storage.hdd1.used_percent"] == 75.0
    assert checks["hr_storage.hdd2.free_gib"] == 0.0
    assert checks["hr_storage.hdd2.size_gib"] == pytest.approx(1863.0, abs=0.1)
    assert not any(k.startswith("hr_storage.physical_memory") for k in checks)  # RAM row
    assert checks["hr_disk.hdd1.status"] == "running"
    assert checks["hr_disk.hdd2.status"] == "warning"
    assert checks["hr_disk.hdd1.capacity_gib"] is None  # 2147483647 KB: clamped, unknown
    assert checks["hr_disk.hdd2.capacity_gib"] == pytest.approx(1863.0, abs=0.1)
    assert result.identity is not None
    assert (result.identity.vendor, result.identity.model) == ("Hikvision", "DS-7608NI-K2")


async def test_axis_temperatures_casing_and_video(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    await snmp_set(snmpsim.port, "camera-axis", AXIS_CASING, Integer32(1))
    checks = (await probe.poll(sim_device(snmpsim, "camera-axis"))).checks
    assert checks["snmp.profile"] == "axis"
    assert checks["axis.temp.sensor2_1.celsius"] == 38
    assert checks["axis.temp.sensor2_2.status"] == "out_of_boundary"
    assert checks["axis.casing.casing.open"] is False
    assert checks["axis.video.channel1.signal_ok"] is True
    assert checks["axis.power.psu1_1.status"] == "ok"
    assert checks["axis.fan.fan2_1.status"] == "ok"


AXIS_SD_DISK = "1.3.6.1.4.1.368.4.1.8.1.3.3"
AXIS_CASING = "1.3.6.1.4.1.368.4.1.6.1.3.1"


async def test_axis_storage_disrupted_without_recording_configured_is_no_fault(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """The quirk: with no card and no share configured, the camera flags both storages
    "disruption detected". The flag is reported as the camera says, but nothing fails."""
    await snmp_set(snmpsim.port, "camera-axis", AXIS_SD_DISK, Integer32(2))
    checks = (await probe.poll(sim_device(snmpsim, "camera-axis"))).checks
    for storage in ("sd_disk", "networkshare"):
        assert checks[f"axis.storage.{storage}.disrupted"] is True
        assert checks[f"axis.storage.{storage}.recording"] is False
        assert checks[f"axis.storage.{storage}.failed"] is False


async def test_axis_storage_the_camera_records_to_fails_and_recovers(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """Recording to the SD card is configured: its disruption is a failing check (with an
    event when it changes); the unused NetworkShare's identical flag still is not."""
    await snmp_set(snmpsim.port, "camera-axis", AXIS_SD_DISK, Integer32(2))
    device = sim_device(snmpsim, "camera-axis", recording_storage=["SD_DISK"])
    first = await probe.poll(device)
    assert first.checks["axis.storage.sd_disk.recording"] is True
    assert first.checks["axis.storage.sd_disk.failed"] is True
    assert first.checks["axis.storage.networkshare.failed"] is False
    assert first.events == []
    await snmp_set(snmpsim.port, "camera-axis", AXIS_SD_DISK, Integer32(1))  # card replaced
    second = await probe.poll(device)
    assert second.checks["axis.storage.sd_disk.disrupted"] is False
    assert second.checks["axis.storage.sd_disk.failed"] is False
    assert [(e.kind, e.data["check"]) for e in second.events] == [
        ("storage.failed", "axis.storage.sd_disk.failed")
    ]


async def test_swapped_hardware_is_recognised_again(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    """The same device id answering with another sysObjectID (a replaced UPS card)."""
    before = sim_device(snmpsim, "ups-apc").model_copy(update={"id": "ups-9"})
    after = sim_device(snmpsim, "ups-onbattery").model_copy(update={"id": "ups-9"})
    assert (await probe.poll(before)).checks["snmp.profile"] == "ups_apc"
    result = await probe.poll(after)
    assert result.checks["snmp.profile"] == "ups"
    assert result.checks["snmp.profiles"] == "generic+ups"
    assert result.checks["ups.on_battery"] is True


async def test_a_new_sys_descr_under_the_same_sys_object_id_is_detected_again(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """Same net-snmp sysObjectID, other sysDescr (new firmware, another box): its stack too."""
    before = sim_device(snmpsim, "nvr-reboot").model_copy(update={"id": "nas-9"})
    after = sim_device(snmpsim, "nas-synology").model_copy(update={"id": "nas-9"})
    assert (await probe.poll(before)).checks["snmp.profiles"] == "generic"
    result = await probe.poll(after)
    assert result.checks["snmp.profiles"] == "generic+synology"
    assert result.checks["syno.disk.disk_2.status"] == "crashed"


async def test_dry_contact_opening_is_an_event(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    community = "site-siteboss"
    door, door_alarm = (
        "1.3.6.1.4.1.3052.20.1.1.1.1.6.101.2.1",
        "1.3.6.1.4.1.3052.20.1.1.1.1.5.101.2.1",
    )
    await snmp_set(snmpsim.port, community, door, Integer32(1))
    await snmp_set(snmpsim.port, community, door_alarm, Integer32(2))
    device = sim_device(snmpsim, community)
    first = await probe.poll(device)
    checks = first.checks
    assert checks["snmp.profile"] == "siteboss"
    assert checks["contact.lobby_door.closed"] is True
    assert checks["contact.lobby_door.alarm"] is False
    assert checks["contact.ac_mains.closed"] is False  # mains contact open: power cut
    assert checks["contact.ac_mains.alarm"] is True
    assert checks["probe.rack_temp.celsius"] == 24
    assert checks["probe.outdoor_temp.celsius"] is None  # "-273 C": probe unplugged
    assert first.events == []  # the first poll learns the state, it reports no old news

    await snmp_set(snmpsim.port, community, door, Integer32(0))
    await snmp_set(snmpsim.port, community, door_alarm, Integer32(1))
    second = await probe.poll(device)
    assert second.checks["contact.lobby_door.closed"] is False
    assert second.checks["contact.lobby_door.alarm"] is True
    assert [(e.kind, e.data) for e in second.events] == [
        ("site.contact", {"check": "contact.lobby_door.closed", "value": False, "previous": True})
    ]
    third = await probe.poll(device)
    assert third.events == []


async def test_contacts_are_mapped_to_the_sites_own_event_names(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """The device config names what a contact means at this site: the smoke detector's
    contact going into alarm is `fire.smoke`, the lobby door is `door.lobby`."""
    community = "site-siteboss"
    door, smoke_alarm = (
        "1.3.6.1.4.1.3052.20.1.1.1.1.6.101.2.1",
        "1.3.6.1.4.1.3052.20.1.1.1.1.5.101.2.2",
    )
    await snmp_set(snmpsim.port, community, door, Integer32(1))
    await snmp_set(snmpsim.port, community, smoke_alarm, Integer32(2))
    events = {"contact.smoke.alarm": "fire.smoke", "contact.lobby_door.closed": "door.lobby"}
    device = sim_device(snmpsim, community, events=events).model_copy(update={"id": "site-2"})
    assert (await probe.poll(device)).events == []
    await snmp_set(snmpsim.port, community, smoke_alarm, Integer32(1))
    await snmp_set(snmpsim.port, community, door, Integer32(0))
    second = await probe.poll(device)
    assert sorted((e.kind, e.data["check"], e.data["value"]) for e in second.events) == [
        ("door.lobby", "contact.lobby_door.closed", False),
        ("fire.smoke", "contact.smoke.alarm", True),
    ]
    await snmp_set(snmpsim.port, community, smoke_alarm, Integer32(2))
    await snmp_set(snmpsim.port, community, door, Integer32(1))


async def test_big_table_is_walked_over_several_bulk_requests(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """52 ports x 7 columns walked together: several GETBULK rounds, every row complete."""
    checks = (await probe.poll(sim_device(snmpsim, "switch-52port"))).checks
    for port in range(1, 49):
        assert checks[f"if.port_{port}.oper_up"] is (port % 2 == 1), port
        assert f"if.port_{port}.in_errors_per_s" in checks
    assert "if.port_49.oper_up" not in checks  # the generic profile keeps 48 rows
    assert "snmp.checks_truncated" not in checks


async def test_agent_refusing_access_is_auth_failed(
    failing_snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """snmpsim `error` variation: authorizationError on the system group."""
    with pytest.raises(AuthFailed, match="authorizationError"):
        await probe.poll(sim_device(failing_snmpsim, "denied"))
    poll = await poll_device(probe, sim_device(failing_snmpsim, "denied"))
    assert poll.sample.error is not None
    assert poll.sample.error.code is ProbeErrorCode.AUTH_FAILED
    assert poll.sample.reachable  # it answered: refused, not dead


async def test_gen_err_on_one_table_loses_that_table_only(
    failing_snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """snmpsim `error` variation: genErr whenever ifOperStatus is read. The interface table
    walk ends there; the storage table and the system group still give their checks."""
    result = await probe.poll(sim_device(failing_snmpsim, "nvr-generr"))
    checks = result.checks
    assert checks["system.uptime_s"] == 3000
    assert not any(name.startswith("if.") for name in checks)
    assert checks["hr_storage.media_hdd1.used_percent"] == 25.0


IF_OPER_1 = "1.3.6.1.2.1.2.2.1.8.1"
IF_IN_ERRORS_1 = "1.3.6.1.2.1.2.2.1.14.1"


async def test_link_flip_on_a_live_device(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    """snmpsim `writecache`: the test SETs ifOperStatus and the next poll sees it."""
    community = "switch-dyn"
    await snmp_set(snmpsim.port, community, IF_OPER_1, Integer32(1))
    device = sim_device(snmpsim, community)
    first = await probe.poll(device)
    assert first.checks["if.port_1.oper_up"] is True
    assert first.checks["if.port_2.oper_up"] is False
    assert "if.lo.oper_up" not in first.checks
    await snmp_set(snmpsim.port, community, IF_OPER_1, Integer32(2))
    second = await probe.poll(device)
    assert second.checks["if.port_1.oper_up"] is False
    await snmp_set(snmpsim.port, community, IF_OPER_1, Integer32(1))


async def test_counter32_wrap_gives_the_true_rate(snmpsim: Snmpsim) -> None:
    community = "switch-wrap"
    await snmp_set(snmpsim.port, community, IF_IN_ERRORS_1, Counter32(4294967000))
    clock = FakeClock()
    probe = SnmpProbe(clock=clock)
    device = sim_device(snmpsim, community)
    try:
        first = await probe.poll(device)
        assert first.checks["if.uplink.in_errors_per_s"] is None  # nothing to compare with
        # a minute later the counter has wrapped past 2^32: 296 + 300 = 596 more errors
        await snmp_set(snmpsim.port, community, IF_IN_ERRORS_1, Counter32(300))
        clock.now += 60
        second = await probe.poll(device)
        assert second.checks["if.uplink.in_errors_per_s"] == pytest.approx(596 / 60, abs=1e-3)
        assert second.checks["system.rebooted"] is False  # static uptime: not backwards
    finally:
        probe.close()


async def test_uptime_going_backwards_is_a_reboot(snmpsim: Snmpsim) -> None:
    community = "nvr-reboot"
    await snmp_set(snmpsim.port, community, "1.3.6.1.2.1.1.3.0", TimeTicks(4_000_000))
    await snmp_set(snmpsim.port, community, IF_IN_ERRORS_1, Counter32(100))
    clock = FakeClock()
    probe = SnmpProbe(clock=clock)
    device = sim_device(snmpsim, community)
    try:
        first = await probe.poll(device)
        assert first.checks["system.rebooted"] is False
        await snmp_set(snmpsim.port, community, "1.3.6.1.2.1.1.3.0", TimeTicks(4_006_000))
        await snmp_set(snmpsim.port, community, IF_IN_ERRORS_1, Counter32(160))
        clock.now += 60
        second = await probe.poll(device)
        assert second.checks["system.rebooted"] is False
        assert second.checks["if.eth0.in_errors_per_s"] == pytest.approx(1.0)
        # the recorder restarts: uptime and counters begin again from zero
        await snmp_set(snmpsim.port, community, "1.3.6.1.2.1.1.3.0", TimeTicks(1_500))
        await snmp_set(snmpsim.port, community, IF_IN_ERRORS_1, Counter32(3))
        clock.now += 60
        third = await probe.poll(device)
        assert third.checks["system.rebooted"] is True
        assert third.checks["system.uptime_s"] == 15
        assert [(e.kind, e.data) for e in third.events] == [("device.rebooted", {"uptime_s": 15})]
        assert third.checks["if.eth0.in_errors_per_s"] is None  # not a wrap: no rate
        fourth = await probe.poll(device)
        assert fourth.checks["system.rebooted"] is False
    finally:
        probe.close()


async def test_failures_are_probe_failures_for_every_fixture(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """Every fixture either polls or fails with a domain error: nothing else escapes."""
    for path in sorted(FIXTURES.glob("*.snmprec")):
        try:
            result = await probe.poll(sim_device(snmpsim, path.stem))
        except ProbeFailure:
            continue
        assert "snmp.profile" in result.checks


# --- through the real CLI -----------------------------------------------------------------------


def _check_config(tmp_path: Path, snmpd: Snmpd, snmpsim: Snmpsim) -> Path:
    """A site: a recorder on net-snmp (v3 SHA-512/AES-256), UPSes, a camera, a site monitor
    on snmpsim, a dead device and one with a wrong v3 key."""
    (tmp_path / "auth.key").write_text(V3_AUTH_KEY)
    (tmp_path / "priv.key").write_text(V3_PRIV_KEY)
    (tmp_path / "wrong.key").write_text("not-the-auth-key")
    for community in ("ups-onbattery", "ups-apc", "camera-axis", "site-siteboss", "camera-hik"):
        (tmp_path / f"{community}.community").write_text(community)
    dead_port = free_udp_port()

    def sim(device_id: str, cls: str, subsystem: str, community: str, extra: str = "") -> str:
        return f"""\
  - id: {device_id}
    name: {device_id}
    class: {cls}
    subsystem: {subsystem}
    protocol: snmp
    address: 127.0.0.1
    port: {snmpsim.port}
    interval: 30
    timeout: 8
    snmp: {{community: {{file: {community}.community}}{extra}}}
"""

    v3 = f"""version: "3", user: {V3_SHA2_USER}, auth_protocol: sha512, priv_protocol: aes256"""
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"""\
site: test-site
server:
  url: http://127.0.0.1:9
  token: {{env: SECMON_TEST_TOKEN}}
devices:
  - id: nvr-01
    name: Recorder (net-snmp, v3)
    class: nvr
    subsystem: video
    protocol: snmp
    address: 127.0.0.1
    port: {snmpd.port}
    interval: 30
    timeout: 8
    snmp: {{{v3}, auth_key: {{file: auth.key}}, priv_key: {{file: priv.key}}}}
  - id: nvr-02
    name: Recorder with a wrong key
    class: nvr
    subsystem: video
    protocol: snmp
    address: 127.0.0.1
    port: {snmpd.port}
    interval: 30
    timeout: 8
    snmp: {{{v3}, auth_key: {{file: wrong.key}}, priv_key: {{file: priv.key}}}}
  - id: cam-dead
    name: Camera that is switched off
    class: camera
    subsystem: video
    protocol: snmp
    address: 127.0.0.1
    port: {dead_port}
    interval: 30
    timeout: 4
"""
        + sim("ups-01", "ups", "power", "ups-onbattery")
        + sim("ups-02", "ups", "power", "ups-apc")
        + sim("cam-axis", "camera", "video", "camera-axis", ", recording_storage: [SD_DISK]")
        + sim("site-mon", "sensor", "alarm", "site-siteboss")
        + sim("cam-hik", "camera", "video", "camera-hik", ", profile: hikvision")
    )
    return config


def _run_check(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SECMON), "agent", "check", "--config", str(config), *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "SECMON_TEST_TOKEN": "t" * 32},
        timeout=120,
        check=False,
    )


def test_agent_check_prints_snmp_rows(snmpd: Snmpd, snmpsim: Snmpsim, tmp_path: Path) -> None:
    """`secmon agent check` on snmpd, snmpsim devices and a UPS profile prints one sensible row
    per device, failures told apart: what an installer runs first on a new site."""
    config = _check_config(tmp_path, snmpd, snmpsim)
    done = _run_check(config, "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["device_id"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert list(rows) == [
        "nvr-01", "nvr-02", "cam-dead", "ups-01", "ups-02", "cam-axis", "site-mon", "cam-hik"
    ]  # fmt: skip
    nvr = rows["nvr-01"]
    assert nvr["ok"], (nvr["error"], nvr["message"])
    assert nvr["protocol"] == "snmp"
    assert nvr["checks"]["snmp.profiles"] == "generic+host_resources"
    assert isinstance(nvr["checks"]["system.uptime_s"], int)
    assert 0 <= nvr["checks"]["hr_storage.root.used_percent"] <= 100
    assert (rows["nvr-02"]["ok"], rows["nvr-02"]["error"]) == (False, "device.auth_failed")
    assert rows["nvr-02"]["reachable"] is True
    assert (rows["cam-dead"]["ok"], rows["cam-dead"]["error"]) == (False, "device.unreachable")
    assert rows["cam-dead"]["reachable"] is False
    ups = rows["ups-01"]["checks"]
    assert (ups["snmp.profile"], ups["ups.on_battery"], ups["ups.battery.status"]) == (
        "ups", True, "low"
    )  # fmt: skip
    assert ups["ups.battery.minutes_remaining"] == 7
    apc = rows["ups-02"]["checks"]
    assert (apc["snmp.profile"], apc["ups.battery.replace"]) == ("ups_apc", True)
    axis = rows["cam-axis"]["checks"]
    assert axis["axis.storage.sd_disk.recording"] is True
    assert axis["axis.storage.networkshare.failed"] is False
    site = rows["site-mon"]["checks"]
    assert site["contact.ac_mains.alarm"] is True
    assert site["probe.outdoor_temp.celsius"] is None  # "-273 C": unplugged
    hik = rows["cam-hik"]["checks"]
    assert (hik["snmp.profile"], hik["hik.cpu_percent"]) == ("hikvision", 23)

    table = _run_check(config)
    assert table.returncode == 0, table.stderr
    lines = {
        line.split()[0]: line for line in table.stdout.splitlines() if not line.startswith(" ")
    }
    assert set(lines) == set(rows)
    # under each SNMP row: the profile stack chosen and why
    assert re.search(
        r"^ +profiles generic\+ups_apc: ups_apc: sentinel [0-9.]+ answered, sysObjectID ",
        table.stdout,
        re.MULTILINE,
    ), table.stdout
    for device_id in ("nvr-01", "ups-01", "ups-02", "cam-axis", "site-mon", "cam-hik"):
        assert lines[device_id].split()[3] == "ok", lines[device_id]
        assert re.search(r"\d ms\b", lines[device_id]), lines[device_id]  # latency shown
    assert "ERROR device.auth_failed" in lines["nvr-02"]
    assert "ERROR device.unreachable" in lines["cam-dead"]
    assert f"127.0.0.1:{snmpsim.port}" in lines["ups-01"]
    assert V3_AUTH_KEY not in table.stdout + table.stderr  # no secret printed


# The stack detection must choose for each fixture (a wrong guess fails); `profile` marks the
# fixtures a device config has to name a profile for.
EXPECTED_STACKS = {
    "camera-axis": "generic+axis",
    "camera-hik": "generic+hikvision",
    "intercom-unknown": "generic",
    "nas-qnap": "generic+qnap",
    "nas-synology": "generic+synology",
    "nvr-dahua": "generic+dahua",
    "nvr-hik": "generic+host_resources+hikvision_nvr",
    "nvr-reboot": "generic",
    "poe-midspan": "generic+poe_switch",  # a midspan: RFC 3621 and one management port
    "sensor-akcp": "generic+akcp",
    "sensor-apc-ems": "generic+apc_env",
    "sensor-netbotz": "generic+apc_env",
    "sensor-env": "generic",  # its profile is a test-only one, not shipped
    "site-siteboss": "generic+siteboss",
    "switch-52port": "generic",
    "switch-cisco-poe": "generic+cisco_poe+poe_switch+cisco_envmon",
    "switch-dyn": "generic",
    "switch-industrial": "generic+cisco_envmon",
    "switch-moxa": "generic+moxa_eds",
    "switch-netgear-poe": "generic+poe_switch+netgear_poe",
    "switch-poe": "generic+entity_sensor+poe_switch",
    "switch-tplink-poe": "generic+tplink_poe",
    "switch-wrap": "generic",
    "ups-apc": "generic+ups_apc",
    "ups-cyberpower": "generic+ups_cyberpower",
    "ups-eaton": "generic+ups+ups_eaton",
    "ups-garbage": "generic",  # its UPS-MIB sentinels answer garbage
    "ups-nosensor": "generic+ups",
    "ups-onbattery": "generic+ups",
    "ups-riello": "generic+ups",  # NetMan: RFC 1628 (no Riello MIB of its own found)
    "ups-tripplite": "generic+ups+ups_tripplite",
}


def test_every_fixture_has_an_expected_stack() -> None:
    assert set(EXPECTED_STACKS) == {p.stem for p in FIXTURES.glob("*.snmprec")}


@pytest.mark.parametrize(("fixture", "stack"), sorted(EXPECTED_STACKS.items()))
async def test_detection_chooses_the_right_stack_for_each_fixture(
    snmpsim: Snmpsim, probe: SnmpProbe, fixture: str, stack: str
) -> None:
    result = await probe.poll(sim_device(snmpsim, fixture))
    assert result.checks["snmp.profiles"] == stack
    assert result.identity is not None
    assert result.identity.profiles == stack
    assert result.identity.profile_reason


async def test_a_device_nothing_is_read_from_is_unmonitored_with_the_reason(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """It answers (system group, one Ethernet port) but no profile reads its health."""
    device = sim_device(snmpsim, "intercom-unknown").model_copy(
        update={"device_class": DeviceClass.ACCESS_CONTROLLER}
    )
    poll = await poll_device(probe, device)
    assert poll.sample.reachable
    assert poll.sample.error is None
    assert poll.sample.unmonitored == (
        "no profile matched what the device answers; sysObjectID 1.3.6.1.4.1.99999.77, "
        "sysDescr 'Door intercom IPF-2 (secmon fixture)'"
    )
    assert poll.sample.checks["if.eth0.oper_up"] is True  # read, but no health of its own


async def test_a_switch_with_only_interfaces_is_monitored_by_its_ports(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    device = sim_device(snmpsim, "switch-dyn").model_copy(
        update={"device_class": DeviceClass.SWITCH}
    )
    result = await probe.poll(device)
    assert result.checks["snmp.profiles"] == "generic"
    assert result.unmonitored is None


async def test_a_matched_device_with_health_readings_is_not_unmonitored(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    result = await probe.poll(sim_device(snmpsim, "ups-onbattery"))
    assert result.unmonitored is None
    assert result.checks["ups.on_battery"] is True


async def test_poll_latency_is_the_whole_poll_not_the_first_answer(snmpsim: Snmpsim) -> None:
    """A clock that moves one second per reading: the first answer comes one tick after the
    start, the whole poll (system group, scalars, walks) takes several."""
    ticks = iter(range(1000, 10_000))
    probe = SnmpProbe(clock=lambda: float(next(ticks)))
    try:
        result = await probe.poll(sim_device(snmpsim, "ups-apc"))
    finally:
        probe.close()
    assert result.latency_ms is not None
    assert result.latency_ms >= 3000.0


async def test_akcp_contacts_have_labels_kinds_and_normal_states(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "sensor-akcp"))).checks
    # normally closed, reported critical: open, abnormal
    assert checks["contact.door.server_room_door.abnormal"] is True
    assert checks["contact.door.server_room_door.closed"] is False
    # normally open and normal: open, not abnormal
    assert checks["contact.flood.water_leak.abnormal"] is False
    assert checks["contact.flood.water_leak.closed"] is False
    assert checks["contact.smoke.smoke_detector.abnormal"] is False
    assert checks["contact.smoke.smoke_detector.closed"] is True
    assert not any("siren" in name for name in checks)  # an output (relay), not a contact
    assert checks["akcp.status"] == "critical"


async def test_akcp_temperatures_follow_the_devices_unit_flag(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "sensor-akcp"))).checks
    assert checks["akcp.temp.rack_top.degrees_c"] == 27.8  # 82 °F
    assert checks["akcp.temp.rack_top.limit_celsius"] == 40.0  # 104 °F
    assert checks["akcp.temp.room.degrees_c"] == 24
    assert checks["akcp.temp.room.limit_celsius"] == 35
    # judged by the device's own limits, each in its own unit
    assert checks["akcp.temp.rack_top.degrees_c_over_limit"] is False
    assert checks["akcp.temp.room.degrees_c_over_limit"] is False
    assert checks["akcp.temp.room.online"] is True


async def test_the_sites_config_names_a_contact_and_sets_its_normal_state(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    contacts = {
        "Server Room Door": {"kind": "generic", "normal": "open", "label": "rear exit"},
        "water_leak": {"kind": "flood", "normal": "closed"},
    }
    checks = (await probe.poll(sim_device(snmpsim, "sensor-akcp", contacts=contacts))).checks
    assert checks["contact.generic.rear_exit.abnormal"] is False  # open is its normal state
    assert checks["contact.flood.water_leak.abnormal"] is True  # open, normally closed
    assert "contact.door.server_room_door.abnormal" not in checks


async def test_a_contact_going_into_alarm_is_seen_on_the_next_poll(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    device = sim_device(snmpsim, "sensor-akcp")
    smoke = "1.3.6.1.4.1.3854.1.2.2.1.18.1.3.2"
    try:
        assert (await probe.poll(device)).checks["contact.smoke.smoke_detector.abnormal"] is False
        await snmp_set(snmpsim.port, "sensor-akcp", smoke, Integer32(4))
        result = await probe.poll(device)
        assert result.checks["contact.smoke.smoke_detector.abnormal"] is True
        assert [e.kind for e in result.events] == ["site.contact"]
    finally:
        await snmp_set(snmpsim.port, "sensor-akcp", smoke, Integer32(2))


async def test_a_lost_redundant_power_input_is_read_and_an_empty_slot_is_not(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    device = sim_device(snmpsim, "switch-industrial")
    supply_b = "1.3.6.1.4.1.9.9.13.1.5.1.3.2"
    try:
        before = await probe.poll(device)
        assert before.checks["power_input.pwr_a_dc_input.ok"] is True
        assert before.checks["power_input.pwr_b_dc_input.ok"] is True
        assert before.checks["power_input.pwr_a_dc_input.source"] == "dc"
        assert not any(name.startswith("power_input.pwr_c") for name in before.checks)
        assert before.checks["cisco.temp.board.degrees_c"] == 41
        assert before.checks["cisco.temp.board.limit_celsius"] == 75
        assert before.checks["cisco.temp.board.degrees_c_over_limit"] is False
        await snmp_set(snmpsim.port, "switch-industrial", supply_b, Integer32(3))
        after = await probe.poll(device)
        assert after.checks["power_input.pwr_b_dc_input.ok"] is False
        assert after.checks["power_input.pwr_b_dc_input.state"] == "critical"
        assert [e.kind for e in after.events] == ["power.input"]
    finally:
        await snmp_set(snmpsim.port, "switch-industrial", supply_b, Integer32(1))


async def test_synology_disk_health_raid_state_and_bad_sectors(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "nas-synology"))).checks
    # a disk whose array status is normal while its health is not, with bad sectors counted
    assert checks["syno.disk.disk_3.status"] == "normal"
    assert checks["syno.disk.disk_3.health_status"] == "warning"
    assert checks["syno.disk.disk_3.bad_sectors"] == 412
    assert checks["syno.disk.disk_2.health_status"] == "failing"
    assert checks["syno.raid.storage_pool_1.status"] == "degraded"
    assert checks["syno.raid.storage_pool_2.status"] == "normal"


INTERCOM_PROFILE = """\
name: intercom
description: door intercoms (the docs' worked example)
extends: generic
match:
  enterprises: [99999]
  sentinels:
    - {oid: 1.3.6.1.4.1.99999.77.1.1.0, type: text}
identity:
  model: {oid: 1.3.6.1.4.1.99999.77.1.1.0}
  firmware: {oid: 1.3.6.1.4.1.99999.77.1.2.0}
scalars:
  - {name: intercom.sip_registered, oid: 1.3.6.1.4.1.99999.77.2.1.0, kind: flag, true_when: [1]}
"""


async def test_a_local_profile_makes_an_unmonitored_family_monitored(snmpsim: Snmpsim) -> None:
    """docs/snmp-profiles.md's worked example, against the fixture it names."""
    shipped = {str(p): p.read_text() for p in PROFILE_DIR.glob("*.yaml")}
    probe = SnmpProbe(parse_profiles(shipped, local={"intercom.yaml": INTERCOM_PROFILE}))
    device = sim_device(snmpsim, "intercom-unknown").model_copy(
        update={"device_class": DeviceClass.ACCESS_CONTROLLER}
    )
    try:
        result = await probe.poll(device)
    finally:
        probe.close()
    assert result.unmonitored is None
    assert result.checks["intercom.sip_registered"] is True
    assert result.identity is not None
    assert (result.identity.profiles, result.identity.model) == ("generic+intercom", "IPF-2")
    assert result.identity.profile_reason == (
        "intercom: sentinel 1.3.6.1.4.1.99999.77.1.1.0 answered, enterprise number 99999"
    )


async def test_qnap_strings_with_two_units_and_disk_status(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    result = await probe.poll(sim_device(snmpsim, "nas-qnap"))
    checks = result.checks
    assert checks["qnap.system.celsius"] == 28  # "28 C/82 F"
    assert checks["qnap.cpu.degrees_c"] == 61
    assert checks["qnap.cpu.degrees_c_over_limit"] is False  # a CPU's 90 °C, not a room's 55
    assert checks["qnap.cpu_percent"] == 12.5
    assert checks["qnap.disk.hdd1.celsius"] == 36
    assert checks["qnap.disk.hdd2.celsius"] is None  # "--": no reading
    assert checks["qnap.disk.hdd2.status"] == "rw_error"
    assert checks["qnap.disk.hdd2.smart"] == "Abnormal"
    assert checks["qnap.fan.system_fan_1.rpm"] == 1188
    assert result.identity is not None
    assert (result.identity.vendor, result.identity.model) == ("QNAP", "TS-453D")


async def test_cyberpower_on_battery_with_a_low_battery(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    result = await probe.poll(sim_device(snmpsim, "ups-cyberpower"))
    checks = result.checks
    assert (checks["ups.on_battery"], checks["ups.output_status"]) == (True, "on_battery")
    assert checks["ups.battery.status"] == "low"
    assert checks["ups.battery.minutes_remaining"] == 5.0  # 30000 TimeTicks
    assert checks["ups.battery.voltage_v"] == 46.8  # tenths of a volt
    assert checks["ups.input.status"] == "blackout"
    assert checks["ups.battery.replace"] is False
    assert result.identity is not None
    assert (result.identity.vendor, result.identity.model) == ("CyberPower", "OL1500ERTXL2U")


async def test_sentinels_answering_garbage_fall_back_and_say_so(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    """upsBatteryStatus as a string, upsOutputSource out of its enumeration: not UPS-MIB."""
    poll = await poll_device(probe, sim_device(snmpsim, "ups-garbage"))
    assert poll.sample.error is None
    assert poll.identity is not None
    assert poll.identity.profiles == "generic"
    reason = poll.identity.profile_reason or ""
    assert "ups passed over: sentinel 1.3.6.1.2.1.33.1.2.1.0 answered not an integer" in reason
    assert poll.sample.unmonitored is not None  # nothing of the UPS is read: not green
    assert "ups passed over" in poll.sample.unmonitored


async def test_eaton_readings_and_a_contact_abnormal_on_the_ups_card(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    device = sim_device(snmpsim, "ups-eaton")
    smoke = "1.3.6.1.4.1.534.1.6.8.1.3.2"
    try:
        first = await probe.poll(device)
        checks = first.checks
        assert (checks["ups.on_battery"], checks["ups.output_source"]) == (False, "normal")
        assert checks["ups.battery.minutes_remaining"] == pytest.approx(38.5)  # 2310 s
        assert checks["ups.battery.abm_status"] == "check_battery"
        assert checks["ups.battery.replace"] is True  # a poor battery test result
        assert checks["ups.battery.status"] == "normal"  # from RFC 1628, stacked under it
        assert checks["ups.input.frequency_hz"] == 50.0
        assert checks["eaton.ambient.degrees_c"] == 27
        assert checks["eaton.ambient.degrees_c_over_limit"] is False  # its own 35 °C limit
        assert checks["eaton.emp.degrees_c_over_limit"] is True  # 33 °C over its own 30 °C
        # normally closed, reported openWithNotice: the card's contact is abnormal
        assert checks["contact.door.battery_cabinet_door.closed"] is False
        assert checks["contact.door.battery_cabinet_door.abnormal"] is True
        assert checks["contact.smoke.smoke_detector.abnormal"] is False  # normally open, open
        assert not any(name.startswith("contact.generic.input_3") for name in checks)  # notUsed
        assert first.identity is not None
        assert (first.identity.vendor, first.identity.model) == ("EATON", "Eaton 9PX 3000i RT2U")
        await snmp_set(snmpsim.port, "ups-eaton", smoke, Integer32(4))  # closedWithNotice
        second = await probe.poll(device)
        assert second.checks["contact.smoke.smoke_detector.abnormal"] is True
        assert [e.kind for e in second.events] == ["site.contact"]
    finally:
        await snmp_set(snmpsim.port, "ups-eaton", smoke, Integer32(1))


async def test_tripplite_on_battery_and_a_failed_battery_test(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    device = sim_device(snmpsim, "ups-tripplite")
    source = "1.3.6.1.4.1.850.1.1.3.1.3.3.1.1.1.1"
    try:
        checks = (await probe.poll(device)).checks
        assert (checks["ups.on_battery"], checks["ups.battery.status"]) == (False, "normal")
        assert checks["ups.battery.voltage_v"] == pytest.approx(54.6)  # tenths of a volt
        assert checks["ups.input.voltage_v"] == pytest.approx(119.8)
        assert checks["ups.battery.minutes_remaining"] == 42
        assert checks["ups.battery.replace"] is True  # self-test: badBattery(7)
        assert checks["ups.temperature.degrees_c"] == pytest.approx(45.2)  # tenths of °C
        assert checks["ups.temperature.degrees_c_over_limit"] is True  # an ambient's 40 °C
        await snmp_set(snmpsim.port, "ups-tripplite", source, Integer32(5))
        result = await probe.poll(device)
        assert (result.checks["ups.on_battery"], result.checks["ups.output_source"]) == (
            True, "battery"
        )  # fmt: skip
        assert "ups.on_battery" in [e.kind for e in result.events]
    finally:
        await snmp_set(snmpsim.port, "ups-tripplite", source, Integer32(3))


async def test_apc_card_inputs_use_the_configured_normal_state(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "ups-apc"))).checks
    # the card's universal I/O port: normally closed (config table), open, critical
    assert checks["contact.door.rack_door.closed"] is False
    assert checks["contact.door.rack_door.abnormal"] is True
    # a disabled input (alarm status notApplicable) has no state: unknown, never a fault
    assert checks["contact.generic.input_2.closed"] is None
    assert checks["contact.generic.input_2.abnormal"] is None


async def test_ems_door_contact_in_alarm_and_its_kinds(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    device = sim_device(snmpsim, "sensor-apc-ems")
    door = "1.3.6.1.4.1.318.1.1.10.3.14.1.1.3.1"
    try:
        first = await probe.poll(device)
        checks = first.checks
        # normally closed, open: the door contact in alarm that opens env.contact_abnormal
        assert checks["contact.door.equipment_room_door.abnormal"] is True
        assert checks["contact.flood.water_sensor.abnormal"] is False  # normally open, open
        assert checks["contact.tamper.cabinet_tamper.abnormal"] is False
        assert checks["contact.generic.input_4.abnormal"] is False
        assert checks["apc.ems.comm_ok"] is True
        assert first.identity is not None
        assert (first.identity.model, first.identity.serial) == ("AP9340", "ZA0000000002")
        await snmp_set(snmpsim.port, "sensor-apc-ems", door, Integer32(1))  # closed again
        second = await probe.poll(device)
        assert second.checks["contact.door.equipment_room_door.abnormal"] is False
        assert [e.kind for e in second.events] == ["site.contact"]
    finally:
        await snmp_set(snmpsim.port, "sensor-apc-ems", door, Integer32(2))


async def test_netbotz_rack_monitor_dry_contacts_only(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "sensor-netbotz"))).checks
    assert checks["contact.door.front_door.abnormal"] is False
    assert checks["contact.door.rear_door.closed"] is False
    assert checks["contact.door.rear_door.abnormal"] is True  # open, normally closed
    assert checks["contact.flood.leak_rope.closed"] is None  # disabled input
    assert checks["contact.flood.leak_rope.abnormal"] is False
    assert not any("battery_volts" in name for name in checks)  # an analog input
    assert checks["apc.module.rack_monitor_200.model"] == "NBRK0200"


async def test_a_lost_moxa_power_input_is_seen_on_the_next_poll(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    device = sim_device(snmpsim, "switch-moxa")
    pwr2 = "1.3.6.1.4.1.8691.7.7.1.10.2.0"
    try:
        before = await probe.poll(device)
        assert before.checks["power_input.pwr1.ok"] is True
        assert before.checks["power_input.pwr2.ok"] is True
        assert before.identity is not None
        assert (before.identity.vendor, before.identity.model) == ("Moxa", "EDS-408A-MM-SC")
        await snmp_set(snmpsim.port, "switch-moxa", pwr2, Integer32(0))  # not-present
        after = await probe.poll(device)
        assert after.checks["power_input.pwr2.ok"] is False
        assert [e.kind for e in after.events] == ["power.input"]
    finally:
        await snmp_set(snmpsim.port, "switch-moxa", pwr2, Integer32(1))


async def test_cisco_per_port_power_beside_the_rfc_3621_port_table(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "switch-cisco-poe"))).checks
    assert checks["poe.port.port1_1.detection"] == "delivering"
    assert checks["poe.port_power.port1_1.consumption_w"] == pytest.approx(23.25)  # mW
    assert checks["poe.port_power.port1_1.max_drawn_w"] == pytest.approx(25.9)
    assert checks["poe.port_power.port1_3.allocated_w"] == 0
    assert checks["poe.port.port1_3.admin_enabled"] is False
    assert checks["poe.pse_power.pse1.remaining_w"] == pytest.approx(341.65)
    assert checks["power_input.switch_1_power_supply_a.ok"] is True  # CISCO-ENVMON on top


async def test_tplink_poe_budget_and_a_port_fault_seen_on_the_next_poll(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    device = sim_device(snmpsim, "switch-tplink-poe")
    status = "1.3.6.1.4.1.11863.6.56.1.1.2.1.1.11.3"
    try:
        first = await probe.poll(device)
        checks = first.checks
        assert (checks["poe.budget_w"], checks["poe.consumption_w"]) == (150.0, 41.2)
        assert checks["poe.budget_used_percent"] == pytest.approx(27.5, abs=0.1)
        assert checks["tplink.poe.port1.power_w"] == pytest.approx(6.8)  # 0.1 W
        assert checks["tplink.poe.port1.voltage_v"] == pytest.approx(53.2)
        assert (checks["tplink.poe.port1.class"], checks["tplink.poe.port1.priority"]) == (
            4,
            "high",
        )
        assert checks["tplink.poe.port3.class"] == "not_defined"  # class-not-defined(7)
        assert checks["tplink.poe.port4.enabled"] is False
        assert (checks["tplink.poe.port4.status"], checks["tplink.poe.port4.poe_fault"]) == (
            "off", False
        )  # fmt: skip
        await snmp_set(snmpsim.port, "switch-tplink-poe", status, Integer32(3))  # overload
        second = await probe.poll(device)
        assert second.checks["tplink.poe.port3.status"] == "overload"
        assert second.checks["tplink.poe.port3.poe_fault"] is True
        assert [e.kind for e in second.events] == ["poe.port_fault"]
    finally:
        await snmp_set(snmpsim.port, "switch-tplink-poe", status, Integer32(2))


async def test_netgear_per_port_power_and_a_short(snmpsim: Snmpsim, probe: SnmpProbe) -> None:
    checks = (await probe.poll(sim_device(snmpsim, "switch-netgear-poe"))).checks
    assert checks["netgear.poe.port1_1.power_w"] == pytest.approx(12.8)  # mW
    assert checks["netgear.poe.port1_1.voltage_v"] == pytest.approx(53.3)  # mV
    assert checks["netgear.poe.port1_1.poe_fault"] is False
    assert checks["netgear.poe.port1_2.fault_status"] == "short"
    assert checks["netgear.poe.port1_2.poe_fault"] is True
    assert checks["poe.port.port1_2.detection"] == "fault"  # RFC 3621 agrees
    assert checks["netgear.poe.port1_1.degrees_c_over_limit"] is False


async def test_a_midspan_is_read_through_rfc_3621_and_a_port_fault_shows(
    snmpsim: Snmpsim, probe: SnmpProbe
) -> None:
    device = sim_device(snmpsim, "poe-midspan").model_copy(
        update={"device_class": DeviceClass.SWITCH}
    )
    detection = "1.3.6.1.2.1.105.1.1.1.6.1.2"
    try:
        first = await probe.poll(device)
        assert first.unmonitored is None
        assert first.checks["poe.pse.pse1.budget_used_percent"] == pytest.approx(25.4, abs=0.1)
        assert first.checks["poe.port.port1_2.detection"] == "delivering"
        await snmp_set(snmpsim.port, "poe-midspan", detection, Integer32(4))
        second = await probe.poll(device)
        assert second.checks["poe.port.port1_2.detection"] == "fault"
        assert second.checks["poe.port.port1_2.overload_count"] == 1
    finally:
        await snmp_set(snmpsim.port, "poe-midspan", detection, Integer32(3))
