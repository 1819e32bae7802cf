"""Real SNMP agents for tests: snmpd and snmpsim (simulate/peers/snmp.py, shared with the
simulated site)."""

from simulate.peers.snmp import SNMPGET as SNMPGET
from simulate.peers.snmp import V2C_COMMUNITY as V2C_COMMUNITY
from simulate.peers.snmp import V3_AUTH_KEY as V3_AUTH_KEY
from simulate.peers.snmp import V3_AUTHONLY_USER as V3_AUTHONLY_USER
from simulate.peers.snmp import V3_PRIV_KEY as V3_PRIV_KEY
from simulate.peers.snmp import V3_SHA2_USER as V3_SHA2_USER
from simulate.peers.snmp import V3_USER as V3_USER
from simulate.peers.snmp import Snmpd as Snmpd
from simulate.peers.snmp import Snmpsim as Snmpsim
from simulate.peers.snmp import free_udp_port as free_udp_port
from simulate.peers.snmp import missing_snmpd as missing_snmpd
from simulate.peers.snmp import missing_snmpsim as missing_snmpsim
