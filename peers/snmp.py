"""Real SNMP agents for tests: Debian net-snmp `snmpd` and `snmpsim`, each on a free UDP port of
127.0.0.1 with its config and state in a temp dir, stopped by PID at the end.

    with Snmpd(tmp_path) as agent:          # v2c community "public", v3 user "secmon" SHA/AES
        ... agent.port ...
    with Snmpsim(tmp_path, data_dir) as sim:  # one community per .snmprec file
        ... sim.port ...
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

SNMPD = shutil.which("snmpd") or ("/usr/sbin/snmpd" if Path("/usr/sbin/snmpd").exists() else None)
SNMPGET = shutil.which("snmpget")
SNMPSIM = Path(sys.executable).with_name("snmpsim-command-responder")

V2C_COMMUNITY = "public"
V3_USER = "secmon"
V3_AUTH_KEY = "secmon-auth-pass"
V3_PRIV_KEY = "secmon-priv-pass"
V3_AUTHONLY_USER = "secmon-auth"
V3_SHA2_USER = "secmon-sha2"  # authPriv with SHA-512 and AES-256
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_snmpd() -> str | None:
    """Why the snmpd tests cannot run here, or None."""
    if SNMPD is None:
        return "net-snmp snmpd not installed (apt-get install snmpd; `make test` does)"
    if SNMPGET is None:
        return "net-snmp snmpget not installed (apt-get install snmp; `make test` does)"
    return None


def missing_snmpsim() -> str | None:
    if not SNMPSIM.exists():
        return f"snmpsim not installed in {SNMPSIM.parent} (pip install -e '.[dev]')"
    if SNMPGET is None:
        return "net-snmp snmpget not installed (apt-get install snmp; `make test` does)"
    return None


class _Peer:
    """A subprocess that answers SNMP on 127.0.0.1:`port` once `snmpget` gets a reply."""

    ready_timeout = 30.0

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_udp_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{type(self).__name__.lower()}-{self.port}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def ready_community(self) -> str:
        raise NotImplementedError

    def start(self) -> "_Peer":
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env()
        )
        log.close()
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"{self.command()[0]} exited: {self.log_path.read_text()[-2000:]}"
                )
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"no SNMP answer on port {self.port}: {self.log_path.read_text()[-2000:]}"
        )

    def _answers(self) -> bool:
        assert SNMPGET is not None
        args = [SNMPGET, "-v2c", "-c", self.ready_community(), "-t", "0.3", "-r", "0", "-On"]
        done = subprocess.run(
            [*args, f"127.0.0.1:{self.port}", SYS_UPTIME],
            capture_output=True,
            env={**os.environ, "MIBS": ""},
            check=False,
        )
        return done.returncode == 0

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a device losing power: no goodbye, the port simply stops answering."""
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait(timeout=10)
        self._proc = None

    def __enter__(self) -> "_Peer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Snmpd(_Peer):
    """net-snmp snmpd: v1/v2c community `public`, v3 `secmon` (SHA/AES authPriv),
    `secmon-auth` (SHA-256 authNoPriv) and `secmon-sha2` (SHA-512/AES-256 authPriv), the
    host's own interfaces, storage, load and disks."""

    def command(self) -> list[str]:
        conf = self.workdir / "snmpd.conf"
        conf.write_text(
            "\n".join(
                [
                    f"agentAddress udp:127.0.0.1:{self.port}",
                    f"rocommunity {V2C_COMMUNITY} 127.0.0.1",
                    f"rouser {V3_USER} authpriv",
                    f"rouser {V3_AUTHONLY_USER} auth",
                    f"rouser {V3_SHA2_USER} authpriv",
                    f"createUser {V3_USER} SHA {V3_AUTH_KEY} AES {V3_PRIV_KEY}",
                    f"createUser {V3_AUTHONLY_USER} SHA-256 {V3_AUTH_KEY}",
                    f"createUser {V3_SHA2_USER} SHA-512 {V3_AUTH_KEY} AES-256 {V3_PRIV_KEY}",
                    "sysLocation secmon test rack",
                    "sysContact ops@example.invalid",
                    "disk / 10%",
                    "load 12 10 5",
                    "",
                ]
            )
        )
        assert SNMPD is not None
        return [SNMPD, "-f", "-Lo", "-C", "-m", "", "-c", str(conf)]

    def env(self) -> dict[str, str]:
        persist = self.workdir / "persist"
        persist.mkdir(exist_ok=True)
        return {**os.environ, "SNMP_PERSISTENT_DIR": str(persist), "MIBS": ""}

    def ready_community(self) -> str:
        return V2C_COMMUNITY


class Snmpsim(_Peer):
    """snmpsim serving every `.snmprec` under `data_dir`, one community per file name."""

    def __init__(
        self, workdir: Path, data_dir: Path, *, ready_community: str, port: int | None = None
    ) -> None:
        super().__init__(workdir, port=port)
        self.data_dir = data_dir
        self._ready = ready_community

    def command(self) -> list[str]:
        cache = self.workdir / "snmpsim-cache"
        cache.mkdir(exist_ok=True)
        return [
            str(SNMPSIM),
            f"--data-dir={self.data_dir}",
            f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
            "--log-level=error",
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}

    def ready_community(self) -> str:
        return self._ready
