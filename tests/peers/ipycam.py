"""ipycam, a real third-party virtual ONVIF camera, on 127.0.0.1 (simulate/peers/ipycam.py,
shared with the simulated site)."""

from simulate.peers.ipycam import HEIGHT as HEIGHT
from simulate.peers.ipycam import PASSWORD as PASSWORD
from simulate.peers.ipycam import USERNAME as USERNAME
from simulate.peers.ipycam import WIDTH as WIDTH
from simulate.peers.ipycam import IpyCam as IpyCam
from simulate.peers.ipycam import make_test_video as make_test_video
from simulate.peers.ipycam import missing_ipycam as missing_ipycam
