"""The client's status page: uptime rollups, plain-words state, share links (DESIGN.md §3-§4)."""
