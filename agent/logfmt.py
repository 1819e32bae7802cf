"""Agent logs on stderr as `key=value` lines, with site and device ids, easy to grep and parse."""

import logging
import os
import sys
import time

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _quote(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n\t'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class KeyValueFormatter(logging.Formatter):
    """`ts=… level=… logger=… msg="…" site=… device=…`; extras passed to the logger become keys."""

    def format(self, record: logging.LogRecord) -> str:
        second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        ts = f"{second}.{int(record.msecs):03d}Z"
        parts = [
            f"ts={ts}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        parts += [f"{k}={_quote(v)}" for k, v in record.__dict__.items() if k not in _STANDARD]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class SiteFilter(logging.Filter):
    """Stamps every record with the site id, so lines from many agents can be told apart."""

    def __init__(self, site: str) -> None:
        super().__init__()
        self.site = site

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "site"):
            record.site = self.site
        return True


def setup_logging(site: str, *, level: str | None = None) -> logging.Handler:
    """Log to stderr at SECMON_LOG_LEVEL (default INFO); returns the handler to remove later."""
    name = (level or os.environ.get("SECMON_LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(SiteFilter(site))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.getLevelName(name) if name in logging.getLevelNamesMapping() else "INFO")
    # httpx logs every request at INFO; the pusher already logs what matters (once per change).
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(
            logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
        )
    return handler
