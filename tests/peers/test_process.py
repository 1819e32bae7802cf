"""Peers stop with SIGTERM, and with SIGKILL when they ignore it past the grace period."""

import signal
import subprocess
import sys

from simulate.peers.process import terminate

# A child that says it is ready, then sleeps; with "ignore" it shrugs off SIGTERM.
CHILD = (
    "import signal, sys, time\n"
    "if sys.argv[1] == 'ignore': signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _start(mode: str) -> "subprocess.Popen[str]":
    """The child, once it is running (the caller's `with` closes its pipe)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_a_peer_that_obeys_sigterm_exits_by_it() -> None:
    with _start("obey") as proc:
        terminate(proc, grace=10)
    assert proc.returncode == -signal.SIGTERM


def test_a_peer_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    with _start("ignore") as proc:
        terminate(proc, grace=0.5)
    assert proc.returncode == -signal.SIGKILL
