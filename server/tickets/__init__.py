"""Tickets: the flow (`states`, `service`), the repair record, sign-off and survey (`repair`),
KPIs (`kpis`, `kpi_query`), a client's service settings (`policy`) and notifications
(`notify_link`)."""
