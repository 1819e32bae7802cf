"""Log lines are key=value with the site id on every line and extras as keys."""

import io
import logging

import pytest

from agent.logfmt import KeyValueFormatter, SiteFilter, setup_logging


def test_line_has_level_message_site_and_extras() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(SiteFilter("hq-main"))
    logger = logging.getLogger("test.logfmt")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("cam-01: unreachable", extra={"device": "cam-01", "status": "x y"})
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().strip()
    assert line.startswith("ts=")
    assert line.split(" ", 1)[0].endswith("Z")
    assert 'level=warning logger=test.logfmt msg="cam-01: unreachable"' in line
    assert "device=cam-01" in line
    assert 'status="x y"' in line
    assert "site=hq-main" in line


@pytest.mark.parametrize(
    ("env", "root_level", "httpx_level"),
    [
        ("debug", logging.DEBUG, logging.DEBUG),
        ("", logging.INFO, logging.WARNING),
    ],
)
def test_level_comes_from_environment_and_httpx_is_quiet_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, env: str, root_level: int, httpx_level: int
) -> None:
    monkeypatch.setenv("SECMON_LOG_LEVEL", env)
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    before = root.level, httpx_logger.level
    handler = setup_logging("s")
    try:
        assert (root.level, httpx_logger.level) == (root_level, httpx_level)
    finally:
        root.removeHandler(handler)
        root.setLevel(before[0])
        httpx_logger.setLevel(before[1])
