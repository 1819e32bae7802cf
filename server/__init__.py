"""The central server: API, storage, and the domain packages (tickets, status, …)."""
