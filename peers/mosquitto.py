"""A real Mosquitto (Debian's `mosquitto`) on a free 127.0.0.1 port with its own config, for
tests and benchmarks; never the machine's broker on 1883."""

import contextlib
import ipaddress
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from peers.net import free_port, wait_for_port
from peers.process import terminate

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


@dataclass(frozen=True)
class BrokerTls:
    """PEM files for a TLS listener; `require_client_cert` makes the broker refuse clients
    without a certificate signed by `ca_file`."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_client_cert: bool = False


class MosquittoServer:
    """Start/stop/restart one broker; `users` turns on password auth (mosquitto_passwd file),
    `acl` (mosquitto acl_file lines) restricts what each user may read and write, `tls` makes
    the listener TLS only, `persistence` keeps sessions and queued messages across a restart.

    `max_queued_messages` is raised: the default (1000) silently drops QoS 1 messages queued
    for a slow or absent subscriber, which is exactly what the restart tests exercise.
    """

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        acl: list[str] | None = None,
        tls: BrokerTls | None = None,
        persistence: bool = False,
        max_queued_messages: int = 1_000_000,
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
            f"persistence {'true' if persistence else 'false'}",
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
        if acl is not None:
            acl_path = self.dir / "acl"
            acl_path.write_text("\n".join(acl) + "\n", encoding="utf-8")
            lines.append(f"acl_file {acl_path}")
        if persistence:
            # Saved on a clean stop (SIGTERM) and read at start: a restart keeps the sessions.
            lines += [f"persistence_location {self.dir}/", "autosave_interval 1"]
        if tls is not None:
            for name, source in (("ca.pem", tls.ca_file), ("cert.pem", tls.cert_file)):
                shutil.copyfile(source, self.dir / name)
            shutil.copyfile(tls.key_file, self.dir / "key.pem")
            lines += [
                f"cafile {self.dir / 'ca.pem'}",
                f"certfile {self.dir / 'cert.pem'}",
                f"keyfile {self.dir / 'key.pem'}",
                f"require_certificate {'true' if tls.require_client_cert else 'false'}",
            ]
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
        terminate(process, grace=5)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        return ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass(frozen=True)
class Pki:
    """A throwaway CA with a server certificate (127.0.0.1, localhost) and a client one."""

    ca_file: Path
    server: BrokerTls
    client_cert: Path
    client_key: Path
    other_ca_file: Path  # a CA that signed none of them


def make_pki(folder: Path) -> Pki:
    """Generate the CA, server and client certificates (EC P-256, valid one day) as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return path

    def write_cert(cert: x509.Certificate, path: Path) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return key, cert

    ca_key, ca_cert = ca("secmon test CA")
    _, other_cert = ca("secmon other CA")

    def leaf(
        cn: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    server_key, server_cert = leaf(
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_key, client_cert = leaf("secmon-agent", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    ca_file = write_cert(ca_cert, folder / "ca.pem")
    return Pki(
        ca_file=ca_file,
        server=BrokerTls(
            ca_file=ca_file,
            cert_file=write_cert(server_cert, folder / "server.pem"),
            key_file=write_key(server_key, folder / "server.key"),
        ),
        client_cert=write_cert(client_cert, folder / "client.pem"),
        client_key=write_key(client_key, folder / "client.key"),
        other_ca_file=write_cert(other_cert, folder / "other-ca.pem"),
    )


# A device in its own process (so a test can SIGKILL or SIGSTOP it): connects with a retained
# "offline" will on <topic>/status, says "online" (retained) and its state, then keeps the
# connection alive with PINGREQs until it dies or hangs.
DEVICE_SCRIPT = """
import json, sys
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
port, topic, keepalive = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
client = paho.Client(CallbackAPIVersion.VERSION2)
client.will_set(topic + "/status", json.dumps({"state": "offline"}), qos=1, retain=True)
def on_connect(client, userdata, flags, reason_code, properties):
    client.publish(topic + "/status", json.dumps({"state": "online"}), qos=1, retain=True)
    client.publish(topic + "/state", json.dumps({"door": "closed"}), qos=1, retain=True)
    print("online", flush=True)
client.on_connect = on_connect
client.connect("127.0.0.1", port, keepalive=keepalive)
client.loop_forever()
"""


def start_device(port: int, topic: str, *, keepalive: int) -> "subprocess.Popen[str]":
    """Start DEVICE_SCRIPT and wait until it has said it is online."""
    proc = subprocess.Popen(
        [sys.executable, "-c", DEVICE_SCRIPT, str(port), topic, str(keepalive)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "online":
        proc.kill()
        raise RuntimeError(f"device script did not come online: {line!r}")
    return proc
