"""Probes: one module per protocol, all behind the `Probe` interface in `base`."""
