"""Traps → events: pure rules, and the receiver against net-snmp's own `snmptrap`/`snmpinform`
as senders on 127.0.0.1 (v1, v2c, v3 authPriv with the sender's engine id)."""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes.snmp_profiles import builtin_profiles
from agent.probes.snmp_receiver import TrapReceiver
from agent.probes.snmp_traps import SNMP_TRAP_OID, SYS_UPTIME, UNKNOWN_TRAP_KIND, trap_event
from peers.devices import make_device
from wire.schema import Event

pytestmark = pytest.mark.filterwarnings("ignore:.* is deprecated. Please use:DeprecationWarning")

SNMPTRAP = shutil.which("snmptrap")
SNMPINFORM = shutil.which("snmpinform")
ENGINE_ID = "8000000001020304"
RULES = builtin_profiles().trap_rules()


def test_link_down_names_its_interface() -> None:
    found = trap_event(
        [
            (SYS_UPTIME, 1234),
            (SNMP_TRAP_OID, "1.3.6.1.6.3.1.1.5.3"),
            ("1.3.6.1.2.1.2.2.1.1.7", 7),
            ("1.3.6.1.2.1.2.2.1.2.7", b"Port 7"),
            ("1.3.6.1.2.1.2.2.1.8.7", 2),
        ],
        RULES,
    )
    assert found == (
        "link.down",
        {"trap_oid": "1.3.6.1.6.3.1.1.5.3", "if_index": 7, "if_descr": "Port 7", "oper_status": 2},
    )


def test_unknown_trap_is_kept_raw_without_housekeeping_varbinds() -> None:
    found = trap_event(
        [
            (SYS_UPTIME, 1),
            (SNMP_TRAP_OID, "1.3.6.1.4.1.99999.0.42"),
            ("1.3.6.1.4.1.99999.1.1", b"door forced open"),
            ("1.3.6.1.6.3.18.1.3.0", b"\x7f\x00\x00\x01"),  # snmpTrapAddress of a v1 trap
        ],
        RULES,
    )
    assert found == (
        UNKNOWN_TRAP_KIND,
        {
            "trap_oid": "1.3.6.1.4.1.99999.0.42",
            "varbinds": {"1.3.6.1.4.1.99999.1.1": "door forced open"},
        },
    )


def test_a_raw_trap_keeps_at_most_32_varbinds() -> None:
    many = [(f"1.3.6.1.4.1.99999.1.{i}", i) for i in range(50)]
    found = trap_event([(SYS_UPTIME, 1), (SNMP_TRAP_OID, "1.3.6.1.4.1.99999.0.1"), *many], RULES)
    assert found is not None
    assert list(found[1]["varbinds"].values()) == list(range(32))


def test_varbinds_without_trap_oid_are_not_a_notification() -> None:
    assert trap_event([(SYS_UPTIME, 1)], RULES) is None


@pytest.mark.parametrize(
    ("rfc1628", "apc", "kind"),
    [
        ("1.3.6.1.2.1.33.2.1", "1.3.6.1.4.1.318.0.5", "ups.on_battery"),
        ("1.3.6.1.2.1.33.2.0.1", "1.3.6.1.4.1.318.0.5", "ups.on_battery"),  # v1 form
    ],
)
def test_ups_traps_of_both_mibs_map_to_the_same_kind(rfc1628: str, apc: str, kind: str) -> None:
    from_rfc = trap_event([(SNMP_TRAP_OID, rfc1628)], RULES)
    from_apc = trap_event([(SNMP_TRAP_OID, apc)], RULES)
    assert from_rfc is not None
    assert from_apc is not None
    assert from_rfc[0] == from_apc[0] == kind


def test_apc_battery_low_and_replace_traps() -> None:
    low = trap_event([(SNMP_TRAP_OID, "1.3.6.1.4.1.318.0.7")], RULES)
    replace = trap_event([(SNMP_TRAP_OID, "1.3.6.1.4.1.318.0.17")], RULES)
    assert low is not None
    assert replace is not None
    assert (low[0], replace[0]) == ("ups.battery_low", "ups.battery_replace")


UPS_ALARM_ADDED = "1.3.6.1.2.1.33.2.3"
UPS_ALARM_DESCR = "1.3.6.1.2.1.33.1.6.2.1.2"


