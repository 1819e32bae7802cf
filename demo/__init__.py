"""`secmon demo`: a server, local simulated devices and an agent in one command."""
