"""The MQTT probe against brokers that check who connects: TLS with certificates made by the
test (CA, server and client), and password auth with ACLs (credentials from secret references)."""

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import DeviceConfig, load_config
from agent.probes.mqtt.probe import MqttProbe
from agent.sampling import poll_device
from simulate.peers.mosquitto import MOSQUITTO, BrokerTls, MosquittoServer, Pki, make_pki
from tests.agent.probes.test_mqtt import error_of, mqtt_device, poll_until, publish
from wire.enums import ProbeErrorCode

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_broker(pki: Pki) -> Iterator[MosquittoServer]:
    """TLS only, and a client certificate signed by the test CA required."""
    server = MosquittoServer(
        tls=BrokerTls(
            ca_file=pki.server.ca_file,
            cert_file=pki.server.cert_file,
            key_file=pki.server.key_file,
            require_client_cert=True,
        )
    ).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def probe() -> AsyncIterator[MqttProbe]:
    mqtt_probe = MqttProbe()
    try:
        yield mqtt_probe
    finally:
        await asyncio.to_thread(mqtt_probe.close)


def tls_publisher(port: int, pki: Pki) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.tls_set(
        ca_certs=str(pki.ca_file), certfile=str(pki.client_cert), keyfile=str(pki.client_key)
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def topic() -> str:
    return f"site/sec/{uuid.uuid4().hex[:10]}"


def write_config(tmp_path: Path, port: int, device: dict[str, Any]) -> Path:
    """An agent config with one mqtt device, as a person writes it (relative paths)."""
    base = {
        "id": "door-7", "name": "Door 7", "class": "access_controller", "subsystem": "access",
        "protocol": "mqtt", "address": "127.0.0.1", "port": port, "interval": 10, "timeout": 3,
    }  # fmt: skip
    config = {
        "site": "sec",
        "server": {"url": "http://127.0.0.1:9", "token": {"env": "SECMON_TEST_TOKEN"}},
        "devices": [{**base, **device}],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def load_device(path: Path) -> DeviceConfig:
    return load_config(path).devices[0]


async def test_tls_with_client_certificate_from_the_config_reads_the_device(
    tls_broker: MosquittoServer,
    pki: Pki,
    probe: MqttProbe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t")
    door = topic()
    publisher = tls_publisher(tls_broker.port, pki)
    try:
        publish(publisher, f"{door}/status", "online", retain=True)
        publish(publisher, f"{door}/state", {"door": "open", "tamper": False}, retain=True)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_bytes((pki.ca_file.parent / name).read_bytes())
    tls = {"ca_file": "ca.pem", "cert_file": "client.pem", "key_file": "client.key"}
    device = load_device(
        write_config(
            tmp_path, tls_broker.port, {"mqtt": {"template": "access_controller", "topic": door,
                                                 "tls": tls}}
        )
    )  # fmt: skip
    assert device.mqtt is not None
    assert device.mqtt.tls is not None
    assert device.mqtt.tls.ca_file == tmp_path / "ca.pem"  # relative to the config file

    sample = (await poll_device(probe, device)).sample
    assert sample.error is None, sample.error
    assert sample.checks["door.open"] is True
    assert sample.checks["mqtt.online"] is True


async def test_tls_broker_signed_by_another_ca_is_a_clear_tls_error(
    tls_broker: MosquittoServer, pki: Pki, probe: MqttProbe
) -> None:
    device = mqtt_device(
        tls_broker.port,
        topic(),
        tls={
            "ca_file": str(pki.other_ca_file),
            "cert_file": str(pki.client_cert),
            "key_file": str(pki.client_key),
        },
    )
    sample = (await poll_device(probe, device)).sample
    assert error_of(sample) is ProbeErrorCode.PROTOCOL_ERROR, sample.error
    assert sample.error is not None
    assert "TLS" in sample.error.message
    assert "not trusted" in sample.error.message


async def test_tls_without_the_required_client_certificate_is_not_connected(
    tls_broker: MosquittoServer, pki: Pki, probe: MqttProbe
) -> None:
    device = mqtt_device(tls_broker.port, topic(), tls={"ca_file": str(pki.ca_file)})
    sample = (await poll_device(probe, device)).sample
    assert sample.error is not None
    assert error_of(sample) is ProbeErrorCode.PROTOCOL_ERROR, sample.error
    assert "TLS" in sample.error.message
    assert "client certificate" in sample.error.message


async def test_plain_mqtt_to_a_tls_listener_is_not_connected(
    tls_broker: MosquittoServer, probe: MqttProbe
) -> None:
    sample = (await poll_device(probe, mqtt_device(tls_broker.port, topic()))).sample
    assert sample.error is not None
    assert not sample.reachable


def test_unreadable_tls_file_is_a_config_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t")
    path = write_config(
        tmp_path, 8883, {"mqtt": {"template": "generic_json", "topic": "x",
                                  "tls": {"ca_file": "missing-ca.pem"}}}
    )  # fmt: skip
    with pytest.raises(Exception, match=r"missing-ca\.pem"):
        load_config(path)


# ---- password auth and ACLs ---------------------------------------------------------------

ALLOWED = "site/acl/allowed"
DENIED = "site/acl/denied"


@pytest.fixture(scope="module")
def acl_broker() -> Iterator[MosquittoServer]:
    """The agent may read site/acl/allowed/# only; the device user may write anywhere."""
    server = MosquittoServer(
        users={"agent": "agent-pw", "device": "device-pw"},
        acl=[
            "user agent",
            f"topic read {ALLOWED}/#",
            "user device",
            "topic readwrite #",
        ],
    ).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def device_publisher(acl_broker: MosquittoServer) -> Iterator[paho.Client]:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.username_pw_set("device", "device-pw")
    client.connect("127.0.0.1", acl_broker.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


async def test_credentials_from_a_secret_file_and_env_connect(
    acl_broker: MosquittoServer,
    device_publisher: paho.Client,
    probe: MqttProbe,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t")
    monkeypatch.setenv("MQTT_AGENT_PASSWORD", "agent-pw")
    door = f"{ALLOWED}/{uuid.uuid4().hex[:8]}"
    publish(device_publisher, f"{door}/state", {"door": "closed"}, retain=True)
    (tmp_path / "mqtt-password").write_text("agent-pw\n")
    for secret in ({"file": "mqtt-password"}, {"env": "MQTT_AGENT_PASSWORD"}):
        device = load_device(
            write_config(
                tmp_path,
                acl_broker.port,
                {"credentials": {"username": "agent", "password": secret},
                 "mqtt": {"template": "access_controller", "topic": door}},
            )
        )  # fmt: skip
        sample = (await poll_device(probe, device)).sample
        assert sample.error is None, sample.error
        assert sample.checks["door.open"] is False


async def test_bad_password_is_auth_failed_naming_the_broker_and_logged_once(
    acl_broker: MosquittoServer,
    probe: MqttProbe,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MQTT_BAD", "not-the-password")
    from tests.agent.probes.test_mqtt import credentials

    device = mqtt_device(acl_broker.port, f"{ALLOWED}/x").model_copy(
        update={"credentials": credentials("agent", "MQTT_BAD")}
    )
    caplog.set_level(logging.WARNING, logger="agent.probes.mqtt.link")
    for _ in range(3):
        sample = (await poll_device(probe, device)).sample
        assert error_of(sample) is ProbeErrorCode.AUTH_FAILED, sample.error
        assert sample.reachable  # the broker answered: not a network fault
        assert sample.error is not None
        assert f"broker 127.0.0.1:{acl_broker.port} refused the credentials" in (
            sample.error.message
        )
    assert "not-the-password" not in caplog.text


async def test_topic_denied_by_acl_is_not_received(
    acl_broker: MosquittoServer,
    device_publisher: paho.Client,
    probe: MqttProbe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MQTT_AGENT_PASSWORD", "agent-pw")
    from tests.agent.probes.test_mqtt import credentials

    creds = credentials("agent", "MQTT_AGENT_PASSWORD")
    allowed = f"{ALLOWED}/{uuid.uuid4().hex[:8]}"
    denied = f"{DENIED}/{uuid.uuid4().hex[:8]}"
    good = mqtt_device(acl_broker.port, allowed).model_copy(update={"credentials": creds})
    bad = mqtt_device(acl_broker.port, denied).model_copy(
        update={"id": "door-9", "credentials": creds}
    )
    assert (await poll_device(probe, good)).sample.error is None
    first = (await poll_device(probe, bad)).sample
    publish(device_publisher, f"{denied}/state", {"door": "open"})
    publish(device_publisher, f"{denied}/event", {"type": "door_forced"})
    publish(device_publisher, f"{allowed}/state", {"door": "open"})
    # The allowed device sees its message; by then the broker has had the denied ones too.
    await poll_until(probe, good, lambda s: s.checks.get("door.open") is True)
    sample = (await poll_device(probe, bad)).sample
    for s in (first, sample):
        assert "door.open" not in s.checks
        assert s.events == []
    if sample.error is not None:  # a broker that refuses the SUBSCRIBE says so
        assert error_of(sample) is ProbeErrorCode.PROTOCOL_ERROR
        assert "subscription refused" in sample.error.message
