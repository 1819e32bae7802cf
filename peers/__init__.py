"""Test sites and processes on 127.0.0.1 (PostgreSQL, the server and agent as subprocesses, the
e2e site, rendered camera pictures), shared by the tests and the benchmarks; the protocol peers
themselves (snmpsim/snmpd, Mosquitto, ipycam, the ONVIF fake) are in `simulate/peers/`, which
the demo runs too. Not shipped: the wheel packages only the product."""
