"""The fake ONVIF camera (simulate/peers/onvif.py, shared with the simulated site)."""

from simulate.peers.onvif import FakeOnvifCamera as FakeOnvifCamera
from simulate.peers.onvif import Recording as Recording
from simulate.peers.onvif import main
from simulate.peers.onvif import probe_match as probe_match

if __name__ == "__main__":
    main()