@pytest.mark.parametrize(
    ("alarm", "kind"),
    [
        ("1.3.6.1.2.1.33.1.6.3.3", "ups.battery_low"),  # upsAlarmLowBattery
        ("1.3.6.1.2.1.33.1.6.3.2", "ups.on_battery"),  # upsAlarmOnBattery
        ("1.3.6.1.2.1.33.1.6.3.4", "ups.battery_depleted"),
        ("1.3.6.1.2.1.33.1.6.3.16", "ups.alarm_added"),  # upsAlarmFanFailure: generic
    ],
)
def test_ups_alarm_entry_added_means_what_its_alarm_says(alarm: str, kind: str) -> None:
    found = trap_event(
        [
            (SNMP_TRAP_OID, UPS_ALARM_ADDED),
            ("1.3.6.1.2.1.33.1.6.2.1.1.7", 7),  # upsAlarmId
            (f"{UPS_ALARM_DESCR}.7", alarm),
        ],
        RULES,
    )
    assert found == (kind, {"trap_oid": UPS_ALARM_ADDED, "alarm": alarm})


def test_v1_form_of_an_smiv2_notification_finds_its_rule() -> None:
    """A v1 UPS card sends upsTrapOnBattery as enterprise upsTraps, specific 1: it arrives
    as …33.2.0.1 and still means ups.on_battery."""
    found = trap_event(
        [(SNMP_TRAP_OID, "1.3.6.1.2.1.33.2.0.1"), ("1.3.6.1.2.1.33.1.2.3.0", 12)], RULES
    )
    assert found == (
        "ups.on_battery",
        {"trap_oid": "1.3.6.1.2.1.33.2.0.1", "minutes_remaining": 12},
    )


@pytest.mark.parametrize(
    ("trap_oid", "var_binds", "expected"),
    [
        (
            "1.3.6.1.4.1.1004849.2.11.11.3",  # Dahua videoLossEvent
            [("1.3.6.1.4.1.1004849.2.12.1.0", b"Start"),
             ("1.3.6.1.4.1.1004849.2.3.2.1.2.1.1.5", 5)],
            ("video.loss", {"action": "Start", "channel": 5}),
        ),
        (
            "1.3.6.1.4.1.1004849.2.11.13.1",  # Dahua storageFailureEvent
            [("1.3.6.1.4.1.1004849.2.12.1.0", b"Start"),
             ("1.3.6.1.4.1.1004849.2.4.1.1.3.2", 2)],
            ("storage.failed", {"action": "Start", "disk": 2}),
        ),
        (
            "1.3.6.1.4.1.368.4.2.0.1",  # Axis alarmNew
            [("1.3.6.1.4.1.368.4.2.1.0", 3), ("1.3.6.1.4.1.368.4.2.2.0", b"Tampering"),
             ("1.3.6.1.4.1.368.4.2.3.0", b"Camera tampering detected")],
            ("axis.alarm",
             {"alarm_id": 3, "alarm_name": "Tampering", "alarm_text": "Camera tampering detected"}),
        ),
    ],
)  # fmt: skip
def test_vendor_alarm_traps(
    trap_oid: str, var_binds: list[tuple[str, Any]], expected: tuple[str, dict[str, Any]]
) -> None:
    found = trap_event([(SNMP_TRAP_OID, trap_oid), *var_binds], RULES)
    assert found is not None
    assert found[0] == expected[0]
    assert found[1] == {"trap_oid": trap_oid, **expected[1]}


_oids = st.lists(st.integers(min_value=0, max_value=2**32), min_size=2, max_size=12).map(
    lambda arcs: ".".join(map(str, arcs))
)
_values = st.one_of(st.none(), st.integers(), st.binary(max_size=80), _oids)


@given(
    st.one_of(_oids, st.sampled_from(sorted(RULES)), st.sampled_from(["1.3.6.1.2.1.33.2.0.3"])),
    st.lists(st.tuples(st.one_of(_oids, st.sampled_from([UPS_ALARM_DESCR + ".1"])), _values),
             max_size=40),
)  # fmt: skip
def test_any_notification_gives_one_event_and_never_raises(
    trap_oid: str, var_binds: list[tuple[str, Any]]
) -> None:
    found = trap_event([(SYS_UPTIME, 1), (SNMP_TRAP_OID, trap_oid), *var_binds], RULES)
    assert found is not None
    kind, data = found
    assert 1 <= len(kind) <= 64
    assert data["trap_oid"] == trap_oid
    if kind == UNKNOWN_TRAP_KIND:
        assert len(data["varbinds"]) <= 32
        assert all(v is None or isinstance(v, int | str) for v in data["varbinds"].values())


