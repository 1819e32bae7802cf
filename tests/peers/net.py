"""Loopback ports for test peers (they live in simulate/peers, which the demo uses too)."""

from simulate.peers.net import free_port as free_port
from simulate.peers.net import wait_for_port as wait_for_port
