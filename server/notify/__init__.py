"""Notifications: escalation decisions (pure), a durable queue, and an Apprise delivery worker.

Kept import-light: `server.models` imports `server.notify.models` so the table is in the metadata.
See `hooks.on_ticket_event` for the entry point the ticket layer calls, and `config` for the
chains, teams and rotas file.
"""
