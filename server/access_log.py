"""Keeps link tokens out of the access log: the client's status, sign-off and survey links
carry their credential in the path, and a log line must not hand it to whoever reads logs."""

import logging
import re

# /status/<token>, /sign/<token> (also /console/sign/<token>, the inspection's client signature),
# /survey/<token>, /api/v1/surveys/<token>, /api/v1/inspection-links/<token>
_TOKEN_PATH = re.compile(
    r"(/(?:status|sign|survey|api/v1/surveys|api/v1/inspection-links)/)[^/?#\s\"]+"
)
REDACTED = "[redacted]"
ACCESS_LOGGER = "uvicorn.access"


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(lambda m: m.group(1) + REDACTED, text)


class TokenRedactor(logging.Filter):
    """Rewrites uvicorn's access-log record (its path is one of `args`) before it is output."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install(logger_name: str = ACCESS_LOGGER) -> None:
    """Attach the redactor once (create_app may run more than once in a process)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, TokenRedactor) for f in logger.filters):
        logger.addFilter(TokenRedactor())
