"""Profiles as data: validation, choice by sysObjectID/sysDescr, and reading a poll's answers
into checks (pure, no sockets)."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agent.config import SecretRef  # noqa: F401  (SnmpOptions resolves its SecretRef type)
from agent.probes.snmp_detect import detect
from agent.probes.snmp_options import SnmpOptions
from agent.probes.snmp_profiles import ProfileBook, ProfileError, builtin_profiles, parse_profiles
from agent.probes.snmp_readings import SYS_UPTIME, DeviceMemory, read
from agent.probes.snmp_values import RawValue
from wire.schema import MAX_CHECKS_PER_SAMPLE, Sample

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GENERIC = "name: generic\n"


def test_builtin_profiles_load_and_include_the_required_ones() -> None:
    names = set(builtin_profiles().profiles)
    assert {"generic", "ups", "ups_apc", "hikvision"} <= names


def _stack(
    sys_object_id: str | None,
    sys_descr: str | None,
    answers: dict[str, RawValue] | None = None,
    book: ProfileBook | None = None,
) -> str:
    found = detect(
        book or builtin_profiles(),
        sys_object_id=sys_object_id,
        sys_descr=sys_descr,
        answers=answers or {},
    )
    return found.names


UPS_MIB: dict[str, RawValue] = {"1.3.6.1.2.1.33.1.2.1.0": 2, "1.3.6.1.2.1.33.1.4.1.0": 3}
APC: dict[str, RawValue] = {"1.3.6.1.4.1.318.1.1.1.1.1.1.0": b"Smart-UPS X 750"}
HIK: dict[str, RawValue] = {"1.3.6.1.4.1.39165.1.1.0": b"DS-7608NI-K2"}


@pytest.mark.parametrize(
    ("sys_object_id", "sys_descr", "answers", "expected"),
    [
        ("1.3.6.1.4.1.318.1.3.27", None, APC, "generic+ups_apc"),
        ("1.3.6.1.4.1.318.1.3.27", None, {**APC, **UPS_MIB}, "generic+ups+ups_apc"),
        # an APC sysObjectID with no PowerNet-MIB answer does not make it an APC UPS
        ("1.3.6.1.4.1.318.1.3.27", None, {}, "generic"),
        ("1.3.6.1.4.1.534.1", None, UPS_MIB, "generic+ups"),
        # a UPS card of a vendor no list names, found by the UPS-MIB answering
        ("1.3.6.1.4.1.2011.6.174.4.1.2.4", "SNMP Card for UPS2000", UPS_MIB, "generic+ups"),
        ("1.3.6.1.4.1.534.1", None, {}, "generic"),
        ("1.3.6.1.4.1.8072.3.2.10", "Linux nvr 5.10", {}, "generic"),
        (None, None, HIK, "generic+hikvision"),  # cameras that answer no system group
        ("1.3.6.1.4.1.8072.3.2.10", "Hikvision DS-7608NI-K2 NVR", HIK, "generic+hikvision_nvr"),
        (None, "Embedded Net DVR (Hikvision)", HIK, "generic+hikvision_nvr"),
        (None, None, {}, "generic"),
        ("1.3.6.1.4.1.1004849.3.2.10", None, {}, "generic+dahua"),
        ("1.3.6.1.4.1.368.1.1", "AXIS P3265", {}, "generic+axis"),
        # a sysDescr saying PoE is not POWER-ETHERNET-MIB: only its answer is
        ("1.3.6.1.4.1.11863.5.190", "JetStream 24-Port PoE+ Switch", {}, "generic"),
        (
            "1.3.6.1.4.1.11863.5.190",
            "JetStream 24-Port PoE+ Switch",
            {"1.3.6.1.2.1.105.1.3.1.1.3.1": 1},
            "generic+poe_switch",
        ),
        (
            "1.3.6.1.4.1.8072.3.2.10",
            "Linux",
            {"1.3.6.1.4.1.6574.1.5.1.0": b"DS918+"},
            "generic+synology",
        ),
        # HOST-RESOURCES and ENTITY-SENSOR are layers of their own, found by their answers
        (
            "1.3.6.1.4.1.8072.3.2.10",
            "Linux",
            {"1.3.6.1.2.1.25.1.1.0": 500},
            "generic+host_resources",
        ),
        (
            "1.3.6.1.4.1.9.1.2694",
            None,
            {"1.3.6.1.2.1.47.1.4.1.0": 0},
            "generic+entity_sensor+cisco_envmon",
        ),
        ("1.3.6.1.4.1.8072.3.2.10", "Linux", {"1.3.6.1.2.1.25.1.1.0": b"up"}, "generic"),
    ],
)
def test_detection_stacks_profiles_by_what_the_device_answers(
    sys_object_id: str | None, sys_descr: str | None, answers: dict[str, RawValue], expected: str
) -> None:
    assert _stack(sys_object_id, sys_descr, answers) == expected


def test_a_sentinel_answering_garbage_falls_back_and_says_so() -> None:
    garbage: dict[str, RawValue] = {"1.3.6.1.2.1.33.1.2.1.0": b"OK", "1.3.6.1.2.1.33.1.4.1.0": 99}
    found = detect(builtin_profiles(), sys_object_id=None, sys_descr=None, answers=garbage)
    assert found.names == "generic"
    assert "ups passed over: sentinel 1.3.6.1.2.1.33.1.2.1.0 answered not an integer" in (
        found.reason
    )
    assert not found.matched
    # the vendor profile's garbage sentinel passes to the next vendor candidate
    apc_garbage: dict[str, RawValue] = {"1.3.6.1.4.1.318.1.1.1.1.1.1.0": 7, **HIK}
    found = detect(
        builtin_profiles(),
        sys_object_id="1.3.6.1.4.1.318.1.3.27",
        sys_descr=None,
        answers=apc_garbage,
    )
    assert found.names == "generic+hikvision"
    assert "ups_apc passed over: sentinel" in found.reason


def test_nothing_recognisable_says_why_with_the_sys_object_id() -> None:
    found = detect(
        builtin_profiles(), sys_object_id="1.3.6.1.4.1.6530", sys_descr="2N IP Force", answers={}
    )
    assert found.reason == (
        "no profile matched what the device answers; sysObjectID 1.3.6.1.4.1.6530, "
        "sysDescr '2N IP Force'"
    )


def test_a_configured_profile_wins_over_detection() -> None:
    found = detect(
        builtin_profiles(),
        sys_object_id="1.3.6.1.4.1.318.1.3.27",
        sys_descr=None,
        answers=APC,
        configured="ups",
    )
    assert (found.names, found.reason) == ("ups", "ups: named in the device config")


def test_enterprise_numbers_old_and_new_recognise_a_vendor() -> None:
    book = parse_profiles(
        {
            "g.yaml": GENERIC,
            "v.yaml": "name: vendor\nmatch: {enterprises: [50001, 39165]}\n",
        }
    )
    assert _stack("1.3.6.1.4.1.50001.1.2", None, book=book) == "generic+vendor"
    assert _stack("1.3.6.1.4.1.39165.9", None, book=book) == "generic+vendor"
    assert _stack("1.3.6.1.4.1.391650", None, book=book) == "generic"


def test_longest_sys_object_id_prefix_wins() -> None:
    book = parse_profiles(
        {
            "g.yaml": GENERIC,
            "a.yaml": "name: vendor\nmatch: {sys_object_id: [1.3.6.1.4.1.9]}\n",
            "b.yaml": "name: model\nmatch: {sys_object_id: [1.3.6.1.4.1.9.1.2]}\n",
        }
    )
    assert _stack("1.3.6.1.4.1.9.1.2.7", None, book=book) == "generic+model"
    assert _stack("1.3.6.1.4.1.9.5", None, book=book) == "generic+vendor"


def test_stacked_profiles_read_each_check_once_the_vendor_last() -> None:
    apc = detect(
        builtin_profiles(),
        sys_object_id="1.3.6.1.4.1.318.1.3.27",
        sys_descr=None,
        answers={**APC, **UPS_MIB},
    ).profile()
    names = [v.name for v in apc.scalars]
    assert len(names) == len(set(names))
    on_battery = next(v for v in apc.scalars if v.name == "ups.on_battery")
    assert on_battery.oid.startswith("1.3.6.1.4.1.318.")  # PowerNet's reading replaces RFC 1628's
    assert {t.name for t in apc.tables} >= {"if", "ucd.disk", "apc.probe", "apc.input"}
    assert "hr_storage" not in {t.name for t in apc.tables}  # no HOST-RESOURCES answer


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x\nscalars: [{name: a, oid: 1.3.6, kind: enum}]", "needs map"),
        ("name: x\nscalars: [{name: a, oid: 1.3.6, kind: flag}]", "needs true_when"),
        ("name: x\nscalars: [{name: a, oid: 1.3.6, kind: percent}]", "needs of"),
        ("name: x\nscalars: [{name: A, oid: 1.3.6}]", "bad.yaml:2 scalars[0].name"),
        ("name: x\nscalars: [{name: a, oid: iso.3}]", "bad.yaml:2 scalars[0].oid"),
        (
            "name: x\nscalars:\n  - {name: a, oid: 1.3.6}\n  - {name: a, oid: 1.3.7}\n",
            "duplicate check name 'a'",
        ),
        (
            "name: x\nscalars: [{name: a, oid: 1.3.6, kind: number_in_text, unit: furlong}]",
            "unknown unit",
        ),
        ("name: x\nmatch: {sentinels: [{oid: 1.3.6, type: text, min: 1}]}\n", "min:/max: are for"),
        ("name: x\nscalars: [{name: a, oid: 1.3.6, colour: red}]", "colour"),
        ("name: x\nextends: nowhere\n", "extends unknown profile"),
        ("name: x\nidentity: {vendor: {}}\n", "exactly one of"),
        ("name: x\nmatch: {sys_descr: ['(']}\n", "match.sys_descr"),
    ],
)
def test_bad_profiles_fail_with_file_and_field(text: str, fragment: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profiles({"g.yaml": GENERIC, "bad.yaml": text})
    message = str(info.value)
    assert fragment in message
    assert "bad.yaml" in message or "profile 'x'" in message


def test_extends_merges_parent_checks_first() -> None:
    book = parse_profiles(
        {
            "g.yaml": GENERIC + "scalars: [{name: base.a, oid: 1.3.6.1.1}]\n",
            "c.yaml": "name: child\nextends: generic\nscalars: [{name: child.b, oid: 1.3.6.1.2}]\n",
        }
    )
    child = book.profiles["child"]
    assert [v.name for v in child.scalars] == ["base.a", "child.b"]


def _ups_scalars(**overrides: RawValue) -> dict[str, RawValue]:
    base: dict[str, RawValue] = {
        "1.3.6.1.2.1.33.1.1.1.0": b"EATON",
        "1.3.6.1.2.1.33.1.1.2.0": b"5PX",
        "1.3.6.1.2.1.33.1.4.1.0": 5,
        "1.3.6.1.2.1.33.1.2.1.0": 3,
        "1.3.6.1.2.1.33.1.2.3.0": -1,
        "1.3.6.1.2.1.33.1.2.7.0": -273,
        "1.3.6.1.2.1.33.1.2.5.0": 482,
    }
    base.update({k.replace("_", "."): v for k, v in overrides.items()})
    return base


def test_ups_going_on_battery_is_an_event_once() -> None:
    profile = builtin_profiles().profiles["ups"]
    on_mains = _ups_scalars(**{"1.3.6.1.2.1.33.1.4.1.0": 3, "1.3.6.1.2.1.33.1.2.1.0": 2})
    polls = [on_mains, on_mains, _ups_scalars(), _ups_scalars(), on_mains]
    memory = DeviceMemory()
    kinds: list[list[str]] = []
    for at, scalars in enumerate(polls):
        reading = read(profile, scalars=scalars, columns={}, previous=memory, at=at, now=NOW)
        memory = reading.memory
        kinds.append(sorted(e.kind for e in reading.events))
    both = ["ups.battery_status", "ups.on_battery"]
    assert kinds == [[], [], both, [], both]


def test_unknown_value_does_not_fake_a_change() -> None:
    profile = builtin_profiles().profiles["ups"]
    first = read(
        profile, scalars=_ups_scalars(), columns={}, previous=DeviceMemory(), at=0, now=NOW
    )
    gap = read(profile, scalars={}, columns={}, previous=first.memory, at=1, now=NOW)
    again = read(profile, scalars=_ups_scalars(), columns={}, previous=gap.memory, at=2, now=NOW)
    assert gap.events == []
    assert again.events == []


def test_ups_reading_maps_output_source_and_sentinels() -> None:
    profile = builtin_profiles().profiles["ups"]
    reading = read(
        profile, scalars=_ups_scalars(), columns={}, previous=DeviceMemory(), at=0.0, now=NOW
    )
    checks = reading.checks
    assert checks["ups.on_battery"] is True
    assert checks["ups.output_source"] == "battery"
    assert checks["ups.battery.status"] == "low"
    assert checks["ups.battery.minutes_remaining"] is None
    assert checks["ups.battery.temperature_c"] is None
    assert checks["ups.battery.voltage_v"] == pytest.approx(48.2)
    assert checks["ups.input.voltage_v"] is None  # not answered
    assert reading.identity is not None
    assert (reading.identity.vendor, reading.identity.model) == ("EATON", "5PX")


def _switch_columns(in_errors: int) -> dict[str, dict[str, RawValue]]:
    return {
        "1.3.6.1.2.1.2.2.1.2": {"1": b"Port 1", "2": b"Port 2", "3": b"lo"},
        "1.3.6.1.2.1.2.2.1.3": {"1": 6, "2": 6, "3": 24},
        "1.3.6.1.2.1.2.2.1.8": {"1": 1, "2": 2, "3": 1},
        "1.3.6.1.2.1.2.2.1.14": {"1": in_errors, "2": 0, "3": 0},
    }


def test_interface_rows_are_filtered_named_and_rated_across_polls() -> None:
    profile = builtin_profiles().profiles["generic"]
    first = read(
        profile,
        scalars={SYS_UPTIME: 1000},
        columns=_switch_columns(2**32 - 60),
        previous=DeviceMemory(),
        at=100.0,
        now=NOW,
    )
    assert first.checks["if.port_1.oper_up"] is True
    assert first.checks["if.port_2.oper_up"] is False
    assert "if.lo.oper_up" not in first.checks  # loopback (ifType 24) is not a port
    assert first.checks["if.port_1.in_errors_per_s"] is None  # no previous poll yet
    second = read(
        profile,
        scalars={SYS_UPTIME: 7000},
        columns=_switch_columns(60),  # wrapped
        previous=first.memory,
        at=160.0,
        now=NOW,
    )
    assert second.checks["if.port_1.in_errors_per_s"] == 2.0
    assert second.checks["system.rebooted"] is False


def test_uptime_backwards_is_a_reboot_event_and_resets_rates() -> None:
    profile = builtin_profiles().profiles["generic"]
    first = read(
        profile,
        scalars={SYS_UPTIME: 500_000},
        columns=_switch_columns(100),
        previous=DeviceMemory(),
        at=0.0,
        now=NOW,
    )
    second = read(
        profile,
        scalars={SYS_UPTIME: 2_000},
        columns=_switch_columns(5),
        previous=first.memory,
        at=60.0,
        now=NOW,
    )
    assert second.checks["system.rebooted"] is True
    assert [e.kind for e in second.events] == ["device.rebooted"]
    # counters restarted with the device: no (false, wrapped) rate this poll
    assert second.checks["if.port_1.in_errors_per_s"] is None


def test_device_without_system_group_still_reads_its_profile() -> None:
    profile = builtin_profiles().profiles["hikvision"]
    reading = read(
        profile,
        scalars={"1.3.6.1.4.1.39165.1.7.0": b"15 PERCENT", "1.3.6.1.4.1.39165.1.10.0": b"512 MB"},
        columns={},
        previous=DeviceMemory(),
        at=0.0,
        now=NOW,
    )
    assert "system.uptime_s" not in reading.checks
    assert reading.checks["hik.cpu_percent"] == 15
    assert reading.checks["hik.mem.size_mb"] == 512


def test_checks_are_capped_to_what_a_sample_accepts() -> None:
    columns = [f"{{name: c{i}, oid: 1.3.6.1.4.1.99.{i}}}" for i in range(10)]
    book = parse_profiles(
        {
            "g.yaml": GENERIC
            + f"tables: [{{name: t, max_rows: 256, columns: [{', '.join(columns)}]}}]\n"
        }
    )
    rows: dict[str, RawValue] = {str(i): i for i in range(1, 60)}
    reading = read(
        book.profiles["generic"],
        scalars={},
        columns={f"1.3.6.1.4.1.99.{i}": rows for i in range(10)},
        previous=DeviceMemory(),
        at=0.0,
        now=NOW,
    )
    assert len(reading.checks) == MAX_CHECKS_PER_SAMPLE
    assert reading.checks["snmp.checks_truncated"] is True


def test_every_builtin_check_name_fits_the_wire_schema() -> None:
    """Sample validation is the contract: names and values of a busy reading must pass it."""
    profile = builtin_profiles().profiles["generic"]
    long_name = b"Very Long Interface Description Of A Managed Switch Port 48"
    columns = _switch_columns(5)
    columns["1.3.6.1.2.1.2.2.1.2"]["1"] = long_name
    reading = read(
        profile,
        scalars={SYS_UPTIME: 1},
        columns=columns,
        previous=DeviceMemory(),
        at=0.0,
        now=NOW,
    )
    Sample.model_validate(
        {
            "id": "0192f0c8-0000-7000-8000-000000000000",
            "device_id": "sw-1",
            "ts": NOW,
            "probe": "snmp",
            "reachable": True,
            "checks": reading.checks,
        }
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x\nscalars: [{name: a, oid: 1.3.6, kind: text, minus: 1.3.7}]", "kind number"),
        ("name: x\nscalars: [{name: a, oid: 1.3.6, only_if_recording: true}]", "kind flag"),
        (
            "name: x\ntables: [{name: t, recording: true, columns: [{name: a, oid: 1.3.6}]}]",
            "need a label",
        ),
        (
            "name: x\ntables: [{name: t, label: 1.3.5, columns: [{name: a, oid: 1.3.6,"
            " kind: flag, true_when: [2], only_if_recording: true}]}]",
            "needs recording: true",
        ),
    ],
)
def test_bad_new_fields_fail_with_file_and_field(text: str, fragment: str) -> None:
    with pytest.raises(ProfileError, match=fragment):
        parse_profiles({"g.yaml": GENERIC, "bad.yaml": text})


def test_storage_size_and_free_space_from_allocation_units() -> None:
    """hrStorageSize/Used are counted in hrStorageAllocationUnits: GiB needs the product."""
    profile = builtin_profiles().profiles["host_resources"]
    base = "1.3.6.1.2.1.25.2.3.1"
    columns: dict[str, dict[str, RawValue]] = {
        f"{base}.2": {"1": "1.3.6.1.2.1.25.2.1.4", "2": "1.3.6.1.2.1.25.2.1.4"},
        f"{base}.3": {"1": b"/", "2": b"/media/hdd"},
        f"{base}.4": {"1": 4096, "2": 65536},
        f"{base}.5": {"1": 262144, "2": 2147483647},  # the second: size clamped, unknown
        f"{base}.6": {"1": 65536, "2": 5},
    }
    checks = read(
        profile, scalars={}, columns=columns, previous=DeviceMemory(), at=0.0, now=NOW
    ).checks
    assert checks["hr_storage.root.size_gib"] == 1.0
    assert checks["hr_storage.root.free_gib"] == 0.75
    assert checks["hr_storage.root.used_percent"] == 25.0
    assert checks["hr_storage.media_hdd.size_gib"] is None
    assert checks["hr_storage.media_hdd.free_gib"] is None


def _axis_columns(sd_disk: int, share: int) -> dict[str, dict[str, RawValue]]:
    return {
        "1.3.6.1.4.1.368.4.1.8.1.2": {"1": b"SD_DISK", "2": b"NetworkShare"},
        "1.3.6.1.4.1.368.4.1.8.1.3": {"1": sd_disk, "2": share},
    }


def test_disrupted_storage_fails_only_where_recording_is_configured() -> None:
    profile = builtin_profiles().profiles["axis"]
    options = SnmpOptions(recording_storage=["SD_DISK"])
    first = read(
        profile,
        scalars={},
        columns=_axis_columns(sd_disk=1, share=2),
        previous=DeviceMemory(),
        at=0.0,
        now=NOW,
        options=options,
    )
    checks = first.checks
    assert checks["axis.storage.sd_disk.recording"] is True
    assert checks["axis.storage.sd_disk.failed"] is False
    assert checks["axis.storage.networkshare.disrupted"] is True
    assert checks["axis.storage.networkshare.recording"] is False
    assert checks["axis.storage.networkshare.failed"] is False  # no share configured
    second = read(
        profile,
        scalars={},
        columns=_axis_columns(sd_disk=2, share=2),
        previous=first.memory,
        at=1.0,
        now=NOW,
        options=options,
    )
    assert second.checks["axis.storage.sd_disk.failed"] is True
    assert [(e.kind, e.data["check"]) for e in second.events] == [
        ("storage.failed", "axis.storage.sd_disk.failed")
    ]
    without_config = read(
        profile,
        scalars={},
        columns=_axis_columns(sd_disk=2, share=2),
        previous=DeviceMemory(),
        at=0.0,
        now=NOW,
    )
    assert without_config.checks["axis.storage.sd_disk.failed"] is False


def test_configured_event_names_replace_and_add_watched_checks() -> None:
    profile = builtin_profiles().profiles["ups"]
    options = SnmpOptions(
        events={"ups.on_battery": "power.mains_lost", "ups.battery.charge_percent": "ups.charge"}
    )
    on_mains = _ups_scalars(**{"1.3.6.1.2.1.33.1.4.1.0": 3, "1.3.6.1.2.1.33.1.2.4.0": 100})
    first = read(
        profile, scalars=on_mains, columns={}, previous=DeviceMemory(), at=0, now=NOW,
        options=options,
    )  # fmt: skip
    on_battery = _ups_scalars(**{"1.3.6.1.2.1.33.1.2.4.0": 97})
    second = read(
        profile, scalars=on_battery, columns={}, previous=first.memory, at=1, now=NOW,
        options=options,
    )  # fmt: skip
    assert sorted(e.kind for e in second.events) == [
        "power.mains_lost",  # the profile's ups.on_battery, renamed by the site
        "ups.charge",  # not watched by the profile at all
    ]


def test_configured_event_names_are_validated() -> None:
    with pytest.raises(ValidationError, match="events"):
        SnmpOptions.model_validate({"events": {"Contact Smoke": "fire.smoke"}})
    with pytest.raises(ValidationError, match="events"):
        SnmpOptions.model_validate({"events": {"contact.smoke.alarm": "Fire!"}})


def test_pseudo_file_systems_are_not_storage() -> None:
    """net-snmp reports tmpfs mounts as fixed disks; only real storage is checked."""
    profile = builtin_profiles().profiles["host_resources"]
    base = "1.3.6.1.2.1.25.2.3.1"
    fixed = "1.3.6.1.2.1.25.2.1.4"
    mounts = [b"/", b"/run", b"/dev/shm", b"/sys/fs/cgroup", b"/run/lock", b"/media/hdd1"]
    rows = {str(i): mount for i, mount in enumerate(mounts, start=1)}
    columns: dict[str, dict[str, RawValue]] = {
        f"{base}.2": dict.fromkeys(rows, fixed),
        f"{base}.3": dict(rows),
        f"{base}.4": dict.fromkeys(rows, 4096),
        f"{base}.5": dict.fromkeys(rows, 1000),
        f"{base}.6": dict.fromkeys(rows, 100),
        "1.3.6.1.4.1.2021.9.1.2": {"1": b"/", "2": b"/run/user/0"},
        "1.3.6.1.4.1.2021.9.1.9": {"1": 40, "2": 100},
    }
    checks = read(
        profile, scalars={}, columns=columns, previous=DeviceMemory(), at=0.0, now=NOW
    ).checks
    storages = {name.split(".")[1] for name in checks if name.startswith("hr_storage.")}
    assert storages == {"root", "media_hdd1"}
    assert "ucd.disk.root.used_percent" in checks
    assert not any(name.startswith("ucd.disk.run") for name in checks)


@pytest.mark.parametrize(
    ("memory", "used"),
    [
        # total, available, buffers, cached (kB): buffers and cache are not memory in use
        ({"5": 1000, "6": 200, "14": 100, "15": 300}, 40.0),
        ({"5": 1000, "6": 200}, 80.0),  # an agent without buffers/cached: total - available
        ({"6": 200}, None),
    ],
)
def test_memory_used_is_total_minus_free_buffers_and_cache(
    memory: dict[str, int], used: float | None
) -> None:
    profile = builtin_profiles().profiles["generic"]
    scalars: dict[str, RawValue] = {f"1.3.6.1.4.1.2021.4.{k}.0": v for k, v in memory.items()}
    checks = read(
        profile, scalars=scalars, columns={}, previous=DeviceMemory(), at=0.0, now=NOW
    ).checks
    assert checks["ucd.mem.used_percent"] == used


LIMITED = """\
name: limited
scalars:
  - {name: cpu.degrees_c, oid: 1.3.6.1.4.1.9.1.0, limit: {type: cpu}}
