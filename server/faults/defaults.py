"""The shipped rules and severity map (plain data, loaded through the same validation as a
client's own). Check names are those the agent's probes report; thresholds are starting points.

Severity follows seed §1.1 / §13.4: emergency when the system is paralysed (recorder down,
recording stopped, most cameras down) or the alarm system fails (panel offline, AC lost with
the battery low); general for one camera's picture or stream, a card reader, a clock drift.
"""

from typing import Any

from server.faults.rules import RuleSet, load_rules
from server.sla import Severity

OFFLINE = {"condition": {"kind": "unreachable"}, "service_affecting": True}
# Where a device event carries its own verdict: ONVIF's parsed state, Dahua traps' Start/Stop.
STATE = ["active", "action"]


def check_in(check: str, *values: object) -> dict[str, Any]:
    return {"kind": "check_in", "check": check, "values": list(values)}


def any_of(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "any_of", "conditions": list(conditions)}


DEFAULT_RULE_DATA: list[dict[str, Any]] = [
    {"code": "device.unreachable", "except_classes": ["alarm_panel", "access_controller"],
     **OFFLINE},
    {"code": "alarm.panel_offline", "classes": ["alarm_panel"], "severity": "emergency",
     **OFFLINE},
    {"code": "access.controller_offline", "classes": ["access_controller"], **OFFLINE},
    {"code": "device.auth_failed",
     "condition": {"kind": "error", "code": "device.auth_failed"}},
    {"code": "camera.stream_down", "classes": ["camera"],
     "condition": check_in("stream.ok", False)},
    # Axis' video channel table; ONVIF SignalLoss; a recorder's per-channel trap (Dahua).
    {"code": "camera.video_loss", "classes": ["camera", "nvr", "dvr"],
     "condition": check_in("axis.video.*.signal_ok", False),
     "events": {"kinds": ["camera.video_loss", "video.loss"], "state": STATE,
                "key": ["channel"]}},
    # An opened housing (Axis), ONVIF tamper detection or a scene change, a blinded channel.
    {"code": "camera.tamper", "classes": ["camera", "nvr", "dvr"],
     "condition": check_in("axis.casing.*.open", True),
     "events": {"kinds": ["camera.tamper", "video.tamper"], "state": STATE,
                "key": ["channel"]}},
    # The ONVIF probe's picture analysis (every snapshot, 5 min by default): two in a row. Its
    # events are not read: one abnormal snapshot must not open a fault on its own.
    {"code": "camera.image_abnormal", "classes": ["camera"], "confirm_after": 2,
     "condition": check_in("camera.image_abnormal", True)},
    # The probe judges drift against each camera's own threshold (default 5 s).
    {"code": "camera.clock_drift", "classes": ["camera", "nvr", "dvr"], "confirm_after": 3,
     "condition": check_in("camera.clock_drift", True)},
    # HOST-RESOURCES disks (Hikvision and Linux recorders), Synology, an Axis SD card that
    # recording uses; ONVIF StorageFailure and Dahua's storage trap, per disk.
    {"code": "storage.disk_failed", "classes": ["nvr", "dvr", "camera", "other"],
     "confirm_after": 1, "severity": "emergency",
     "condition": any_of(check_in("hr_disk.*.status", "down"),
                         check_in("syno.disk.*.status", "system_partition_failed", "crashed"),
                         check_in("syno.disk.*.health_status", "critical", "failing"),
                         check_in("syno.raid.*.status", "degraded", "crashed"),
                         check_in("qnap.disk.*.status", "rw_error", "invalid"),
                         check_in("axis.storage.*.failed", True)),
     "events": {"kinds": ["storage.disk_failed", "storage.failed"], "state": STATE,
                "key": ["disk"]}},
    # The ONVIF Search service's newest footage (recording.ok false: a channel stopped).
    {"code": "storage.recording_stopped", "classes": ["nvr", "dvr"],
     "severity": "emergency", "condition": check_in("recording.ok", False)},
    {"code": "power.ac_lost", "classes": ["ups"], "confirm_after": 1,
     "condition": check_in("ups.on_battery", True),
     "events": {"kinds": ["ups.on_battery"], "clear_kinds": ["ups.power_restored"]}},
    {"code": "power.ac_lost", "classes": ["alarm_panel", "access_controller"],
     "confirm_after": 1, "condition": check_in("power.ac", False),
     "events": {"kinds": ["power.ac_lost"]}},
    {"code": "power.battery_low", "classes": ["ups"], "confirm_after": 1,
     "severity": "emergency",
     "condition": check_in("ups.battery.status", "low", "depleted"),
     "events": {"kinds": ["ups.battery_low", "ups.battery_depleted"],
                "clear_kinds": ["ups.battery_ok"]}},
    {"code": "power.battery_low", "classes": ["alarm_panel", "access_controller"],
     "confirm_after": 1, "severity": "emergency",
     "condition": check_in("battery.low", True), "events": {"kinds": ["battery.low"]}},
    {"code": "power.supply_failed", "confirm_after": 1,
     "condition": any_of(check_in("axis.power.*.status", "failure"),
                         check_in("syno.power_failed", True)),
     "events": {"kinds": ["power.supply_failed"], "state": STATE}},
    {"code": "device.fan_failed", "confirm_after": 1,
     "condition": check_in("axis.fan.*.status", "failure"),
     "events": {"kinds": ["device.fan_failed"], "state": STATE}},
    {"code": "alarm.zone_fault", "classes": ["alarm_panel"], "confirm_after": 1,
     "condition": {"kind": "check_above", "check": "zones.faulted", "limit": 0},
     "events": {"kinds": ["zone.fault"], "key": ["payload.zone"]}},
    # The panel's path to the alarm receiving centre: the alarm system fails (seed §13.4).
    {"code": "alarm.comms_lost", "classes": ["alarm_panel"], "confirm_after": 1,
     "severity": "emergency", "condition": check_in("comms.fault", True),
     "events": {"kinds": ["comms.fault"]}},
    {"code": "access.reader_fault", "classes": ["access_controller"], "confirm_after": 1,
     "condition": check_in("reader.fault", True),
     "events": {"kinds": ["reader.fault"], "key": ["payload.reader"]}},
    {"code": "device.tamper", "classes": ["alarm_panel", "access_controller", "sensor"],
     "confirm_after": 1,
     "condition": any_of(check_in("tamper", True), check_in("contact.tamper.*.abnormal", True)),
     "events": {"kinds": ["tamper"]}},
    # Dry contacts (SNMP site monitors, UPS cards' inputs), each away from its normal state;
    # what a contact watches (door, flood, smoke, tamper, generic: the agent config, else its
    # name) picks the code, so smoke and flood are emergencies and a door is not.
    {"code": "env.contact_abnormal", "confirm_after": 1,
     "condition": any_of(check_in("contact.door.*.abnormal", True),
                         check_in("contact.generic.*.abnormal", True))},
    {"code": "env.smoke_alarm", "confirm_after": 1, "severity": "emergency",
     "condition": check_in("contact.smoke.*.abnormal", True)},
    {"code": "env.flood_alarm", "confirm_after": 1, "severity": "emergency",
     "condition": check_in("contact.flood.*.abnormal", True)},
    # A redundant power input of a switch or UPS lost (industrial switches' PWR1/PWR2).
    {"code": "power.input_lost", "confirm_after": 1,
     "condition": check_in("power_input.*.ok", False)},
    # A port with a link that went down (IF-MIB linkDown/linkUp traps, per port): unused ports
    # are down all along and send nothing, so the polled port table would only be noise.
    {"code": "network.port_down", "classes": ["switch"],
     "events": {"kinds": ["link.down"], "clear_kinds": ["link.up"], "key": ["if_index"]}},
    {"code": "env.temperature_high", "confirm_after": 3,
     "condition": any_of({"kind": "check_above", "check": "*.celsius", "limit": 55},
                         {"kind": "check_above", "check": "*.temperature_c", "limit": 55},
                         check_in("axis.temp.*.status", "out_of_boundary"),
                         check_in("akcp.temp.*.status", "high_critical"),
                         # a reading over its sensor type's limit or the device's own
                         check_in("*_over_limit", True)),
     "events": {"kinds": ["env.temperature_high"], "state": STATE}},
]  # fmt: skip

# Shipped per-class severities on top of each rule's own default.
DEFAULT_SEVERITY: dict[str, Severity] = {
    "device.unreachable@nvr": Severity.EMERGENCY,
    "device.unreachable@dvr": Severity.EMERGENCY,
    "storage.disk_failed@camera": Severity.GENERAL,  # an SD card, not the recorder
    "site.system_paralysed": Severity.EMERGENCY,
    "site.agent_offline": Severity.GENERAL,
}


def default_rules() -> RuleSet:
    return load_rules(DEFAULT_RULE_DATA)
