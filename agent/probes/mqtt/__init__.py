"""MQTT devices: one shared broker connection per broker (`link`), payload mapping as data
(`mapping` + `templates/`), and the pure per-device state and liveness rules (`view`)."""
