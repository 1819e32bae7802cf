"""The vendor families whose real faults went unseen, end to end: our fixtures written from
their MIBs served by snmpsim, a real `secmon agent run` and `secmon server run` on SQLite. An
APC EMS door contact in alarm, an Eaton UPS card's contact abnormal and a Moxa switch's lost
second power input each open their ticket."""

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine

from peers.server import ServerProcess, provision
from peers.site import AgentProcess, wait_for, write_agent_yaml
from simulate.peers.snmp import Snmpsim
from tests.e2e.test_snmp_coverage import check, snmp_device, snmpset, snmpsim, tickets

__all__ = ["snmpsim"]  # the fixture, used by name

MOXA_PWR2 = "1.3.6.1.4.1.8691.7.7.1.10.2.0"  # power2InputStatus


def test_vendor_contacts_and_a_lost_power_input_open_their_tickets(
    sqlite_url: str,
    server_factory: Callable[..., ServerProcess],
    snmpsim: Snmpsim,
    tmp_path: Path,
) -> None:
    server = server_factory(sqlite_url)
    tenant = provision(sqlite_url)
    port = snmpsim.port
    fixtures = ("sensor-apc-ems", "ups-eaton", "switch-moxa")
    config = write_agent_yaml(
        tmp_path / "agent",
        server_url=server.base_url,
        token=tenant.token,
        batch_max_age=1,
        devices=[
            snmp_device("emu-1", "sensor", "alarm", "sensor-apc-ems", port),
            snmp_device("ups-1", "ups", "power", "ups-eaton", port),
            snmp_device("eds-1", "switch", "network", "switch-moxa", port),
        ],
        secrets={f"community-{name}": name for name in fixtures},
    )
    engine = create_engine(sqlite_url)
    agent = AgentProcess(config).start()
    try:
        # EMS: "Equipment Room Door", normally closed, is open from the start
        wait_for(
            "the EMS door contact's ticket",
            lambda: "env.contact_abnormal" in tickets(engine).get("emu-1", set()),
            timeout=60,
        )
        # Eaton card: "Battery Cabinet Door", normally closed, reported openWithNotice
        wait_for(
            "the UPS card's contact ticket",
            lambda: "env.contact_abnormal" in tickets(engine).get("ups-1", set()),
            timeout=60,
        )
        wait_for(
            "the switch's first poll",
            lambda: check(engine, "eds-1", "power_input.pwr2.ok") is True,
        )
        assert "power.input_lost" not in tickets(engine).get("eds-1", set())
        snmpset(port, "switch-moxa", MOXA_PWR2, 0)  # not-present: PWR2 lost
        wait_for(
            "the lost power input's ticket",
            lambda: "power.input_lost" in tickets(engine).get("eds-1", set()),
            timeout=60,
        )
        assert "power.input_lost" not in tickets(engine).get("ups-1", set())
    finally:
        agent.stop()
        engine.dispose()
