"""onvif-zeep-async, imported without its side effect on logging.

Version 4.3 calls `logging.basicConfig(level=logging.INFO)` when `onvif.client` is imported: in
a process without logging set up yet (`secmon agent check`) that would print every INFO record
of every library (one line per HTTP request) to stderr. The root logger is put back as it was.
"""

import logging

_root = logging.getLogger()
_handlers, _level = list(_root.handlers), _root.level
try:
    from onvif.client import ONVIFCamera, UsernameDigestTokenDtDiff
    from onvif.definition import SERVICES
    from onvif.exceptions import ONVIFError
finally:
    for _handler in [h for h in _root.handlers if h not in _handlers]:
        _root.removeHandler(_handler)
    _root.setLevel(_level)

__all__ = ["SERVICES", "ONVIFCamera", "ONVIFError", "UsernameDigestTokenDtDiff"]
