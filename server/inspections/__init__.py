"""The monthly inspection (seed §4.2): checklist templates, generation per site and cycle,
pre-fill from telemetry, technician completion, sign-off with a SHA-256 seal."""