# --- the receiver with real senders -------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.events: list[tuple[str, Event]] = []
        self.changed = asyncio.Event()

    def __call__(self, device_id: str, event: Event) -> None:
        self.events.append((device_id, event))
        self.changed.set()

    async def wait_for(self, count: int) -> list[tuple[str, Event]]:
        async with asyncio.timeout(10):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.events


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[TrapReceiver, Inbox]]:
    if SNMPTRAP is None or SNMPINFORM is None:
        pytest.skip("net-snmp snmptrap/snmpinform not installed (apt-get install snmp)")
    monkeypatch.setenv("TRAP_COMMUNITY", "site-public")
    monkeypatch.setenv("TRAP_KEY", "trap-auth-pass")
    devices = [
        make_device(
            id="ups-1",
            protocol="snmp",
            address="127.0.0.1",
            snmp={"community": {"env": "TRAP_COMMUNITY"}},
        ),
        make_device(
            id="switch-2",
            protocol="snmp",
            address="127.0.0.3",
            snmp={
                "version": "3",
                "user": "trapuser",
                "auth_key": {"env": "TRAP_KEY"},
                "priv_key": {"env": "TRAP_KEY"},
                "trap_engine_id": ENGINE_ID,
            },
        ),
    ]
    inbox = Inbox()
    trap_receiver = TrapReceiver(devices, on_event=inbox)
    await trap_receiver.start("127.0.0.1", 0)
    yield trap_receiver, inbox
    trap_receiver.close()


