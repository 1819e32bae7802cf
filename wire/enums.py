"""Closed sets shared by agent and server, defined once and stored as their string values."""

from enum import StrEnum


class DeviceClass(StrEnum):
    CAMERA = "camera"
    NVR = "nvr"
    DVR = "dvr"
    ALARM_PANEL = "alarm_panel"
    ACCESS_CONTROLLER = "access_controller"
    UPS = "ups"
    SWITCH = "switch"
    GATEWAY = "gateway"
    SENSOR = "sensor"
    OTHER = "other"


class Subsystem(StrEnum):
    VIDEO = "video"
    ALARM = "alarm"
    ACCESS = "access"
    POWER = "power"
    NETWORK = "network"


class ProbeKind(StrEnum):
    """How the agent talks to a device."""

    TCP = "tcp"
    SNMP = "snmp"
    ONVIF = "onvif"
    MQTT = "mqtt"
    HOST = "host"  # the gateway the agent runs on: filesystems, SMART, temperatures


class ProbeErrorCode(StrEnum):
    """Why a poll failed; unreachable and auth-failed become different faults and tickets."""

    UNREACHABLE = "device.unreachable"
    AUTH_FAILED = "device.auth_failed"
    PROTOCOL_ERROR = "probe.protocol_error"
    UNSUPPORTED = "probe.unsupported"
    TIMEOUT = "probe.timeout"
    # The intermediary the agent reads the device through (an MQTT broker) is down: a site-level
    # condition that says nothing about the device itself, so its status becomes unknown.
    BROKER_UNREACHABLE = "broker.unreachable"


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    TECHNICIAN = "technician"
    DESK = "desk"
    CLIENT = "client"


class CommandKind(StrEnum):
    """What the server may ask an agent to do (delivered with the answer to an ingest)."""

    PICTURE_RELEARN = "picture.relearn"  # forget a camera's learned picture baselines
