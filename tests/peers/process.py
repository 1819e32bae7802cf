"""Stopping a peer's subprocess (simulate/peers/process.py)."""

from simulate.peers.process import terminate as terminate
