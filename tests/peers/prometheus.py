"""Debian's Prometheus as a test peer: 127.0.0.1 on a free port, a temp config and data dir."""

import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from simulate.peers.net import free_port, wait_for_port
from simulate.peers.process import terminate

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


class PrometheusProcess:
    """`prometheus` scraping `config` (a dict, written to workdir) on 127.0.0.1."""

    def __init__(self, config: dict[str, Any], *, workdir: Path) -> None:
        assert PROMETHEUS is not None, "prometheus is not installed (Debian package prometheus)"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.data_dir = workdir / "data"
        self.log_path = workdir / "prometheus.log"
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "PrometheusProcess":
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(PROMETHEUS),
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.data_dir}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        assert wait_for_port(self.port, timeout=30), self.log()
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            terminate(self._proc, grace=10)

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a successful /api/v1 answer."""
        body = httpx.get(f"{self.base_url}/api/v1/{path}", params=params, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def __enter__(self) -> "PrometheusProcess":
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()
