"""An ONVIF camera end to end: ipycam on 127.0.0.1 → real `secmon agent run` → real
`secmon server run` on SQLite. The server learns the camera's identity from the inventory and
stores its checks, picture health among them; when the camera's RTSP server stops while ONVIF
still answers, the stored sample says `camera.stream_down`, not unreachable."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from peers.server import ServerProcess, provision
from peers.site import AgentProcess, wait_for, write_agent_yaml
from server.models import Device, SampleRow
from simulate.peers.ipycam import PASSWORD, USERNAME, IpyCam, missing_ipycam

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ipycam,
    pytest.mark.skipif(missing_ipycam() is not None, reason=str(missing_ipycam())),
]


@pytest.fixture
def camera(tmp_path: Path) -> Iterator[IpyCam]:
    with IpyCam(tmp_path / "cam", serial="E2E-0042", firmware="2.3.4") as cam:
        yield cam


def write_agent_config(workdir: Path, *, server_url: str, token: str, cam: IpyCam) -> Path:
    camera = {"id": "cam-gate", "name": "Gate camera", "class": "camera", "subsystem": "video",
              "protocol": "onvif", "address": "127.0.0.1", "port": cam.onvif_port,
              "credentials": {"username": USERNAME, "password": {"file": "cam.pass"}},
              "interval": 5, "timeout": 4}  # fmt: skip
    return write_agent_yaml(
        workdir,
        server_url=server_url,
        token=token,
        devices=[camera],
        batch_max_age=1,
        secrets={"cam.pass": PASSWORD},
    )


def identity(engine: Engine) -> tuple[str | None, ...] | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(Device.vendor, Device.model, Device.serial, Device.firmware).where(
                Device.ext_id == "cam-gate"
            )
        ).first()
    return None if row is None else tuple(row)


def checks_seen(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(SampleRow.checks, SampleRow.error_code).order_by(SampleRow.ts)
        ).all()
    return [dict(checks, error=error) for checks, error in rows]


def test_camera_identity_checks_and_stream_down_reach_the_server(
    sqlite_url: str,
    server_factory: Callable[..., ServerProcess],
    camera: IpyCam,
    tmp_path: Path,
) -> None:
    server = server_factory(sqlite_url)
    tenant = provision(sqlite_url)
    config = write_agent_config(
        tmp_path / "agent", server_url=server.base_url, token=tenant.token, cam=camera
    )
    engine = create_engine(sqlite_url)
    agent = AgentProcess(config).start()
    try:
        wait_for(
            "the camera's identity",
            lambda: (identity(engine) or (None,) * 4)[2] is not None,
            timeout=60,
        )
        assert identity(engine) == ("SecmonTest", "SIM-1", "E2E-0042", "2.3.4")
        wait_for(
            "a sample with the stream up",
            lambda: any(c.get("stream.ok") is True for c in checks_seen(engine)),
            timeout=60,
        )
        # Picture health ran on the first poll's snapshot: its checks are stored, and the
        # camera's baseline is kept in the state directory (default: beside the outbox).
        pictured = next(c for c in checks_seen(engine) if "picture.ok" in c)
        assert pictured["picture.ok"] is True
        assert pictured["camera.image_abnormal"] is False
        assert isinstance(pictured["picture.sharpness"], float)
        assert (tmp_path / "agent" / "picture" / "cam-gate.picture.json").exists()
        camera.stop_stream()
        wait_for(
            "a sample with the stream down",
            lambda: any(c.get("camera.stream_down") is True for c in checks_seen(engine)),
            timeout=60,
        )
        down = next(c for c in checks_seen(engine) if c.get("camera.stream_down") is True)
        assert down["error"] is None  # the camera answered ONVIF: not unreachable
        assert down["stream.error"] == "unreachable"
        assert isinstance(down["clock.offset_s"], float)
        assert agent.stop() == 0, agent.log()
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()
        engine.dispose()
