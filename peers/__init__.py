"""Real protocol peers and test sites on 127.0.0.1 (PostgreSQL, the server and agent as
subprocesses, Mosquitto, snmpd/snmpsim, ipycam, rendered camera pictures), shared by the tests
and the benchmarks. Not shipped: the wheel packages only the product."""
