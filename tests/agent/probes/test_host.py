"""The host probe: smartctl JSON written from its documented schema (tests/fixtures/README.md),
/proc/mounts and hwmon files made in a temporary directory, and once the real smartctl."""

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.config import DeviceConfig
from agent.probes.host import HostProbe, Runner
from agent.probes.smart import (
    SmartError,
    disk_key,
    filesystem_checks,
    hwmon_check,
    mount_key,
    parse_mounts,
    parse_scan,
    parse_smart,
)
from server.predict.signals import spec_for

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "smartctl"


def fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_healthy_sata_disk() -> None:
    checks = parse_smart(fixture("sata-healthy.json"), "sda")
    assert checks == {
        "host.disk.sda.smart_passed": True,
        "host.disk.sda.reallocated_sectors": 0,
        "host.disk.sda.power_on_hours": 15021,
        "host.disk.sda.reported_uncorrect": 0,
        "host.disk.sda.command_timeout": 0,
        # raw 85899345956 = 0x14_0000_0024: the low byte is the temperature now (36 °C)
        "host.disk.sda.celsius": 36,
        "host.disk.sda.pending_sectors": 0,
        "host.disk.sda.offline_uncorrectable": 0,
        "host.disk.sda.crc_errors": 0,
    }


def test_failing_sata_disk_reports_raw_counters_not_normalised_values() -> None:
    checks = parse_smart(fixture("sata-failing.json"), "sdb")
    assert checks["host.disk.sdb.smart_passed"] is False
    assert checks["host.disk.sdb.reallocated_sectors"] == 1848
    assert checks["host.disk.sdb.pending_sectors"] == 27
    assert checks["host.disk.sdb.offline_uncorrectable"] == 9
    assert checks["host.disk.sdb.crc_errors"] == 3
    assert checks["host.disk.sdb.celsius"] == 42
    assert "host.disk.sdb.reported_uncorrect" not in checks


def test_nvme_health_log() -> None:
    checks = parse_smart(fixture("nvme.json"), "nvme0")
    assert checks["host.disk.nvme0.media_errors"] == 2
    assert checks["host.disk.nvme0.percentage_used"] == 7
    assert checks["host.disk.nvme0.available_spare_percent"] == 100
    assert checks["host.disk.nvme0.celsius"] == 44
    assert checks["host.disk.nvme0.smart_passed"] is True


@pytest.mark.parametrize("name", ["virtual-disk.json", "qemu-no-smart.json", "open-failed.json"])
def test_disk_without_smart_is_unsupported_not_an_error(name: str) -> None:
    assert parse_smart(fixture(name), "vda") == {"host.disk.vda.smart": "unsupported"}


@pytest.mark.parametrize("doc", [[], "text", {"smartctl": {}}, {"smartctl": {"exit_status": "0"}}])
def test_garbage_is_a_smart_error(doc: object) -> None:
    with pytest.raises(SmartError):
        parse_smart(doc, "sda")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_any_json_is_checks_or_a_smart_error(doc: object) -> None:
    try:
        checks = parse_smart(doc, "sda")
    except SmartError:
        return
    assert all(name.startswith("host.disk.sda.") for name in checks)


def test_scan_lists_devices_with_their_type() -> None:
    assert parse_scan(fixture("scan.json")) == [
        ("/dev/sda", "sat"),
        ("/dev/sdb", "sat"),
        ("/dev/nvme0", "nvme"),
        ("/dev/sdc", "scsi"),
    ]


def test_names_become_check_segments() -> None:
    assert disk_key("/dev/sda") == "sda"
    assert disk_key("/dev/bus/0 megaraid,3") == "bus_0_megaraid_3"
    assert mount_key("/") == "root"
    assert mount_key("/mnt/rec 1") == "mnt_rec_1"


def test_mounts_keep_real_filesystems_once() -> None:
    text = (
        "proc /proc proc rw 0 0\n"
        "/dev/vda1 / ext4 rw 0 0\n"
        "/dev/sdb1 /mnt/rec\\0401 xfs rw 0 0\n"
        "/dev/vda1 / ext4 rw 0 0\n"
        "tmpfs /run tmpfs rw 0 0\n"
        "garbage\n"
    )
    assert [(m.path, m.fstype) for m in parse_mounts(text)] == [
        ("/", "ext4"),
        ("/mnt/rec 1", "xfs"),
    ]


