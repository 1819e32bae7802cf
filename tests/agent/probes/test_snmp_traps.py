"""Traps → events: pure rules, and the receiver against net-snmp's own `snmptrap`/`snmpinform`
as senders on 127.0.0.1 (v1, v2c, v3 authPriv with the sender's engine id)."""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.probes.snmp_profiles import builtin_profiles
from agent.probes.snmp_receiver import TrapReceiver
from agent.probes.snmp_traps import SNMP_TRAP_OID, SYS_UPTIME, UNKNOWN_TRAP_KIND, trap_event
from tests.agent.factories import make_device
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


def test_varbinds_without_trap_oid_are_not_a_notification() -> None:
    assert trap_event([(SYS_UPTIME, 1)], RULES) is None


def test_ups_traps_of_both_mibs_map_to_the_same_kind() -> None:
    rfc = trap_event([(SNMP_TRAP_OID, "1.3.6.1.2.1.33.2.0.1")], RULES)
    apc = trap_event([(SNMP_TRAP_OID, "1.3.6.1.4.1.318.0.5")], RULES)
    assert rfc is not None
    assert apc is not None
    assert rfc[0] == apc[0] == "ups.on_battery"


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