async def send(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *args,
        env={**os.environ, "MIBS": ""},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err


async def test_v2c_v1_and_inform_become_events_of_the_device(
    receiver: tuple[TrapReceiver, Inbox],
) -> None:
    trap_receiver, inbox = receiver
    target = f"127.0.0.1:{trap_receiver.port}"
    assert SNMPTRAP is not None
    assert SNMPINFORM is not None
    v2c = [SNMPTRAP, "-v2c", "-c", "site-public", target, ""]
    await send(*v2c, "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.3", "i", "3")
    # APC PowerNet sends v1 traps: enterprise apc, specific 5 (upsOnBattery)
    v1 = [SNMPTRAP, "-v1", "-c", "site-public", target, "1.3.6.1.4.1.318", "127.0.0.1"]
    await send(*v1, "6", "5", "", "1.3.6.1.4.1.318.2.3.10.0", "s", "on battery")
    inform = [SNMPINFORM, "-v2c", "-c", "site-public", "-t", "2", "-r", "1", target, ""]
    await send(*inform, "1.3.6.1.4.1.99999.0.42", "1.3.6.1.4.1.99999.1.1", "s", "door forced")
    events = await inbox.wait_for(3)
    assert [(d, e.kind) for d, e in events] == [
        ("ups-1", "link.down"),
        ("ups-1", "ups.on_battery"),
        ("ups-1", UNKNOWN_TRAP_KIND),
    ]
    assert events[0][1].data["if_index"] == 3
    assert events[2][1].data["varbinds"] == {"1.3.6.1.4.1.99999.1.1": "door forced"}


async def test_v1_rfc1628_low_battery_and_v2c_vendor_alarm(
    receiver: tuple[TrapReceiver, Inbox],
) -> None:
    """A v1 UPS card reports upsTrapAlarmEntryAdded (enterprise upsTraps, specific 3) with
    upsAlarmDescr = upsAlarmLowBattery; an Axis camera sends alarmNew over v2c."""
    trap_receiver, inbox = receiver
    target = f"127.0.0.1:{trap_receiver.port}"
    assert SNMPTRAP is not None
    v1 = [SNMPTRAP, "-v1", "-c", "site-public", target, "1.3.6.1.2.1.33.2", "127.0.0.1"]
    await send(*v1, "6", "3", "", f"{UPS_ALARM_DESCR}.4", "o", "1.3.6.1.2.1.33.1.6.3.3")
    v2c = [SNMPTRAP, "-v2c", "-c", "site-public", target, ""]
    await send(*v2c, "1.3.6.1.4.1.368.4.2.0.1", "1.3.6.1.4.1.368.4.2.2.0", "s", "Tampering")
    events = await inbox.wait_for(2)
    assert [(d, e.kind) for d, e in events] == [
        ("ups-1", "ups.battery_low"),
        ("ups-1", "axis.alarm"),
    ]
    assert events[0][1].data["alarm"] == "1.3.6.1.2.1.33.1.6.3.3"
    assert events[1][1].data["alarm_name"] == "Tampering"


async def test_v3_inform_is_acknowledged_and_becomes_an_event(
    receiver: tuple[TrapReceiver, Inbox],
) -> None:
    """An SNMPv3 inform is authenticated with the receiver's own engine id (the sender
    discovers it), unlike a v3 trap: snmpinform exits 0 only once it got the acknowledgement."""
    trap_receiver, inbox = receiver
    assert SNMPINFORM is not None
    v3 = [SNMPINFORM, "-v3", "-u", "trapuser", "-l", "authPriv", "-a", "SHA"]
    v3 += ["-A", "trap-auth-pass", "-x", "AES", "-X", "trap-auth-pass", "-t", "2", "-r", "1"]
    await send(
        *v3, "--clientaddr=127.0.0.3", f"127.0.0.1:{trap_receiver.port}", "", "1.3.6.1.6.3.1.1.5.4"
    )
    events = await inbox.wait_for(1)
    assert [(d, e.kind) for d, e in events] == [("switch-2", "link.up")]


async def test_wrong_community_is_dropped(receiver: tuple[TrapReceiver, Inbox]) -> None:
    trap_receiver, inbox = receiver
    target = f"127.0.0.1:{trap_receiver.port}"
    assert SNMPTRAP is not None
    await send(SNMPTRAP, "-v2c", "-c", "wrong", target, "", "1.3.6.1.6.3.1.1.5.4")
    await send(SNMPTRAP, "-v2c", "-c", "site-public", target, "", "1.3.6.1.6.3.1.1.5.1")
    events = await inbox.wait_for(1)  # the second trap arrives, the first never does
    assert [e.kind for _, e in events] == ["device.cold_start"]


async def test_v3_auth_priv_trap_with_the_senders_engine_id(
    receiver: tuple[TrapReceiver, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """switch-2 is configured at 127.0.0.3; the trap leaves from there (clientaddr)."""
    trap_receiver, inbox = receiver
    assert SNMPTRAP is not None
    v3: list[Any] = [SNMPTRAP, "-v3", "-e", f"0x{ENGINE_ID}", "-u", "trapuser", "-l", "authPriv"]
    v3 += ["-a", "SHA", "-A", "trap-auth-pass", "-x", "AES", "-X", "trap-auth-pass"]
    await send(
        *v3,
        "--clientaddr=127.0.0.3",
        f"127.0.0.1:{trap_receiver.port}",
        "",
        "1.3.6.1.6.3.1.1.5.2",
    )
    events = await inbox.wait_for(1)
    assert [(d, e.kind) for d, e in events] == [("switch-2", "device.warm_start")]


async def test_traps_from_unconfigured_addresses_are_counted_not_stored(
    receiver: tuple[TrapReceiver, Inbox], caplog: pytest.LogCaptureFixture
) -> None:
    trap_receiver, inbox = receiver
    target = f"127.0.0.1:{trap_receiver.port}"
    assert SNMPTRAP is not None
    stranger = [SNMPTRAP, "-v2c", "-c", "site-public", "--clientaddr=127.0.0.9", target, ""]
    for _ in range(3):
        await send(*stranger, "1.3.6.1.6.3.1.1.5.1")
    await send(SNMPTRAP, "-v2c", "-c", "site-public", target, "", "1.3.6.1.6.3.1.1.5.2")
    events = await inbox.wait_for(1)
    assert [(d, e.kind) for d, e in events] == [("ups-1", "device.warm_start")]
    assert trap_receiver.unknown_sources["127.0.0.9"] == 3
    warnings = [r for r in caplog.records if "127.0.0.9" in r.getMessage()]
    assert len(warnings) == 1
