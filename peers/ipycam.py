"""ipycam (PyPI, MIT), a real third-party virtual ONVIF camera, as a test peer on 127.0.0.1.

ipycam binds 0.0.0.0 and multicasts a WS-Discovery Hello at start (PEERS.md §4.3). Run as a
script (`python -m peers.ipycam ...`), this module starts ipycam's own `__main__` with
three changes made from the outside, so nothing leaves loopback: its HTTP (ONVIF, snapshot) and
RTSP servers bind 127.0.0.1, and WS-Discovery does not start. Two test levers are added:

- `IPYCAM_CLOCK_OFFSET_S`: the camera's clock runs this many seconds ahead (its
  GetSystemDateAndTime answer, its WS-Security freshness check and its HTTP Date header all use
  it), like a camera whose NTP is broken;
- `IPYCAM_UNSUPPORTED`: comma-separated SOAP actions it answers with its own "Action not
  supported" fault, like older firmware without GetServices;
- `IPYCAM_PREAUTH_CLOCK=1`: GetSystemDateAndTime answers without WS-Security, as ONVIF Core
  says it must (ipycam 1.3 wants a UsernameToken on it too);
- `IPYCAM_NTP`: comma-separated NTP server names it answers GetNTP with (manual, not from
  DHCP); without it GetNTP is "not supported", as on ipycam 1.3 itself;
- `IPYCAM_BROKEN`: comma-separated SOAP actions it answers with an internal-error fault, like
  a camera whose media service is stuck;
- `IPYCAM_HTTP_AUTH=digest`: its ONVIF endpoints and snapshot want HTTP Digest (RFC 7616,
  MD5, qop=auth) instead of nothing and Basic, like cameras set to "digest" authentication;
- SIGUSR1 closes its RTSP listening socket (the stream is gone, ONVIF still answers); SIGUSR2
  opens it again.

    with IpyCam(tmp_path, serial="SIM-0001") as cam:   # needs Debian ffmpeg
        ... cam.onvif_port, cam.rtsp_port ...
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from peers.net import free_port, wait_for_port
from peers.process import terminate

FFMPEG = shutil.which("ffmpeg")
USERNAME = "admin"
PASSWORD = "secret-cam-pass"
WIDTH, HEIGHT, FPS = 640, 360, 10
REPO = Path(__file__).resolve().parents[1]


def missing_ipycam() -> str | None:
    """Why the ipycam tests cannot run here, or None."""
    try:
        import ipycam  # noqa: F401
    except ImportError:
        return "ipycam not installed (pip install -e '.[dev]')"
    if FFMPEG is None:
        return "ffmpeg not installed (apt-get install ffmpeg; `make test` does)"
    return None


def make_test_video(
    path: Path, *, pattern: str = "testsrc", seconds: int = 20, filters: str = ""
) -> Path:
    """An H.264 clip from one of ffmpeg's lavfi sources (the camera loops it); `filters` is
    appended to the source, e.g. temporal noise like a real sensor's (picture-health tests: a
    noise-free test pattern repeats itself exactly and is rightly judged frozen)."""
    if not path.exists():
        assert FFMPEG is not None
        subprocess.run(
            [
                FFMPEG,
                *("-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"),
                *("-i", f"{pattern}=size={WIDTH}x{HEIGHT}:rate={FPS}{filters}"),
                *("-t", str(seconds)),
                *("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", str(FPS), str(path)),
            ],
            check=True,
            timeout=120,
        )
    return path


class IpyCam:
    """One ipycam process on free loopback ports, stopped by PID at the end."""

    ready_timeout = 40.0

    def __init__(
        self,
        workdir: Path,
        *,
        serial: str = "SIM-0001",
        firmware: str = "1.0.0",
        model: str = "SIM-1",
        clock_offset_s: float = 0.0,
        unsupported: tuple[str, ...] = (),
        http_auth: str = "",
        broken: tuple[str, ...] = (),
        preauth_clock: bool = False,
        ntp: tuple[str, ...] = (),
        onvif_port: int | None = None,
        rtsp_port: int | None = None,
        video: Path | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.onvif_port = onvif_port or free_port()
        self.rtsp_port = rtsp_port or free_port()
        self.serial, self.firmware, self.model = serial, firmware, model
        self.clock_offset_s = clock_offset_s
        self.unsupported = unsupported
        self.http_auth = http_auth
        self.broken = broken
        self.preauth_clock = preauth_clock
        self.ntp = ntp
        self.video = video or make_test_video(workdir / "testsrc.mp4")
        self.log_path = workdir / f"ipycam-{self.onvif_port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def config(self) -> dict[str, Any]:
        return {
            "name": "Test Cam",
            "manufacturer": "SecmonTest",
            "model": self.model,
            "serial_number": self.serial,
            "firmware_version": self.firmware,
            "local_ip": "127.0.0.1",
            "onvif_port": self.onvif_port,
            "rtsp_port": self.rtsp_port,
            "web_port": free_port(),
            "go2rtc_api_port": free_port(),  # nothing there: ipycam uses its own RTSP server
            "username": USERNAME,
            "password": PASSWORD,
            "main_width": WIDTH,
            "main_height": HEIGHT,
            "main_fps": FPS,
            "main_bitrate": "512K",
            "sub_width": 320,
            "sub_height": 180,
            "sub_fps": FPS,
            "sub_bitrate": "256K",
            "hw_accel": "cpu",
            "show_timestamp": False,
        }

    def start(self) -> "IpyCam":
        config_path = self.workdir / f"camera-{self.onvif_port}.json"
        config_path.write_text(json.dumps(self.config()))
        env = {
            **os.environ,
            "IPYCAM_CLOCK_OFFSET_S": str(self.clock_offset_s),
            "IPYCAM_UNSUPPORTED": ",".join(self.unsupported),
            "IPYCAM_HTTP_AUTH": self.http_auth,
            "IPYCAM_BROKEN": ",".join(self.broken),
            "IPYCAM_PREAUTH_CLOCK": "1" if self.preauth_clock else "",
            "IPYCAM_NTP": ",".join(self.ntp),
        }
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "peers.ipycam", "--config", str(config_path)),
                    *("--source", str(self.video), "--hw", "cpu"),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        ports = (self.onvif_port, self.rtsp_port)
        if not all(wait_for_port(p, timeout=self.ready_timeout) for p in ports):
            self.stop()
            raise RuntimeError(f"ipycam did not start:\n{self.log_path.read_text()[-3000:]}")
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def stop(self) -> None:
        if self._proc is None:
            return
        terminate(self._proc, grace=10)
        self._proc = None

    def stop_stream(self) -> None:
        """Close the RTSP listener; returns once nothing accepts on the RTSP port."""
        self._signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while wait_for_port(self.rtsp_port, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.1)

    def start_stream(self) -> None:
        self._signal(signal.SIGUSR2)
        wait_for_port(self.rtsp_port, timeout=10)

    def _signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        self._proc.send_signal(sig)

    def __enter__(self) -> "IpyCam":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _run_contained() -> None:
    """ipycam's own main, kept on loopback, with the two test levers (see the module doc)."""
    import datetime as dt
    import http.server
    import re
    import runpy
    import socket
    import threading
    import time as real_time

    import ipycam.camera as camera
    import ipycam.onvif as onvif

    offset = float(os.environ.get("IPYCAM_CLOCK_OFFSET_S", "0") or 0)
    refused = {a for a in os.environ.get("IPYCAM_UNSUPPORTED", "").split(",") if a}
    broken = {a for a in os.environ.get("IPYCAM_BROKEN", "").split(",") if a}
    ntp_servers = [n for n in os.environ.get("IPYCAM_NTP", "").split(",") if n]

    class NoDiscovery(threading.Thread):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(daemon=True)

        def run(self) -> None:
            return None

        def stop(self) -> None:
            return None

    class LoopbackHttp(camera.ReusableThreadingTCPServer):  # type: ignore[misc]  # untyped
        def __init__(self, address: tuple[str, int], *args: object, **kwargs: object) -> None:
            super().__init__(("127.0.0.1", address[1]), *args, **kwargs)

    class LoopbackRtsp(camera.NativeRTSPServer):  # type: ignore[misc]  # untyped
        def __init__(self, port: int = 8554, host: str = "127.0.0.1") -> None:
            super().__init__(port=port, host="127.0.0.1")

    class ShiftedTime:
        """`time` as ipycam's ONVIF module sees it: `offset` seconds ahead."""

        def __getattr__(self, name: str) -> object:
            return getattr(real_time, name)

        def time(self) -> float:
            return real_time.time() + offset

        def gmtime(self, secs: float | None = None) -> real_time.struct_time:
            return real_time.gmtime(real_time.time() + offset if secs is None else secs)

    class ShiftedDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> "ShiftedDatetime":
            shifted = dt.datetime.now(tz) + dt.timedelta(seconds=offset)
            return cls.fromtimestamp(shifted.timestamp(), tz)

    camera.WSDiscoveryServer = NoDiscovery
    camera.ReusableThreadingTCPServer = LoopbackHttp
    camera.NativeRTSPServer = LoopbackRtsp
    onvif.time = ShiftedTime()
    onvif.datetime = ShiftedDatetime
    http.server.time = ShiftedTime()  # type: ignore[attr-defined]  # for its Date header

    handle_action = onvif.ONVIFService.handle_action

    def handle_some(self: Any, action: str, body: str) -> str | None:
        if any(action.endswith(f"/{name}") or action == name for name in refused):
            return str(self.fault(f"Action not supported: {action}"))
        # zeep sends SOAP 1.2 without a SOAPAction header; ipycam then finds the action by
        # scanning the body for names it knows, and GetNTP is not one of them.
        if ntp_servers and re.search(r"<(?:\w+:)?GetNTP[\s/>]", body):
            hosts = "".join(
                f"<tt:NTPManual><tt:Type>DNS</tt:Type><tt:DNSname>{n}</tt:DNSname></tt:NTPManual>"
                for n in ntp_servers
            )
            return str(
                self._wrap_envelope(
                    "<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>false</tt:FromDHCP>"
                    f"{hosts}</tds:NTPInformation></tds:GetNTPResponse>"
                )
            )
        if any(action.endswith(f"/{name}") or action == name for name in broken):
            return str(self.fault("Internal error: the media pipeline is stuck"))
        return handle_action(self, action, body)  # type: ignore[no-any-return]

    onvif.ONVIFService.handle_action = handle_some
    if os.environ.get("IPYCAM_PREAUTH_CLOCK"):
        verify = onvif.ONVIFService.verify_usernametoken

        def verify_except_clock(self: Any, body: str) -> bool:
            if "GetSystemDateAndTime" in body and "UsernameToken" not in body:
                return True
            return bool(verify(self, body))

        onvif.ONVIFService.verify_usernametoken = verify_except_clock
    if os.environ.get("IPYCAM_HTTP_AUTH") == "digest":
        _require_http_digest()
    servers: list[Any] = []
    original_start = LoopbackRtsp.start

    def recording_start(self: Any) -> bool:
        servers.append(self)
        return bool(original_start(self))

    LoopbackRtsp.start = recording_start

    def close_rtsp(signum: int, frame: object) -> None:
        for server in servers:
            sock = server._server_socket
            server._server_socket = None
            if sock is not None:
                sock.close()

    def open_rtsp(signum: int, frame: object) -> None:
        for server in servers:
            if server._server_socket is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((server.host, server.port))
                sock.listen(5)
                sock.settimeout(1.0)
                server._server_socket = sock
                threading.Thread(target=server._accept_loop, daemon=True).start()

    signal.signal(signal.SIGUSR1, close_rtsp)
    signal.signal(signal.SIGUSR2, open_rtsp)
    sys.argv[0] = "ipycam"
    runpy.run_module("ipycam", run_name="__main__", alter_sys=True)


