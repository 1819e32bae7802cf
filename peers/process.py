"""Stopping a peer's subprocess: politely first, then for sure."""

import subprocess
from typing import Any


def terminate(proc: subprocess.Popen[Any], *, grace: float) -> None:
    """SIGTERM, `grace` seconds to exit, then SIGKILL (and 5 s to be reaped)."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
