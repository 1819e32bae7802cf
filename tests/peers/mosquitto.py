"""A real Mosquitto (Debian's `mosquitto`) on a free 127.0.0.1 port with its own config, for
tests and benchmarks; never the machine's broker on 1883."""

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.peers.net import free_port, wait_for_port

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


class MosquittoServer:
    """Start/stop/restart one broker; `users` turns on password auth (mosquitto_passwd file).

    `max_queued_messages` is raised: the default (1000) silently drops QoS 1 messages queued
    for a slow or absent subscriber, which is exactly what the restart tests exercise.
    """

    def __init__(
        self, *, users: dict[str, str] | None = None, max_queued_messages: int = 1_000_000
    ) -> None:
        if MOSQUITTO is None:
            raise FileNotFoundError("mosquitto is not installed (Debian: apt install mosquitto)")
        self.port = free_port()
        # Not under pytest's tmp_path: as root, mosquitto drops to user `mosquitto` before it
        # reads the password file, and pytest's temp root is 0700.
        self.dir = Path(tempfile.mkdtemp(prefix="secmon-mosquitto-"))
        self.log_path = self.dir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            f"max_queued_messages {max_queued_messages}",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if users:
            if MOSQUITTO_PASSWD is None:
                raise FileNotFoundError("mosquitto_passwd is not installed (mosquitto-clients)")
            passwd = self.dir / "passwd"
            for i, (user, password) in enumerate(users.items()):
                flags = ["-c", "-b"] if i == 0 else ["-b"]
                subprocess.run(
                    [MOSQUITTO_PASSWD, *flags, str(passwd), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        self.config_path = self.dir / "mosquitto.conf"
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._readable_by_mosquitto()
        self._process: subprocess.Popen[bytes] | None = None

    def _readable_by_mosquitto(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam("mosquitto")
        except KeyError:
            return
        for path in [self.dir, *self.dir.iterdir()]:
            os.chown(path, user.pw_uid, user.pw_gid)

    def start(self) -> "MosquittoServer":
        assert MOSQUITTO is not None
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if not wait_for_port(self.port, timeout=10):
            self.stop()
            raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()}")
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        return ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
