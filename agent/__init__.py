"""The site agent: polls devices, keeps every result in a durable outbox, pushes it on."""

AGENT_VERSION = "0.1.0"
