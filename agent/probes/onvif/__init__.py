"""ONVIF cameras: identity, clock, stream, picture health and events."""