def test_filesystem_and_sensor_checks() -> None:
    assert filesystem_checks("/", 1000, 250) == {
        "host.fs.root.used_percent": 75.0,
        "host.fs.root.free_gib": 0.0,
    }
    assert filesystem_checks("/", 0, 0) == {"host.fs.root.used_percent": None}
    assert hwmon_check("coretemp", "temp1", "45500\n") == (
        "host.sensor.coretemp_temp1.celsius",
        45.5,
    )
    assert hwmon_check("coretemp", "temp1", "N/A") is None


def test_the_checks_feed_the_forecast_signals() -> None:
    for name in (
        "host.disk.sda.reallocated_sectors",
        "host.disk.sda.pending_sectors",
        "host.disk.sda.offline_uncorrectable",
        "host.disk.nvme0.media_errors",
        "host.disk.sda.celsius",
        "host.fs.root.used_percent",
        "host.sensor.coretemp_temp1.celsius",
    ):
        assert spec_for(name) is not None, name


def device() -> DeviceConfig:
    return DeviceConfig.model_validate(
        {
            "id": "gateway",
            "name": "Gateway",
            "class": "nvr",
            "subsystem": "video",
            "protocol": "host",
            "address": "localhost",
            "timeout": 30,
        }
    )


def fake_smartctl(answers: dict[str, str]) -> Runner:
    async def run(args: Sequence[str]) -> tuple[int, bytes]:
        key = "scan" if "--scan-open" in args else args[3]
        answer = answers[key]
        return 0, (FIXTURES / answer).read_bytes() if answer.endswith(".json") else answer.encode()

    return run


@pytest.fixture
def host_files(tmp_path: Path) -> tuple[Path, Path]:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda1 {tmp_path} ext4 rw 0 0\nproc /proc proc rw 0 0\n")
    chip = tmp_path / "hwmon" / "hwmon0"
    chip.mkdir(parents=True)
    (chip / "name").write_text("nvme\n")
    (chip / "temp1_input").write_text("38850\n")
    return mounts, tmp_path / "hwmon"


async def test_probe_reads_every_disk_and_survives_a_garbage_answer(
    host_files: tuple[Path, Path],
) -> None:
    mounts, hwmon = host_files
    probe = HostProbe(
        smartctl="/usr/sbin/smartctl",
        run=fake_smartctl(
            {
                "scan": "scan.json",
                "/dev/sda": "sata-healthy.json",
                "/dev/sdb": "sata-failing.json",
                "/dev/nvme0": "nvme.json",
                "/dev/sdc": "{not json",
            }
        ),
        mounts=mounts,
        hwmon=hwmon,
    )
    result = await probe.poll(device())
    checks = result.checks
    assert checks["host.smart"] == "ok"
    assert checks["host.disk.sdb.reallocated_sectors"] == 1848
    assert checks["host.disk.nvme0.media_errors"] == 2
    assert checks["host.disk.sdc.smart"] == "error"
    assert checks["host.sensor.nvme_temp1.celsius"] == 38.85
    fs = [name for name in checks if name.startswith("host.fs.")]
    assert any(name.endswith(".used_percent") for name in fs)


async def test_probe_without_smartctl_says_unsupported(host_files: tuple[Path, Path]) -> None:
    mounts, hwmon = host_files
    probe = HostProbe(mounts=mounts, hwmon=hwmon, which=lambda _: None)
    checks = (await probe.poll(device())).checks
    assert checks["host.smart"] == "unsupported"
    assert checks["host.sensor.nvme_temp1.celsius"] == 38.85


@pytest.mark.skipif(shutil.which("smartctl") is None, reason="needs Debian smartmontools")
async def test_real_smartctl_on_this_machine() -> None:
    checks = (await HostProbe().poll(device())).checks
    assert checks["host.smart"] == "ok"
    assert "host.fs.root.used_percent" in checks
    for name, value in checks.items():
        if name.startswith("host.disk.") and name.endswith(".smart"):
            assert value in ("unsupported", "error")
