"""Pages refuse framing, credential paths stay out of the access log, and the server refuses a
placeholder key: against the real `secmon server run` process (one, SQLite)."""

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from peers.server import SECMON, ServerProcess
from server.access_log import TokenRedactor, redact
from server.exposure import with_frame_ancestors

TOKEN = "s3cr3t-share-link-token-abcdefghijkl"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("exposure")
    proc = ServerProcess(f"sqlite:///{workdir / 'secmon.db'}", workdir=workdir)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_status_page_and_console_refuse_to_be_framed(server: ServerProcess) -> None:
    for path in (f"/status/{TOKEN}", "/console/login"):
        response = httpx.get(server.base_url + path, timeout=10)
        assert response.headers["content-type"].startswith("text/html"), path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path


def test_share_link_and_survey_tokens_are_not_in_the_access_log(server: ServerProcess) -> None:
    httpx.get(f"{server.base_url}/status/{TOKEN}", timeout=10)
    httpx.post(f"{server.base_url}/api/v1/surveys/{TOKEN}", json={"rating": 5}, timeout=10)
    log = ""
    for _ in range(100):  # the access log line is written after the answer is sent
        log = server.log_path.read_text(errors="replace")
        if "/api/v1/surveys/" in log:
            break
        time.sleep(0.05)
    assert "/status/[redacted]" in log
    assert "/api/v1/surveys/[redacted]" in log
    assert TOKEN not in log


def test_redaction_keeps_the_rest_of_the_path_and_other_paths() -> None:
    assert redact(f"/status/{TOKEN}?lang=zh") == "/status/[redacted]?lang=zh"
    assert redact("/api/v1/tickets/7") == "/api/v1/tickets/7"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/status/{TOKEN}", "1.1", 200),
        None,
    )
    assert TokenRedactor().filter(record)
    assert TOKEN not in record.getMessage()


def test_a_page_policy_without_frame_ancestors_gets_it_appended() -> None:
    headers = [(b"content-security-policy", b"default-src 'none'")]
    assert with_frame_ancestors(headers) == [
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
    ]


def test_server_with_a_placeholder_key_does_not_start(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'secmon.db'}",
        "SECMON_SECRET_KEY": "changeme",
        "SECMON_ENVIRONMENT": "production",
    }
    done = subprocess.run(
        [str(SECMON), "server", "run", "--host", "127.0.0.1", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "placeholder" in done.stderr
