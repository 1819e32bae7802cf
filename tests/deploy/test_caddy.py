"""deploy/caddy/Caddyfile: Caddy itself adapts and validates it, TLS on the public name, both
replicas behind one health-checked reverse proxy, /metrics kept off the public site."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = ROOT / "deploy/caddy/Caddyfile"
CADDY = shutil.which("caddy")
pytestmark = pytest.mark.skipif(CADDY is None, reason="caddy missing (apt caddy)")


def caddy(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Caddy with its data and config homes in tmp_path (validate makes a local CA there)."""
    assert CADDY is not None
    home = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    # Loopback upstreams: validate starts the health checker, which would look names up.
    upstreams = {"SECMON_UPSTREAMS": "127.0.0.1:1 127.0.0.1:2"}
    return subprocess.run(
        [CADDY, *args, "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={**os.environ, **home, **upstreams, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def handlers(node: Any, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("handler") == name:
            found.append(node)
        for value in node.values():
            found.extend(handlers(value, name))
    elif isinstance(node, list):
        for value in node:
            found.extend(handlers(value, name))
    return found


def test_caddy_validates_the_caddyfile(tmp_path: Path) -> None:
    done = caddy(tmp_path, "validate")
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


def test_public_site_is_tls_and_both_replicas_are_health_checked(tmp_path: Path) -> None:
    done = caddy(tmp_path, "adapt", SECMON_DOMAIN="secmon.example.com")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    servers = config["apps"]["http"]["servers"]
    listens = sorted(address for server in servers.values() for address in server["listen"])
    assert listens == [":443", ":8080"]
    public = next(s for s in servers.values() if s["listen"] == [":443"])
    assert public["routes"][0]["match"] == [{"host": ["secmon.example.com"]}]
    proxies = handlers(config, "reverse_proxy")
    assert len(proxies) == 2  # the public site and the internal listener share one block
    for proxy in proxies:
        assert proxy["upstreams"] == [{"dial": "127.0.0.1:1"}, {"dial": "127.0.0.1:2"}]
        assert proxy["health_checks"]["active"]["uri"] == "/healthz"
    refused = handlers(public, "static_response")
    assert [r["status_code"] for r in refused] == [404]
    assert "/metrics" in json.dumps(public)


def test_default_upstreams_are_the_compose_replicas(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECMON_UPSTREAMS"}
    assert CADDY is not None
    done = subprocess.run(
        [CADDY, "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={**env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (proxy, _) = handlers(json.loads(done.stdout), "reverse_proxy")
    assert proxy["upstreams"] == [{"dial": "server-1:8000"}, {"dial": "server-2:8000"}]
