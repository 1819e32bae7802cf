"""How onvif-zeep-async/zeep/aiohttp failures become the probe's few failures, and importing the
library leaves logging alone."""

import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import zeep.exceptions

from agent.probes.base import (
    AuthFailed,
    DeviceUnreachable,
    ProbeFailure,
    ProtocolError,
    Unsupported,
)
from agent.probes.onvif.client import translate
from agent.probes.onvif.library import ONVIFError


@dataclass(frozen=True)
class QName:
    """What zeep puts in `Fault.subcodes` (lxml QNames), as far as the probe reads them."""

    localname: str


def fault(message: str, **kwargs: Any) -> zeep.exceptions.Fault:
    return zeep.exceptions.Fault(message, **kwargs)  # type: ignore[no-untyped-call]  # zeep


def not_xml() -> zeep.exceptions.XMLSyntaxError:
    return zeep.exceptions.XMLSyntaxError("not XML")  # type: ignore[no-untyped-call]


def http_error(status: int) -> zeep.exceptions.TransportError:
    return zeep.exceptions.TransportError("", status_code=status)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (fault("Sender not authorized", code="s:Receiver"), AuthFailed),
        (
            fault("x", code="env:Sender", subcodes=[QName("NotAuthorized")]),
            AuthFailed,
        ),
        (
            fault("The requested action requires authorization and the sender"),
            AuthFailed,
        ),
        (fault("Action not supported: GetOSDs"), Unsupported),
        (
            fault("x", code="env:Receiver", subcodes=[QName("ActionNotSupported")]),
            Unsupported,
        ),
        (fault("Internal error"), ProtocolError),
        (http_error(401), AuthFailed),
        (http_error(405), Unsupported),
        (http_error(500), ProtocolError),
        (ConnectionRefusedError(111, "Connection refused"), DeviceUnreachable),
        (aiohttp.ServerDisconnectedError(), DeviceUnreachable),
        (not_xml(), ProtocolError),
        (ONVIFError("Device doesn`t support service: media"), Unsupported),
        (RuntimeError("surprise"), ProtocolError),
    ],
)
def test_library_errors_map_to_probe_failures(
    error: BaseException, kind: type[ProbeFailure]
) -> None:
    failure = translate(error, "GetX on cam:80")
    assert type(failure) is kind
    assert str(failure).startswith("GetX on cam:80")


def test_wrapped_errors_are_judged_by_their_cause() -> None:
    wrapped = ONVIFError("Unknown error")
    wrapped.__cause__ = fault("Sender not authorized")
    assert isinstance(translate(wrapped, "GetX"), AuthFailed)


def test_importing_the_library_leaves_root_logging_alone() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import logging, agent.probes.onvif.library; "
            "root = logging.getLogger(); print(len(root.handlers), root.level)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["0", str(30)]  # no handler added, WARNING as by default