def _require_http_digest() -> None:
    """ipycam's HTTP handler asking for RFC 7616 Digest (MD5, qop=auth) on ONVIF and snapshot."""
    import hashlib
    import hmac
    import re
    import secrets

    import ipycam.http as http

    realm = "ipycam-digest"
    issued: set[str] = set()

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    def valid(handler: Any, method: str) -> bool:
        header = str(handler.headers.get("Authorization", ""))
        if not header.startswith("Digest "):
            return False
        pairs = re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])
        fields = {name: quoted or bare for name, quoted, bare in pairs}
        config = handler.camera.config
        if fields.get("nonce") not in issued or fields.get("username") != config.username:
            return False
        ha1 = md5(f"{config.username}:{realm}:{config.password}")
        ha2 = md5(f"{method}:{fields.get('uri', '')}")
        if fields.get("qop") == "auth":
            expected = md5(
                f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:{fields.get('cnonce', '')}"
                f":auth:{ha2}"
            )
        else:
            expected = md5(f"{ha1}:{fields['nonce']}:{ha2}")
        return hmac.compare_digest(expected, fields.get("response", ""))

    def challenge(handler: Any) -> None:
        nonce = secrets.token_hex(16)
        issued.add(nonce)
        handler.send_response(401)
        handler.send_header(
            "WWW-Authenticate",
            f'Digest realm="{realm}", nonce="{nonce}", qop="auth", algorithm=MD5',
        )
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    handle_onvif = http.IPCameraHTTPHandler.handle_onvif

    def onvif_with_digest(self: Any) -> None:
        if valid(self, "POST"):
            handle_onvif(self)
            return
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        challenge(self)

    def check_digest(self: Any) -> bool:
        if valid(self, "GET"):
            return True
        challenge(self)
        return False

    http.IPCameraHTTPHandler.handle_onvif = onvif_with_digest
    http.IPCameraHTTPHandler._check_basic_auth = check_digest


if __name__ == "__main__":
    _run_contained()
