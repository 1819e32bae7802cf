"""A real Mosquitto for tests and benchmarks (simulate/peers/mosquitto.py, shared with the
simulated site)."""

from simulate.peers.mosquitto import MOSQUITTO as MOSQUITTO
from simulate.peers.mosquitto import BrokerTls as BrokerTls
from simulate.peers.mosquitto import MosquittoServer as MosquittoServer
from simulate.peers.mosquitto import Pki as Pki
from simulate.peers.mosquitto import make_pki as make_pki
from simulate.peers.mosquitto import start_device as start_device
