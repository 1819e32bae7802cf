"""Debian's GStreamer RTSP server (gst-rtsp-server through python3-gi) as a test peer on
127.0.0.1, with Basic or Digest authentication (PEERS.md §5.2).

`gi` comes from apt, not from the project venv, so the server runs under Debian's
`/usr/bin/python3` running this module (`-m tests.peers.rtsp`, from the repo root):

    with GstRtspServer(tmp_path, auth="digest") as server:   # user/password below
        ... server.url("/cam1") ...
"""

import subprocess
import sys
from pathlib import Path
from types import TracebackType

from simulate.peers.net import free_port, wait_for_port
from simulate.peers.process import terminate

SYSTEM_PYTHON = "/usr/bin/python3"
REPO = Path(__file__).resolve().parents[2]
USERNAME = "viewer"
PASSWORD = "stream-pass"
CREDENTIALS = (USERNAME, PASSWORD)
WIDTH, HEIGHT = 640, 360


def missing_gstreamer() -> str | None:
    """Why the GStreamer RTSP tests cannot run here, or None."""
    if not Path(SYSTEM_PYTHON).exists():
        return "no Debian /usr/bin/python3"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
            "assert Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('rtph264pay')",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        return (
            "gst-rtsp-server not usable (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 "
            "gstreamer1.0-plugins-{base,good,ugly}; `make test` does)"
        )
    return None


class GstRtspServer:
    """One gst-rtsp-server process serving `/cam1` (H.264 640x360 test pattern)."""

    ready_timeout = 30.0

    def __init__(self, workdir: Path, *, auth: str = "none", port: int | None = None) -> None:
        if auth not in ("none", "basic", "digest"):
            raise ValueError(f"auth must be none, basic or digest, not {auth!r}")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.auth = auth
        self.port = port or free_port()
        self.log_path = workdir / f"gst-rtsp-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/cam1", *, credentials: bool = False) -> str:
        userinfo = f"{USERNAME}:{PASSWORD}@" if credentials else ""
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{path}"

    def start(self) -> "GstRtspServer":
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [SYSTEM_PYTHON, "-m", "tests.peers.rtsp", str(self.port), self.auth, *CREDENTIALS],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not wait_for_port(self.port, timeout=self.ready_timeout):
            self.stop()
            raise RuntimeError(f"gst-rtsp-server did not start:\n{self.log_path.read_text()}")
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        terminate(self._proc, grace=10)
        self._proc = None

    def __enter__(self) -> "GstRtspServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _serve(port: str, mode: str, username: str, password: str) -> None:  # pragma: no cover
    """Runs under Debian's python3 (see the module doc); not imported by the tests."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    gi.require_version("GstRtsp", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    # Not shared: a shared media still being torn down after the last DESCRIBE answers the
    # next one with 503 (a third of back-to-back checks here); one media per client never does.
    factory.set_shared(False)
    factory.set_launch(
        f"( videotestsrc is-live=true ! video/x-raw,width={WIDTH},height={HEIGHT},framerate=10/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast bitrate=256 key-int-max=10 "
        "! rtph264pay name=pay0 pt=96 )"
    )
    if mode != "none":
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
        rtsp_auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if mode == "digest":
            rtsp_auth.add_digest(username, password, token)
            rtsp_auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        else:
            rtsp_auth.add_basic(GstRtspServer.RTSPAuth.make_basic(username, password), token)
            rtsp_auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        server.set_auth(rtsp_auth)
    server.get_mount_points().add_factory("/cam1", factory)
    server.attach(None)
    GLib.MainLoop().run()


if __name__ == "__main__":
    _serve(*sys.argv[1:5])
