"""Link tokens never reach the access log: uvicorn's access record, as it formats it, comes
out with the token cut from the path."""

import logging

from server.access_log import REDACTED, TokenRedactor, install


def _access_record(path: str) -> logging.LogRecord:
    # uvicorn.protocols.http: logger.info('%s - "%s %s HTTP/%s" %d', client, method, path, ...)
    return logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip


def test_tokens_in_client_link_paths_are_redacted() -> None:
    for path, kept in [
        ("/sign/sgn_SECRETabc-123?lang=zh-CN", "/sign/"),
        ("/survey/sms_SECRETxyz", "/survey/"),
        ("/status/SECRETstatuslink", "/status/"),
        ("/api/v1/surveys/sms_SECRETjson", "/api/v1/surveys/"),
        ("/console/sign/sis_SECRETinspection", "/console/sign/"),
        ("/api/v1/inspection-links/sis_SECRETjson", "/api/v1/inspection-links/"),
    ]:
        record = _access_record(path)
        assert TokenRedactor().filter(record)
        line = record.getMessage()
        assert "SECRET" not in line
        assert f"{kept}{REDACTED}" in line
    plain = _access_record("/api/v1/tickets/7")
    TokenRedactor().filter(plain)
    assert "/api/v1/tickets/7" in plain.getMessage()


def test_install_attaches_one_filter() -> None:
    logger = logging.getLogger("test.access")
    install("test.access")
    install("test.access")
    assert sum(isinstance(f, TokenRedactor) for f in logger.filters) == 1
