"""Protocol peers the simulated site runs (and the tests start): real engines on 127.0.0.1."""
