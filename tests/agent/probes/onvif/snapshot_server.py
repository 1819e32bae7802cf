"""A camera's snapshot URL for tests: HTTP on 127.0.0.1 with Digest auth (RFC 7616, MD5, qop=auth,
as most IP cameras answer), each GET serving the next JPEG of a list, as a live camera serves a new
picture per request. Written from the RFC; httpx's DigestAuth is the client that must pass it."""

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REALM = "secmon-test-camera"
PATH = "/onvif/snapshot.jpg"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _params(header: str) -> dict[str, str]:
    """`Digest a="b", c=d` → {"a": "b", "c": "d"} (values hold no commas in what httpx sends)."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "digest":
        return {}
    out = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


@dataclass
class SnapshotCamera:
    """What the server serves and who may fetch it; tests swap `frames` between polls."""

    username: str
    password: str
    frames: list[bytes] = field(default_factory=list)
    content_type: str = "image/jpeg"
    served: int = 0
    rejected: int = 0
    nonces: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def next_frame(self) -> bytes:
        with self.lock:
            frame = self.frames[self.served % len(self.frames)]
            self.served += 1
            return frame

    def authorised(self, method: str, header: str | None) -> bool:
        p = _params(header or "")
        if not p or p.get("username") != self.username or p.get("realm") != REALM:
            return False
        if p.get("nonce") not in self.nonces or p.get("qop") != "auth":
            return False
        ha1 = _md5(f"{self.username}:{REALM}:{self.password}")
        ha2 = _md5(f"{method}:{p.get('uri', '')}")
        expected = _md5(f"{ha1}:{p['nonce']}:{p.get('nc')}:{p.get('cnonce')}:auth:{ha2}")
        return secrets.compare_digest(expected, p.get("response", ""))


def _handler(camera: SnapshotCamera) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != PATH:
                self.send_error(404)
                return
            if not camera.authorised("GET", self.headers.get("Authorization")):
                nonce = secrets.token_hex(16)
                with camera.lock:
                    camera.nonces.add(nonce)
                    camera.rejected += 1
                self.send_response(401)
                self.send_header(
                    "WWW-Authenticate",
                    f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5',
                )
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = camera.next_frame()
            self.send_response(200)
            self.send_header("Content-Type", camera.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: pytest shows failures, not every request

    return Handler


@contextmanager
def snapshot_camera(username: str, password: str) -> Iterator[SnapshotCamera]:
    """A running snapshot server on a free 127.0.0.1 port, stopped on exit."""
    camera = SnapshotCamera(username=username, password=password)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(camera))
    camera.url = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    thread = threading.Thread(target=server.serve_forever, name="snapshot-camera", daemon=True)
    thread.start()
    try:
        yield camera
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
