"""Fault detection: rules as data (`rules`, `defaults`), episodes (`episodes`), multi-device
logic (`detection`) — all pure — and the database side (`engine`, `runner`)."""
