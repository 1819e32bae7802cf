"""Every signal is fed by check names our probes really emit (the fan signal excepted, named)."""

from server.predict.signals import CATALOGUE, Signal, spec_for

# A check name each probe emits (module that emits it) → the signal it must feed.
EMITTED: dict[str, Signal] = {
    "host.disk.sda.reallocated_sectors": Signal.DISK_SECTORS,  # agent/probes/smart.py
    "host.disk.nvme0.media_errors": Signal.DISK_SECTORS,  # agent/probes/smart.py
    "syno.disk.disk1.bad_sectors": Signal.DISK_SECTORS,  # profiles/snmp/synology.yaml
    "host.disk.sda.celsius": Signal.TEMPERATURE,  # agent/probes/smart.py
    "syno.temperature_c": Signal.TEMPERATURE,  # profiles/snmp/synology.yaml
    "ups.battery.minutes_remaining": Signal.BATTERY,  # profiles/snmp/ups.yaml
    "picture.sharpness": Signal.SHARPNESS,  # agent/probes/onvif/picture.py
    "system.uptime_s": Signal.REBOOTS,  # agent/probes/snmp_readings.py
    "host.fs.root.used_percent": Signal.STORAGE_FILL,  # agent/probes/smart.py
    "hr_storage.storage1.used_percent": Signal.STORAGE_FILL,  # profiles/snmp/generic.yaml
}
# No probe reports a fan's speed yet (fan states are faults, not trends).
NOT_EMITTED_YET = {Signal.FAN}


def test_emitted_checks_feed_their_signal() -> None:
    for check, signal in EMITTED.items():
        spec = spec_for(check)
        assert spec is not None, check
        assert spec.signal is signal, check


def test_every_signal_is_fed_or_named_as_not_yet() -> None:
    fed = set(EMITTED.values())
    assert {spec.signal for spec in CATALOGUE} == fed | NOT_EMITTED_YET
    assert not fed & NOT_EMITTED_YET


def test_checks_that_are_not_trends_feed_nothing() -> None:
    for check in ("ucd.mem.used_percent", "picture.ok", "system.rebooted", "tcp.open"):
        assert spec_for(check) is None, check