tables:
  - name: probe
    columns:
      - name: degrees_c
        oid: 1.3.6.1.4.1.9.2.1.3
        unit_flag: {oid: 1.3.6.1.4.1.9.2.1.12, fahrenheit: [0]}
        limit: {type: ambient, oid: 1.3.6.1.4.1.9.2.1.8}
"""


@pytest.mark.parametrize(
    ("cpu", "over"),
    [(95, True), (85, False), (None, None)],  # a CPU's own 90 °C, not a room's
)
def test_a_temperature_is_judged_by_its_sensor_types_limit(
    cpu: int | None, over: bool | None
) -> None:
    profile = parse_profiles({"g.yaml": GENERIC, "l.yaml": LIMITED}).profiles["limited"]
    scalars: dict[str, RawValue] = {"1.3.6.1.4.1.9.1.0": cpu}
    checks = read(
        profile, scalars=scalars, columns={}, previous=DeviceMemory(), at=0.0, now=NOW
    ).checks
    assert checks["cpu.degrees_c_over_limit"] is over


def test_the_devices_own_threshold_wins_in_its_own_unit() -> None:
    profile = parse_profiles({"g.yaml": GENERIC, "l.yaml": LIMITED}).profiles["limited"]
    base = "1.3.6.1.4.1.9.2.1"
    columns: dict[str, dict[str, RawValue]] = {
        f"{base}.3": {"1": 30, "2": 30, "3": 86},  # °C, °C, °F (30 °C)
        f"{base}.8": {"1": 25, "3": 77},  # thresholds: 25 °C, none, 77 °F (25 °C)
        f"{base}.12": {"1": 1, "2": 1, "3": 0},
    }
    checks = read(
        profile, scalars={}, columns=columns, previous=DeviceMemory(), at=0.0, now=NOW
    ).checks
    assert checks["probe.row1.degrees_c_over_limit"] is True  # 30 > its own 25
    assert checks["probe.row2.degrees_c_over_limit"] is False  # no threshold: ambient 40
    assert checks["probe.row3.degrees_c"] == 30.0
    assert checks["probe.row3.degrees_c_over_limit"] is True  # 86 °F > 77 °F, compared in °C
