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

DEFAULT_RULE_DATA: list[dict[str, Any]] = [
    {"code": "device.unreachable", "except_classes": ["alarm_panel", "access_controller"],
     **OFFLINE},
    {"code": "alarm.panel_offline", "classes": ["alarm_panel"], "severity": "emergency",
     **OFFLINE},
    {"code": "access.controller_offline", "classes": ["access_controller"], **OFFLINE},
    {"code": "device.auth_failed",
     "condition": {"kind": "error", "code": "device.auth_failed"}},
    {"code": "camera.stream_down", "classes": ["camera"],
     "condition": {"kind": "check_in", "check": "stream.ok", "values": [False]}},
    {"code": "camera.video_loss", "classes": ["camera"],
     "condition": {"kind": "check_in", "check": "video.loss", "values": [True]}},
    # The ONVIF probe's picture analysis (every snapshot, 5 min by default): two in a row.
    {"code": "camera.image_abnormal", "classes": ["camera"], "confirm_after": 2,
     "condition": {"kind": "check_in", "check": "camera.image_abnormal", "values": [True]}},
    # The probe judges drift against each camera's own threshold (default 5 s).
    {"code": "camera.clock_drift", "classes": ["camera", "nvr", "dvr"], "confirm_after": 3,
     "condition": {"kind": "check_in", "check": "camera.clock_drift", "values": [True]}},
    {"code": "storage.disk_failed", "classes": ["nvr", "dvr"], "confirm_after": 1,
     "severity": "emergency",
     "condition": {"kind": "check_above", "check": "storage.disks_failed", "limit": 0}},
    # The ONVIF Search service's newest footage (recording.ok false: a channel stopped).
    {"code": "storage.recording_stopped", "classes": ["nvr", "dvr"],
     "severity": "emergency",
     "condition": {"kind": "check_in", "check": "recording.ok", "values": [False]}},
    {"code": "power.ac_lost", "classes": ["ups"], "confirm_after": 1,
     "condition": {"kind": "check_in", "check": "ups.on_battery", "values": [True]}},
    {"code": "power.battery_low", "classes": ["ups"], "confirm_after": 1,
     "severity": "emergency",
     "condition": {"kind": "check_in", "check": "ups.battery.status",
                   "values": ["low", "depleted"]}},
    {"code": "network.port_down", "classes": ["switch"],
     "condition": {"kind": "check_above", "check": "network.ports_down", "limit": 0}},
    {"code": "env.temperature_high", "confirm_after": 3,
     "condition": {"kind": "check_above", "check": "env.temperature_c", "limit": 55}},
]  # fmt: skip

# Shipped per-class severities on top of each rule's own default.
DEFAULT_SEVERITY: dict[str, Severity] = {
    "device.unreachable@nvr": Severity.EMERGENCY,
    "device.unreachable@dvr": Severity.EMERGENCY,
    "site.system_paralysed": Severity.EMERGENCY,
    "site.agent_offline": Severity.GENERAL,
}


def default_rules() -> RuleSet:
    return load_rules(DEFAULT_RULE_DATA)
